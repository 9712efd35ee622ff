"""个人设置: who I am, and changing my own password."""

import streamlit as st

from lib import auth, ui
from lib.access import PermissionDenied, can

user = ui.require("account")

st.title("个人设置")
st.markdown(f"- 用户名：`{user.username}`\n- 姓名：{user.display_name}\n- 角色：{user.role_names}"
            + (f"\n- 所属单位：{user.unit_name}" if user.unit_name else ""))

st.subheader("修改密码")
if not can(user, "change_own_password"):
    st.info("本账号为只读的检查演示账号（多人共用），不能修改密码。如需更换，请联系系统管理员。")
    st.stop()
st.caption(auth.POLICY_TEXT)
with st.form("change_password", clear_on_submit=True):
    old = st.text_input("原密码", type="password", max_chars=128)
    new = st.text_input("新密码", type="password", max_chars=128)
    confirm = st.text_input("再次输入新密码", type="password", max_chars=128)
    if st.form_submit_button("修改密码", type="primary"):
        try:
            ui.write(lambda s: auth.change_password(s, user, old, new, confirm))
        except (auth.AccountError, PermissionDenied) as exc:
            st.error(f"密码未修改：{exc}")
        else:
            st.success("密码已修改，下次登录请使用新密码。")
