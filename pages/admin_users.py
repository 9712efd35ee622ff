"""用户与单位: accounts (create, edit roles and unit, disable, unlock, reset password) and units."""

import pandas as pd
import streamlit as st

from lib import auth, settings, ui
from lib.access import ROLES, PermissionDenied
from lib.lights import fmt_time

user = ui.require("users")
cat = ui.catalog_frames(ui.url())
units = cat["units"]
unit_names = dict(zip(units["unit_id"], units["unit"], strict=True))
role_label = ROLES.get

st.title("用户与单位")
tab_users, tab_new, tab_edit, tab_units = st.tabs(["用户列表", "新建用户", "修改用户", "单位"])

with ui.read() as s:
    users = auth.list_users(s, user)

with tab_users:
    ui.table(pd.DataFrame([{
        "用户名": u["username"], "姓名": u["display_name"],
        "角色": "、".join(ROLES[r] for r in u["roles"]), "所属单位": u["unit"] or "—",
        "状态": "启用" if u["active"] else "停用",
        "锁定至": fmt_time(u["locked_until"]) if u["locked_until"] else "",
        "连续失败": u["failed_logins"],
    } for u in users]), "用户", key="users_tbl")

with tab_new, st.form("create_user", clear_on_submit=False):
    st.caption(auth.POLICY_TEXT)
    c1, c2 = st.columns(2)
    username = c1.text_input("用户名", max_chars=32, placeholder="小写字母开头，如 zhang_san",
                             key="new_username")
    display_name = c2.text_input("姓名", max_chars=32, key="new_display_name")
    roles = st.multiselect("角色", list(ROLES), format_func=role_label, key="new_roles",
                           placeholder="请选择角色（可多选）")
    unit_id = st.selectbox("所属单位（部门经办人必填）", [None] + list(unit_names),
                           format_func=lambda u: "—" if u is None else unit_names[u],
                           key="new_unit")
    password = st.text_input("初始密码", type="password", max_chars=128, key="new_password")
    if st.form_submit_button("创建用户", type="primary"):
        try:
            ui.write(lambda s: auth.create_user(s, user, username=username,
                                                display_name=display_name, roles=set(roles),
                                                unit_id=unit_id, password=password))
        except (auth.AccountError, PermissionDenied) as exc:
            st.error(f"未创建：{exc}")
        else:
            st.success(f"已创建用户 {username.strip().lower()}")
            st.rerun()

with tab_edit:
    by_id = {u["id"]: u for u in users}
    uid = st.selectbox("选择用户", list(by_id),
                       format_func=lambda i: f"{by_id[i]['username']}（{by_id[i]['display_name']}）")
    target = by_id[uid]
    with st.form(f"edit_user_{uid}"):
        name = st.text_input("姓名", value=target["display_name"], max_chars=32)
        roles = st.multiselect("角色", list(ROLES), default=target["roles"], format_func=role_label,
                               placeholder="请选择角色（可多选）")
        options = [None] + list(unit_names)
        unit_id = st.selectbox("所属单位", options, index=options.index(target["unit_id"]),
                               format_func=lambda u: "—" if u is None else unit_names[u])
        active = st.checkbox("启用", value=target["active"])
        if st.form_submit_button("保存修改", type="primary"):
            try:
                ui.write(lambda s: auth.update_user(s, user, uid, display_name=name,
                                                    roles=set(roles), unit_id=unit_id,
                                                    active=active))
            except (auth.AccountError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                st.success("已保存")
                st.rerun()
    c1, c2 = st.columns(2)
    with c1:
        if target["locked_until"] or target["failed_logins"]:
            st.warning(f"该账号连续失败 {target['failed_logins']} 次"
                       + (f"，锁定至 {fmt_time(target['locked_until'])}" if target["locked_until"] else ""))
            if st.button("解除锁定", key=f"unlock_{uid}"):
                ui.write(lambda s: auth.unlock_user(s, user, uid))
                st.success("已解除锁定")
                st.rerun()
    with c2, st.form(f"reset_{uid}", clear_on_submit=True):
        new_password = st.text_input("重置密码", type="password", max_chars=128)
        if st.form_submit_button("重置密码"):
            try:
                ui.write(lambda s: auth.reset_password(s, user, uid, new_password))
            except (auth.AccountError, PermissionDenied) as exc:
                st.error(f"未重置：{exc}")
            else:
                st.success("密码已重置，并已解除锁定")

with tab_units:
    counties = cat["counties"]
    ui.table(units.rename(columns={"unit_code": "代码", "unit": "名称"})
             .assign(层级=units["unit_level"].map({"municipal": "市直", "county": "县（市、区）",
                                              "town": "乡镇（街道）"}))
             [["代码", "名称", "层级"]], "单位", key="units_tbl")
    with st.form("create_unit", clear_on_submit=False):
        st.markdown("**新增单位**")
        c1, c2 = st.columns(2)
        code = c1.text_input("单位代码", max_chars=16, placeholder="如 ZJ.TJ 或 440823.TJ")
        name = c2.text_input("单位名称", max_chars=64)
        # The level goes with the region picked: the city (市直), a county, or a town (乡镇).
        with ui.read() as s:
            towns = settings.town_choices(s)
        regions = ({None: "湛江市（市直单位）"}
                   | {int(r): f"{n}（县级单位）" for r, n in zip(counties["region_id"],
                                                           counties["region"], strict=True)}
                   | {r: f"{county} · {town}（乡镇（街道）单位）" for r, county, town in towns})
        town_ids = {r for r, _, _ in towns}
        region = st.selectbox("所属区域（决定层级；可输入名称搜索）", list(regions),
                              format_func=regions.get)
        if st.form_submit_button("新增单位"):
            level = ("municipal" if region is None else "town" if region in town_ids
                     else "county")
            try:
                ui.write(lambda s: settings.create_unit(
                    s, user, code=code, name=name, level=level,
                    region_id=None if region is None else int(region)))
            except (settings.SettingsError, PermissionDenied) as exc:
                st.error(f"未新增：{exc}")
            else:
                ui.clear_data_caches()
                st.success(f"已新增单位：{name}")
                st.rerun()
    with st.form("rename_unit"):
        st.markdown("**单位更名**")
        uid = st.selectbox("单位", list(unit_names), format_func=unit_names.get)
        new_name = st.text_input("新名称", max_chars=64)
        if st.form_submit_button("更名"):
            try:
                ui.write(lambda s: settings.rename_unit(s, user, int(uid), new_name))
            except (settings.SettingsError, PermissionDenied) as exc:
                st.error(f"未更名：{exc}")
            else:
                ui.clear_data_caches()
                st.success("已更名")
                st.rerun()
