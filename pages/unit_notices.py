"""督办通知 (staff): the unit's supervision notices — acknowledge, then report the rectification."""

import pandas as pd
import streamlit as st

from lib import notices, ui
from lib.access import PermissionDenied
from lib.lights import fmt_time

user = ui.require("unit_notices")
st.title("督办通知")
st.caption(f"{user.unit_name} · 收到督办通知后须在回复期限前签收并报告整改情况；逾期未签收的，"
           "系统将提级至单位主要负责人，直至移送纪检监察机关。")
if notice := st.session_state.pop("unit_notice_msg", None):
    st.success(notice)

with ui.session() as s:
    rows = [(n.id, n.issued_at, n.level, n.status, n.reply_due, n.matter, n.requirements)
            for n in notices.listing(s, user)]
if not rows:
    st.info("本单位没有督办通知。")
    st.stop()
st.dataframe(pd.DataFrame([{
    "文号": notices.number(i, at), "级别": notices.LEVELS[lvl], "状态": notices.STATUS[status],
    "回复期限": fmt_time(due), "督办事项": matter,
} for i, at, lvl, status, due, matter, _ in rows]), hide_index=True, width="stretch")
by_id = {r[0]: r for r in rows}
nid = st.selectbox("选择督办通知", list(by_id),
                   format_func=lambda i: notices.number(i, by_id[i][1]))
_, at, level, status, due, matter, requirements = by_id[nid]
st.markdown(f"**{notices.number(nid, at)}** · {notices.LEVELS[level]} · {notices.STATUS[status]}")
st.markdown(f"**督办事项：** {ui.esc(matter)}  \n**办理要求：** {ui.esc(requirements)}  \n"
            f"**回复期限：** {fmt_time(due)} 前")


def step(fn, *args, ok):
    try:
        with ui.session() as s:
            fn(s, user, nid, *args)
    except (notices.NoticeError, PermissionDenied) as exc:
        st.error(f"未完成：{exc}")
    else:
        st.session_state["unit_notice_msg"] = ok
        st.rerun()


if status == "issued" and st.button("签收", type="primary"):
    step(notices.acknowledge, "", ok="已签收，请按要求整改并报告")
if status in ("acknowledged", "returned"):
    with st.form("report"):
        text = st.text_area("整改报告", max_chars=2000, height=160,
                            placeholder="逾期原因、整改措施、整改结果")
        if st.form_submit_button("提交整改报告", type="primary"):
            step(notices.report, text, ok="整改报告已提交，待纪检监察机关核查")
