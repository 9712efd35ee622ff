"""信息公开申请: anyone requests government information (依申请公开) from a unit and follows it
by a tracking code; an unclear request is corrected here, once, when the unit asks."""

import pandas as pd
import streamlit as st

from lib import ui
from lib.domains.disclosure import service as ds
from lib.lights import fmt_time

ui.public("govinfo")
st.title("政府信息公开申请")
st.caption("行政机关收到申请之日起 20 个工作日内答复；需要延长的，经信息公开工作机构负责人同意，延长不超过 "
           "20 个工作日并告知您；征求第三方或其他机关意见的时间不计算在内。申请内容不明确的，行政机关在 7 个"
           "工作日内一次性告知补正，答复期限自收到补正之日起计算。逾期未答复的，系统自动亮红牌。")

tab_new, tab_track = st.tabs(["提交申请", "查询与补正"])
with tab_new:
    if code := st.session_state.get("govinfo_code"):
        st.success(f"申请已提交！查询码 **{code}**，请妥善保存，凭此码查询办理进度、补正申请和查看答复。")
        if st.button("再提交一件"):
            del st.session_state["govinfo_code"]
            st.rerun()
    else:
        units = ui.catalog_frames(ui.url())["units"]
        units = units[(units["unit_code"] != "ZJ.JW") & (units["unit_level"] != "town")]
        names = dict(zip(units["unit_id"], units["unit"], strict=True))
        with st.form("govinfo_request"):
            unit_id = st.selectbox("向哪个机关申请", list(names), format_func=names.get, index=None,
                                   placeholder="请选择受理机关（可输入名称搜索）")
            subject = st.text_input("所需信息的名称", max_chars=ds.MAX_SUBJECT,
                                    placeholder="如：某项目的环境影响评价批复")
            body = st.text_area("所需信息的内容描述（文号、时间范围等）", max_chars=ds.MAX_REQUEST,
                                height=150)
            c1, c2 = st.columns(2)
            name = c1.text_input("申请人姓名或名称", max_chars=50)
            contact = c2.text_input("联系电话或邮箱", max_chars=100)
            st.caption("申请人信息加密保存，仅用于答复。")
            if st.form_submit_button("提交申请", type="primary"):
                try:
                    code = ui.write(lambda s: ds.submit_request(
                        s, unit_id=None if unit_id is None else int(unit_id), subject=subject,
                        body=body, name=name, contact=contact, source=ui.client_address()).code)
                except ds.DisclosureError as exc:
                    st.error(f"未提交：{exc}")
                else:
                    ui.clear_data_caches()
                    st.session_state["govinfo_code"] = code
                    st.rerun()

with tab_track:
    code = st.text_input("查询码", max_chars=16, placeholder="GK 开头，共 12 位",
                         value=st.query_params.get("code", ""))
    if not code.strip():
        st.info("请输入提交申请时获得的查询码。")
        st.stop()
    try:
        with ui.read() as s:
            v = ds.track_request(s, code)
    except ds.DisclosureError as exc:
        st.error(str(exc))
        st.stop()
    st.subheader(ui.esc(v.subject))
    c1, c2, c3 = st.columns(3)
    c1.metric("办理状态", v.status)
    c2.metric("受理机关", v.unit)
    c3.metric("答复期限", fmt_time(v.deadline))
    st.caption(f"查询码 {v.code} · 收到申请 {fmt_time(v.received_at)}"
               + (f" · {ui.esc(v.extension)}" if v.extension else ""))
    if v.pauses:
        st.dataframe(pd.DataFrame([{"征求意见": k, "开始": fmt_time(a), "结束": fmt_time(b)}
                                   for k, a, b in v.pauses]), hide_index=True, width="stretch")
    if v.answer:
        st.markdown(f"**答复类型**：{v.answer_type}" + (f"（{ui.esc(v.answer_reason)}）"
                                                     if v.answer_reason else ""))
        ui.plain(v.answer)
        st.caption(f"答复时间：{fmt_time(v.answered_at)}")
    if v.needs_correction:
        st.warning("受理机关请您补正申请：")
        ui.plain(v.correction_note)
        with st.form("govinfo_correct"):
            text = st.text_area("补正内容", max_chars=ds.MAX_REQUEST)
            if st.form_submit_button("提交补正", type="primary"):
                try:
                    ui.write(lambda s: ds.supply_correction(s, v.code, text))
                except ds.DisclosureError as exc:
                    st.error(f"未提交：{exc}")
                else:
                    ui.clear_data_caches()
                    st.success("已补正，答复期限自今日起重新计算。")
                    st.rerun()
