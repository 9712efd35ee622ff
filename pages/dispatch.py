"""诉求分派与审核 (inspectors): dispatch the queue, review replies, decide extensions, send
unsatisfied answers back for rework, publish answers, and keep the routing rules. The provincial
reviewer sees the queues read-only, without the public's own words or who they are."""

import pandas as pd
import streamlit as st

from lib import submissions as subs
from lib import ui
from lib.access import PermissionDenied, can
from lib.clock import now_utc
from lib.lights import RED, badge, fmt_duration, fmt_time
from lib.workdays import parse_limit

user = ui.require("dispatch")
acts = can(user, "dispatch_submissions")  # the reviewer reads only
words = can(user, "view_staff_names")  # the public's own words may name people
cat = ui.catalog_frames(ui.url())
units = cat["units"][cat["units"]["unit_code"] != "ZJ.JW"]
unit_names = dict(zip(units["unit_id"], units["unit"], strict=True))
all_units = dict(zip(cat["units"]["unit_id"], cat["units"]["unit"], strict=True))

st.title("诉求分派与审核")
if notice := st.session_state.pop("dispatch_notice", None):
    st.success(notice)


def done(message: str) -> None:
    ui.clear_data_caches()
    st.session_state["dispatch_notice"] = message
    st.rerun()


def run(fn, *args, ok: str, **kwargs) -> None:
    try:
        ui.write(lambda s: fn(s, user, *args, **kwargs))
    except (subs.SubmissionError, PermissionDenied) as exc:
        st.error(f"未完成：{exc}")
    else:
        done(ok)


def table(rows: list[dict], name: str, key: str, waiting: bool = False) -> None:
    """The orders; `waiting` (answers waiting for review, `subs.with_review_clock`): first the
    review's own light and limit, then the unit's answer against its limit, when it was
    answered and how long it has waited."""
    ui.table(pd.DataFrame([{
        **({"审核灯色": badge(r["review_light"]), "审核期限": fmt_time(r["review_deadline"])}
           if waiting else {}),
        ("答复灯色" if waiting else "灯色"): badge(r["light"]), "查询码": r["code"],
        "类别": r["kind"], "标题": r["subject"],
        "承办单位": all_units.get(r["unit_id"], ""), "状态": subs.STATUS[r["status"]],
        "答复期限": fmt_time(r["deadline"]),
        **({"答复时间": fmt_time(r["replied_at"]),
            "已等待审核": fmt_duration((now - r["replied_at"]).total_seconds())}
           if waiting else {}),
        "退单": r["returns"], "转办": r["handoffs"], "重办": r["rework"], "原因": r["reason"],
    } for r in rows]), name, key=key)


def pick(rows: list[dict], key: str) -> dict:
    by_id = {r["id"]: r for r in rows}
    chosen = st.selectbox("选择工单", list(by_id), key=key,
                          format_func=lambda i: f"{by_id[i]['code']} · {by_id[i]['subject']}")
    r = by_id[chosen]
    st.markdown(f"**{r['kind']}：{ui.esc(r['subject'])}** · {badge(r['light'])} {r['reason']}")
    if words:
        ui.plain(r["body"])
    else:
        st.caption("（群众反映的内容可能含个人信息，本角色不予显示）")
    return r


def read_only() -> bool:
    """True, with a note, for a role that may only look."""
    if not acts:
        st.caption("只读：检查演示账号不能分派、审核或审批。")
    return not acts


now = now_utc()
with ui.read() as s:
    queued = subs.rows_with_lights(s, subs.queue(s, user, ("queued",)), now)
    replied = subs.with_review_clock(
        s, subs.rows_with_lights(s, subs.queue(s, user, ("replied",)), now), now)
    unhappy = subs.rows_with_lights(s, subs.unsatisfied(s, user), now)
    extensions = [(e.id, e.submission_id, e.days, e.reason, e.requested_by, e.requested_at)
                  for e in subs.pending_extensions(s, user)]
    answered = subs.rows_with_lights(s, subs.queue(s, user, ("answered", "closed")), now)
    # The configured limit (系统设置), in words: "3个工作日".
    revision_limit = parse_limit(subs.get_setting(s, "revision_limit")).label()

tabs = st.tabs([f"待分派（{len(queued)}）", f"待审核答复（{len(replied)}）",
                f"延期申请（{len(extensions)}）", f"不满意（{len(unhappy)}）", "公开答复",
                "举报人信息", "派单规则"])

with tabs[0]:
    if not queued:
        st.info("没有待分派的诉求：派单规则未能分派或被退单的诉求会出现在这里。")
    else:
        table(queued, "待分派与审核", "dispatch_queued")
        r = pick(queued, "queued_pick")
        if not read_only():
            with st.form("dispatch"):
                unit = st.selectbox("派至单位（可输入名称搜索）", list(unit_names),
                                    format_func=unit_names.get)
                note = st.text_input("派单说明（选填）", max_chars=subs.MAX_NOTE)
                if st.form_submit_button("派单", type="primary"):
                    run(subs.dispatch, r["id"], int(unit), note, version=r["version"],
                        ok=f"已将 {r['code']} 派至{unit_names[unit]}")

with tabs[1]:
    if not replied:
        st.info("没有待审核的答复。")
    else:
        late = sum(r["review_light"] == RED for r in replied)
        st.caption(f"审核时限：答复后 {replied[0]['review_limit']}内审核（系统设置“群众诉求时限”），"
                   "临近期限亮黄灯、超过亮红灯，期限最近的在前；“答复灯色”为承办单位答复是否在其期限内。"
                   + (f"**{late} 件已超审核时限。**" if late else ""))
        table(replied, "待审核答复", "dispatch_replied", waiting=True)
        r = pick(replied, "replied_pick")
        st.markdown(f"**{all_units.get(r['unit_id'])}的答复**（{fmt_time(r['replied_at'])}）")
        ui.plain(r["reply"])
        if not read_only():
            with st.form("review"):
                note = st.text_area("审核意见（退回时必填）", max_chars=subs.MAX_NOTE)
                c1, c2 = st.columns(2)
                if c1.form_submit_button("审核通过，向群众公开答复", type="primary"):
                    run(subs.review, r["id"], True, note, version=r["version"],
                        ok=f"{r['code']} 审核通过")
                if c2.form_submit_button("退回重新答复"):
                    run(subs.review, r["id"], False, note, version=r["version"],
                        ok=f"{r['code']} 已退回，单位须在 {revision_limit} 内重新答复")

with tabs[2]:
    if not extensions:
        st.info("没有待审批的延期申请。")
    elif not read_only():
        for ext_id, sub_id, days, reason, by, at in extensions:
            with st.form(f"ext_{ext_id}"):
                st.markdown(f"工单 #{sub_id} · {by} 于 {fmt_time(at)} 申请延期 **{days}** 天")
                ui.plain(reason)
                note = st.text_input("审批意见", max_chars=subs.MAX_NOTE, key=f"ext_note_{ext_id}")
                c1, c2 = st.columns(2)
                if c1.form_submit_button("同意延期", type="primary"):
                    run(subs.decide_extension, ext_id, True, note, ok="已同意延期，期限已顺延")
                if c2.form_submit_button("不同意"):
                    run(subs.decide_extension, ext_id, False, note, ok="已不同意延期")
    else:
        ui.table(pd.DataFrame([{"工单": f"#{sub_id}", "申请延期（天）": days, "理由": reason,
                                    "申请时间": fmt_time(at)}
                                   for _, sub_id, days, reason, _, at in extensions]), "延期申请", key="dispatch_ext")

with tabs[3]:
    if not unhappy:
        st.info("没有不满意的评价。")
    else:
        table(unhappy, "不满意与重办", "dispatch_unhappy")
        r = pick(unhappy, "unhappy_pick")
        st.markdown(f"群众评价：**{r['rating']} 分**")
        if words:
            ui.plain(r["rating_comment"] or "（无评价意见）")
        if r["status"] in ("answered", "closed") and not read_only():
            with st.form("rework"):
                note = st.text_area("重办要求", max_chars=subs.MAX_NOTE)
                if st.form_submit_button("发回重办", type="primary"):
                    run(subs.send_back_for_rework, r["id"], note, version=r["version"],
                        ok=f"{r['code']} 已发回重办")

with tabs[4]:
    candidates = [r for r in answered if r["kind_code"] in ("consult", "suggest") and not r["published"]]
    if not candidates:
        st.info("没有可公开的咨询、建议答复。")
    else:
        r = pick(candidates, "publish_pick")
        if not read_only():
            with st.form("publish"):
                st.caption("公开前请删除姓名、电话、住址等个人信息。")
                question = st.text_area("公开的问题", value=r["body"], max_chars=subs.MAX_BODY)
                answer = st.text_area("公开的答复", value=r["reply"] or "", max_chars=subs.MAX_REPLY)
                if st.form_submit_button("公开", type="primary"):
                    run(subs.publish, r["id"], question, answer, version=r["version"],
                        ok=f"{r['code']} 的答复已公开")

with tabs[5]:
    st.caption("举报人姓名和联系方式加密保存。查看会记入审计日志（查看人、时间、工单）。")
    if not can(user, "view_reporter_identity"):
        st.info("只有纪检监察人员可以查看举报人身份；本角色不予显示。")
    else:
        with ui.read() as s:
            senders = subs.with_identity(s, user)
        if not senders:
            st.info("没有留下姓名或联系方式的诉求（匿名举报不保存身份）。")
        else:
            labels = {i: f"{code} · {kind} · {subject} · {fmt_time(at)}"
                      for i, code, kind, subject, at in senders}
            chosen = st.selectbox(f"选择诉求（共 {len(labels):,} 件留有身份，可输入查询码或标题搜索）",
                                  list(labels), format_func=labels.get, key="reveal_pick")
            if st.button("查看举报人信息"):
                try:
                    name, contact = ui.write(  # reading an identity is an audited write
                        lambda s: subs.reveal_identity(s, user, chosen))
                except (subs.SubmissionError, PermissionDenied) as exc:
                    st.error(str(exc))
                else:
                    st.markdown("**姓名**")
                    ui.plain(name)
                    st.markdown("**联系方式**")
                    ui.plain(contact)

with tabs[6]:
    with ui.read() as s:
        rules = subs.routing_rules(s, user)
    ui.table(pd.DataFrame([{
        "优先级": r.priority, "类别": subs.KINDS[r.kind][0] if r.kind else "全部",
        "关键词": r.keyword or "", "区县": r.region or "全部",
        "派至单位": all_units.get(r.unit_id, ""), "启用": "是" if r.active else "否",
    } for r in rules]), "派单规则", key="dispatch_rules")
    if not read_only():
        with st.form("new_rule"):
            st.markdown("**新增派单规则**（优先级数字小者先匹配）")
            c1, c2, c3 = st.columns(3)
            priority = c1.number_input("优先级", min_value=1, max_value=999, value=100)
            kind = c2.selectbox("类别", [""] + list(subs.KINDS),
                                format_func=lambda k: subs.KINDS[k][0] if k else "全部")
            keyword = c3.text_input("关键词（选填）", max_chars=40)
            counties = cat["counties"]
            regions = {0: "全部"} | dict(zip(counties["region_id"], counties["region"], strict=True))
            region = st.selectbox("区县", list(regions), format_func=regions.get)
            unit = st.selectbox("派至单位（可输入名称搜索）", list(unit_names),
                                format_func=unit_names.get, key="rule_unit")
            if st.form_submit_button("新增规则"):
                run(subs.add_rule, priority=int(priority), kind=kind or None, keyword=keyword,
                    region_id=int(region) or None, unit_id=int(unit), ok="已新增派单规则")
