"""本单位工单: a unit's submissions from the public — acknowledge, answer, hand on, return, extend."""

import pandas as pd
import streamlit as st

from lib import submissions as subs
from lib import ui
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.lights import badge, fmt_time

user = ui.require("inbox")
cat = ui.catalog_frames(ui.url())
unit_names = dict(zip(cat["units"]["unit_id"], cat["units"]["unit"], strict=True))

st.title("本单位工单")
st.caption(f"{user.unit_name} · 群众诉求须先签收（默认 1 个工作日内），再在答复期限内答复；"
           "逾期未答复亮红牌，超期答复记为超期。")
show_done = st.toggle("显示已答复、已办结的工单")

now = now_utc()
page, per = ui.page_size("inbox")
with ui.read() as s:
    result = subs.inbox(s, user, as_of=now, include_done=show_done, page=page, per_page=per)
    rows = subs.rows_with_lights(s, result.rows, now)
# The confirmation of the last action first: answering the last open order empties the list.
if notice := st.session_state.pop("inbox_notice", None):
    st.success(notice)
if not rows:
    st.info("本单位目前没有待办工单。新的群众诉求派单后会出现在这里。"
            + ("" if show_done else "已答复、已办结的工单可打开上方开关查看。"))
    st.stop()

ui.tally(result)
st.caption("排列：逾期未答复的在前（逾期最久的在前），其次临近期限的（剩余时间最少的在前），再次其他在办工单，已办结的在最后。")
ui.table(pd.DataFrame([{
    "灯色": badge(r["light"]), "查询码": r["code"], "类别": r["kind"], "标题": r["subject"],
    "状态": subs.STATUS[r["status"]], "签收期限": fmt_time(r["ack_deadline"]),
    "答复期限": fmt_time(r["deadline"]), "重办": r["rework"], "原因": r["reason"],
} for r in rows]), "本单位工单", key="inbox_tbl")
ui.pager("inbox", result)

by_id = {r["id"]: r for r in rows}
picked = st.selectbox("选择工单（可输入查询码搜索）", list(by_id), key="inbox_pick",
                      format_func=lambda i: f"{by_id[i]['code']} · {by_id[i]['subject']}")
r = by_id[picked]
st.subheader(f"{r['kind']}：{ui.esc(r['subject'])}")
st.markdown(f"**{badge(r['light'])}** {ui.esc(r['reason'])}")
ui.plain(r["body"])
st.caption(f"提交时间 {fmt_time(r['created'])} · 状态：{subs.STATUS[r['status']]}"
           + (f" · 已转办 {r['handoffs']} 次" if r["handoffs"] else ""))
if r["handoffs"] >= 3 or r["rework"] >= 3:
    st.warning("问题工单：转办或重办已达 3 次，已提请纪检监察机关督办。")


def act(fn, *args, ok: str) -> None:
    try:
        ui.write(lambda s: fn(s, user, r["id"], *args, version=r["version"]))
    except (subs.SubmissionError, PermissionDenied) as exc:
        st.error(f"未完成：{exc}")
    else:
        ui.clear_data_caches()
        st.session_state["inbox_notice"] = ok
        st.rerun()


if r["status"] == "dispatched":
    if st.button("签收", type="primary"):
        act(subs.acknowledge, ok=f"已签收 {r['code']}")
if r["status"] in ("acknowledged", "rework"):
    with st.form("reply"):
        text = st.text_area("答复内容", max_chars=subs.MAX_REPLY, height=160,
                            placeholder="办理结果、依据、联系人……（答复经纪检监察机关审核后向群众公开）")
        if st.form_submit_button("提交答复", type="primary"):
            act(subs.reply, text, ok=f"已答复 {r['code']}，待审核")
if r["status"] in ("dispatched", "acknowledged"):
    c1, c2 = st.columns(2)
    with c1, st.form("hand_on"):
        st.markdown("**转办**（交由职责单位办理，期限不变）")
        others = [u for u in unit_names if u != user.unit_id]
        to_unit = st.selectbox("转至单位", others, format_func=unit_names.get)
        reason = st.text_input("转办理由", max_chars=subs.MAX_NOTE)
        if st.form_submit_button("转办"):
            act(subs.hand_on, int(to_unit), reason, ok=f"已转办 {r['code']}")
    with c2, st.form("return"):
        st.markdown("**退单**（非本单位职责，退回纪检监察机关重新分派）")
        reason = st.text_area("退单理由及依据", max_chars=subs.MAX_NOTE, height=90)
        if st.form_submit_button("退单"):
            act(subs.return_order, reason, ok=f"已退单 {r['code']}")
if r["status"] in ("dispatched", "acknowledged", "rework"):
    with st.form("extension"):
        st.markdown("**申请延期**（须在答复期限前提出，由纪检监察机关审批）")
        c1, c2 = st.columns([1, 3])
        days = c1.number_input("延期天数", min_value=1, max_value=20, value=5, step=1)
        reason = c2.text_input("延期理由", max_chars=subs.MAX_NOTE)
        if st.form_submit_button("提交延期申请"):
            try:
                ui.write(lambda s: subs.request_extension(s, user, r["id"], int(days), reason,
                                                          version=r["version"]))
            except (subs.SubmissionError, PermissionDenied) as exc:
                st.error(f"未提交：{exc}")
            else:
                st.session_state["inbox_notice"] = "延期申请已提交，待审批"
                st.rerun()
if r["reply"]:
    st.markdown("**本单位的答复**")
    ui.plain(r["reply"])
