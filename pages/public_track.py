"""办理进度查询: follow a submission by its tracking code, and rate the reply once."""

import pandas as pd
import streamlit as st

from lib import submissions, ui
from lib.lights import fmt_time

ui.public("track")
st.title("办理进度查询")

default = st.query_params.get("code", "") or st.session_state.get("submitted_code", "")
code = st.text_input("查询码", value=default, max_chars=16, placeholder="QF 开头，共 12 位")
if not code.strip():
    st.info("请输入提交诉求时获得的查询码。")
    st.stop()
try:
    with ui.read() as s:
        view = submissions.track(s, code)
except submissions.SubmissionError as exc:
    st.error(str(exc))
    st.stop()

st.subheader(f"{view.kind}：{ui.esc(view.subject)}")
c1, c2, c3 = st.columns(3)
c1.metric("办理状态", view.status)
c2.metric("承办单位", view.unit)
c3.metric("答复期限", fmt_time(view.deadline))
st.caption(f"查询码 {view.code} · 提交时间 {fmt_time(view.created_at)}")

if view.reply:
    st.markdown("**答复内容**")
    ui.plain(view.reply)
    st.caption(f"答复时间：{fmt_time(view.replied_at)}")
st.markdown("**办理过程**")
st.dataframe(pd.DataFrame([{"时间": fmt_time(at), "环节": what} for at, what, _ in view.history]),
             hide_index=True, width="stretch")

if view.rating is not None:
    st.info(f"您已评价：{view.rating} 分。感谢您的监督。")
elif view.can_rate:
    st.markdown("**请对答复进行评价**")
    with st.form("rate"):
        rating = st.radio("满意度", [5, 4, 3, 2, 1], horizontal=True,
                          format_func={5: "5 非常满意", 4: "4 满意", 3: "3 基本满意", 2: "2 不满意",
                                       1: "1 非常不满意"}.get)
        comment = st.text_area("评价意见（选填）", max_chars=submissions.MAX_NOTE)
        pin = (st.text_input("评价码（提交时与查询码一同给出，共 8 位）", max_chars=16,
                             type="password", key="rate_pin") if view.needs_pin else None)
        if st.form_submit_button("提交评价", type="primary"):
            try:
                ui.write(lambda s: submissions.rate(s, view.code, int(rating), comment, pin=pin))
            except submissions.SubmissionError as exc:
                st.error(f"未评价：{exc}")
            else:
                ui.clear_data_caches()
                st.success("评价已提交，纳入该单位的考核。" + ("不满意的答复将由纪检监察机关核查，必要时发回重办。"
                                                   if rating <= 2 else ""))
                st.rerun()
else:
    st.caption("答复经审核后即可评价。")
