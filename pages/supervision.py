"""督办中心 (inspectors): the notice queue by age and level, bulk issue, printable notices,
verification of rectifications, appeals, accountability records, and a sweep on demand.
The provincial reviewer sees all of it read-only: no form, no button that writes."""

import pandas as pd
import streamlit as st

from lib import appeals, notices, ui
from lib.access import PermissionDenied, actor_for, can
from lib.clock import now_utc
from lib.lights import fmt_duration, fmt_time

user = ui.require("supervision")
cat = ui.catalog_frames(ui.url())
units = dict(zip(cat["units"]["unit_id"], cat["units"]["unit"], strict=True))
acts = can(user, "dispatch_submissions")  # the reviewer reads only

st.title("督办中心")
st.caption("系统每分钟扫描一次：逾期未办结的事项自动发出督办通知（每个事项每次逾期只发一次）；"
           "到期未签收的逐级提级：单位主要负责人 → 纪检监察机关。")
if notice := st.session_state.pop("supervision_notice", None):
    st.success(notice)

now = now_utc()
c1, c2 = st.columns([3, 1])
status_names = {"open": "未办结", **notices.STATUS}
chosen = c1.multiselect("状态", list(notices.STATUS), default=["issued", "acknowledged", "rectified",
                                                              "returned"],
                        format_func=notices.STATUS.get, placeholder="全部状态")
if not acts:
    c2.caption("只读：检查演示账号不能发出、核查或审理。")
elif c2.button("立即扫描"):
    result = ui.write(notices.sweep)
    ui.clear_data_caches()
    st.session_state["supervision_notice"] = f"扫描完成：新发 {result.issued} 份，提级 {result.escalated} 份"
    st.rerun()

with ui.read() as s:
    rows = [(n.id, n.issued_at, n.unit_id, n.level, n.status, n.reply_due, n.matter)
            for n in notices.listing(s, user, statuses=tuple(chosen) or None, limit=None)]
if not rows:
    st.info("没有符合条件的督办通知。可在上方“状态”中加选其他状态（如已核查办结）。")
else:
    st.markdown(f"共 **{len(rows):,}** 份（级别高的在前，同级别中发出早的在前）")
    frame = pd.DataFrame([{
        "文号": notices.number(i, at), "责任单位": units.get(u, ""), "级别": notices.LEVELS[lvl],
        "状态": notices.STATUS[status], "已发出": fmt_duration(int((now - at).total_seconds())),
        "回复期限": fmt_time(due), "超期未复": "是" if status == "issued" and due < now else "",
        "督办事项": matter,
    } for i, at, u, lvl, status, due, matter in rows])
    ui.table(frame, "督办通知", key="sup_notices")
    by_id = {r[0]: r for r in rows}
    nid = st.selectbox("选择督办通知", list(by_id),
                       format_func=lambda i: f"{notices.number(i, by_id[i][1])} · {units.get(by_id[i][2], '')}")
    with ui.read() as s:
        html_doc = notices.printable_html(s, user, nid)
        preview_doc = notices.printable_html(s, user, nid, preview=True)
        steps = [(e.at, e.action, e.level, e.actor, e.note) for e in notices.events(s, user, nid)]
        rect = s.get(notices.Notice, nid).rectification
    st.download_button("下载打印版督办通知书（HTML，可直接打印或另存为 PDF）", html_doc.encode("utf-8"),
                       file_name=f"督办通知书_{nid:05d}.html", mime="text/html")
    with st.expander("预览督办通知书"):
        st.html(preview_doc)
    ui.table(pd.DataFrame([{"时间": fmt_time(a), "环节": notices.ACTIONS.get(act, act),
                            "级别": notices.LEVELS.get(lvl, lvl),
                                "操作人": actor_for(user, who), "说明": note or ""}
                               for a, act, lvl, who, note in steps]), "督办过程", key="sup_steps")
    if by_id[nid][4] == "rectified" and not acts:
        st.markdown("**整改报告**（待核查）")
        ui.plain(rect)
    elif by_id[nid][4] == "rectified":
        st.markdown("**整改报告**")
        ui.plain(rect)
        with st.form("verify"):
            note = st.text_area("核查意见（退回时必填）", max_chars=500)
            a, b = st.columns(2)
            passed = a.form_submit_button("核查通过，办结", type="primary")
            returned = b.form_submit_button("退回重新整改")
            if passed or returned:
                try:
                    ui.write(lambda s: notices.verify(s, user, nid, passed, note))
                except (notices.NoticeError, PermissionDenied) as exc:
                    st.error(f"未完成：{exc}")
                else:
                    st.session_state["supervision_notice"] = "已办结" if passed else "已退回重新整改"
                    st.rerun()

st.subheader("人工督办")
with ui.read() as s:
    candidates = [(item.id, item.external_id, item.title, item.unit_id, item.deadline)
                  for item, _ in notices.overdue_without_notice(s, now, limit=200)]
if not candidates:
    st.caption("所有逾期未办结的事项均已发出督办通知。")
elif not acts:
    st.caption(f"逾期未督办的事项 {len(candidates)} 件（系统下次扫描时自动督办）。")
else:
    with st.form("bulk_issue"):
        picked = st.multiselect(
            "选择逾期未督办的事项（可多选）", [c[0] for c in candidates],
            format_func=lambda i: next(f"{c[1]} · {units.get(c[3], '')} · 期限 {fmt_time(c[4])}"
                                       for c in candidates if c[0] == i),
            placeholder="请选择事项")
        requirements = st.text_area("督办要求（留空用标准要求）", max_chars=1000)
        assisting = st.multiselect("协办单位（选填，可输入名称搜索）", list(units), format_func=units.get,
                                   placeholder="请选择协办单位")
        if st.form_submit_button("发出督办通知", type="primary"):
            try:
                n = ui.write(lambda s: notices.issue_manual(
                    s, user, [int(i) for i in picked], requirements=requirements,
                    assisting="、".join(units[u] for u in assisting)))
            except (notices.NoticeError, PermissionDenied) as exc:
                st.error(f"未发出：{exc}")
            else:
                st.session_state["supervision_notice"] = f"已发出 {n} 份督办通知"
                st.rerun()

st.subheader("申诉审理")
with ui.read() as s:
    pending = [(a.id, ext, title, a.unit_id, a.reason, a.evidence, a.filed_at)
               for a, ext, title in appeals.listing(s, user, ("pending",))]
if not pending:
    st.caption("没有待审理的申诉。")
elif not acts:
    ui.table(pd.DataFrame([{"事项": ext, "事项名称": title or "", "单位": units.get(unit_id, ""),
                                "提出时间": fmt_time(filed), "申诉理由": reason}
                               for _, ext, title, unit_id, reason, _, filed in pending]), "待审申诉", key="sup_appeals")
for aid, ext, title, unit_id, reason, evidence, filed in (pending if acts else []):
    with st.form(f"appeal_{aid}"):
        st.markdown(f"**{ext}**《{ui.esc(title or '')}》· {units.get(unit_id, '')} · {fmt_time(filed)}")
        ui.plain(reason)
        if evidence:
            st.caption("证据材料：")
            ui.plain(evidence)
        note = st.text_input("审理意见", max_chars=1000, key=f"appeal_note_{aid}")
        a, b = st.columns(2)
        cancel = a.form_submit_button("撤销红牌")
        uphold = b.form_submit_button("维持红牌")
        if cancel or uphold:
            try:
                ui.write(lambda s, a=aid, c=cancel, n=note: appeals.decide(s, user, a, c, n))
            except (appeals.AppealError, PermissionDenied) as exc:
                st.error(f"未审理：{exc}")
            else:
                ui.clear_data_caches()
                st.session_state["supervision_notice"] = f"{ext}：{'已撤销红牌' if cancel else '维持红牌'}"
                st.rerun()

st.subheader("通报批评与问责")
with ui.read() as s:
    records = appeals.accountability_rows(s, user)
ui.table(pd.DataFrame(records), "问责记录", key="sup_records")
if not acts:
    st.stop()

st.markdown("**记录通报批评或问责**")
# The unit first: its cadres and its notices are what the form offers to choose from.
unit_id = st.selectbox("单位（可输入名称搜索）", list(units), format_func=units.get, key="acc_unit")
with ui.read() as s:
    people = [p for p in appeals.people_of_units(s, user) if p[2] == unit_id]
    unit_notices = [(n.id, n.issued_at, n.status, n.matter)
                    for n in notices.listing(s, user, unit_id=unit_id, limit=None)]
notice_labels = {n[0]: f"{notices.number(n[0], n[1])} · {notices.STATUS[n[2]]} · {n[3][:40]}"
                 for n in unit_notices}
person_labels = {p[0]: f"{p[1]}（{p[3]}）" for p in people}
with st.form("accountability"):
    kind = st.radio("类别", ["criticism", "accountability"], horizontal=True,
                    format_func={"criticism": "通报批评（单位）", "accountability": "问责（干部）"}.get)
    person = st.selectbox("干部（问责时必选，该单位处级、科级干部）", [0, *person_labels],
                          key="acc_person",
                          format_func=lambda i: person_labels.get(i, "—（通报批评不选）"))
    measure = st.selectbox("处理措施", appeals.MEASURES)
    notice_ref = st.selectbox("关联督办通知（选填，可输入文号搜索）", [0, *notice_labels],
                              key="acc_notice", format_func=lambda i: notice_labels.get(i, "无"))
    reason = st.text_area("事由", max_chars=1000)
    if st.form_submit_button("记录", type="primary"):
        try:
            ui.write(lambda s: appeals.record_accountability(
                s, user, kind=kind, unit_id=int(unit_id), person_id=person or None, item_id=None,
                notice_id=notice_ref or None, measure=measure, reason=reason))
        except (appeals.AppealError, PermissionDenied) as exc:
            st.error(f"未记录：{exc}")
        else:
            ui.clear_data_caches()
            st.session_state["supervision_notice"] = "已记录"
            st.rerun()
