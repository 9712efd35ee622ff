"""我要反映: the public submits a report, complaint, consultation or suggestion, no login."""

import streamlit as st

from lib import submissions, ui

ui.public("submit")
cat = ui.catalog_frames(ui.url())

st.title("我要反映")
st.caption("您的诉求将自动转交责任单位，单位须在规定时限内答复；逾期未答复的，系统自动亮红牌。"
           "答复后您可凭查询码和评价码评价，评价结果纳入单位考核。")
with ui.read() as s:
    limits = submissions.answer_limits(s)  # as set in 系统设置

if code := st.session_state.get("submitted_code"):
    pin = st.session_state.get("submitted_pin")
    st.success(f"提交成功！您的查询码是 **{code}**，评价码是 **{pin}**。请一并妥善保存：凭查询码可在"
               "“办理进度查询”中查看办理情况；评价答复时还需填写评价码（评价码只在此显示一次，"
               "承办单位和工作人员都看不到，以保证评价出自您本人）。")
    st.page_link("pages/public_track.py", label="查询办理进度", icon=":material/search:")
    if st.button("再提交一件"):
        st.session_state.pop("submitted_code", None)
        st.session_state.pop("submitted_pin", None)
        st.rerun()
    st.stop()

kinds = {k: v[0] for k, v in submissions.KINDS.items()}
kind = st.radio("类别", list(kinds), format_func=lambda k: f"{kinds[k]}（{limits[k]}内答复）" if k in limits else kinds[k],
                horizontal=True, key="kind")
with st.form("public_submit"):
    counties = cat["counties"]
    regions = {None: "不确定"} | dict(zip(counties["region_id"], counties["region"], strict=True))
    region_id = st.selectbox("所在县（市、区）", list(regions), format_func=regions.get)
    units = cat["units"][cat["units"]["unit_code"] != "ZJ.JW"]
    unit_names = {None: "不确定（由系统分派）"} | dict(zip(units["unit_id"], units["unit"], strict=True))
    unit_id = st.selectbox("反映对象（单位，可不选）", list(unit_names), format_func=unit_names.get)
    subject = st.text_input("标题", max_chars=submissions.MAX_SUBJECT, placeholder="一句话概括")
    body = st.text_area("具体内容", max_chars=submissions.MAX_BODY, height=180,
                        placeholder="时间、地点、经过、诉求……")
    anonymous = False
    if kind == "report":
        anonymous = st.checkbox("匿名举报（不留姓名和联系方式；将无法接收回访）")
    c1, c2 = st.columns(2)
    name = c1.text_input("姓名（选填）", max_chars=submissions.MAX_NAME, disabled=anonymous)
    contact = c2.text_input("联系电话或邮箱（选填）", max_chars=submissions.MAX_CONTACT,
                            disabled=anonymous)
    st.caption("您的姓名和联系方式加密保存，仅纪检监察机关可以查看，且每次查看均留痕。")
    if st.form_submit_button("提交", type="primary"):
        data = submissions.NewSubmission(kind=kind, region_id=region_id, unit_id=unit_id,
                                         subject=subject, body=body, anonymous=anonymous,
                                         name="" if anonymous else name,
                                         contact="" if anonymous else contact)
        def submit(s):
            sub = submissions.submit(s, data, source=ui.client_address())
            return sub.code, sub.rating_pin  # the PIN exists only here, before the screen

        try:
            code, pin = ui.write(submit)
        except submissions.SubmissionError as exc:
            st.error(f"未提交：{exc}")
        else:
            ui.clear_data_caches()
            st.session_state["submitted_code"] = code
            st.session_state["submitted_pin"] = pin
            st.rerun()
