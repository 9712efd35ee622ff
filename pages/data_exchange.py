"""数据接入: bring any kind of record in from a file (template, preview, import with progress),
see the import history, pull from the subsystems' front databases, and take any kind out again."""

import hashlib
import json

import pandas as pd
import streamlit as st
from sqlalchemy.exc import DBAPIError

from lib import access, exchange, sync, ui
from lib.access import PermissionDenied
from lib.lights import fmt_time

user = ui.require("data")
kinds = exchange.load_kinds()
st.title("数据接入")
st.caption("各子系统的数据从文件或前置库接入。导入前先预览将新增、更新和拒收的记录；"
           "文件中任何一行有误，整份文件都不写入。")
if message := st.session_state.pop("data_notice", None):
    st.success(message)
if secrets := st.session_state.pop("data_secrets", None):
    st.warning("新账号的一次性激活码只显示这一次：请立即下载，分别交给本人（本人在登录页“首次登录”处设置密码）。"
               "离开或刷新本页后不再显示，系统只保存其哈希。")
    codes = pd.DataFrame(secrets, columns=["用户名", "激活码"])
    st.dataframe(codes, hide_index=True)
    st.download_button("下载激活码（CSV）", ui.table_csv(codes), file_name="激活码.csv",
                       mime="text/csv", on_click="ignore")

can_import = access.can(user, "import_items")
if not can_import:
    st.info("只读查看：可浏览各类数据的模板说明、导入记录和前置库同步状态；导入、同步和导出由系统管理员、"
            "纪检监察人员办理。")
tab_import, tab_history, tab_sync, tab_export = st.tabs(["文件导入", "导入记录", "前置库同步", "数据导出"])


def kind_label(code: str) -> str:
    k = kinds[code]
    return f"{k.label}（{code}）"


# -- file import -----------------------------------------------------------------------------
with tab_import:
    codes = sorted(kinds)
    code = st.selectbox("数据类别", codes, format_func=kind_label, key="import_kind",
                        index=codes.index("items"))
    kind = kinds[code]
    if kind.description:
        st.caption(kind.description)
    st.download_button("下载导入模板（Excel，含填写说明）", exchange.template_xlsx(kind),
                       file_name=f"导入模板_{kind.label}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    ui.table(pd.DataFrame([{"中文表头": c.label, "英文列名": c.code, "必填": "是" if c.required else "",
                                "说明": c.help, "示例": c.example} for c in kind.columns]), "导入模板说明", key="kind_cols")
    upload = ui.file_uploader("上传文件（CSV 或 Excel .xlsx）", types=["csv", "xlsx"],
                              key="import_file") if can_import else None
    if not can_import:
        pass
    elif upload is None:
        st.info("请先下载模板，按说明填写后上传。上传后先显示预览，确认后才写入。")
    else:
        raw = upload.getvalue()
        digest = hashlib.sha256(raw).hexdigest()
        key = f"preview:{code}:{digest}"
        if key not in st.session_state:
            with st.spinner(f"正在校验 {upload.name}（{len(raw) / 1024:,.0f} KB）…"):
                try:
                    st.session_state[key] = ui.write(
                        lambda s: exchange.preview(s, code, raw, upload.name))
                except exchange.ImportFailed as exc:
                    st.session_state[key] = exchange.Preview(errors=exc.errors)
        p = st.session_state[key]
        c = st.columns(4)
        c[0].metric("将新增", f"{p.created:,}")
        c[1].metric("将更新", f"{p.updated:,}")
        c[2].metric("无变化", f"{p.unchanged:,}")
        c[3].metric("拒收行", f"{p.refused:,}" if p.errors else "0")
        if p.errors:
            st.error(f"文件未通过校验，不能导入（共 {len(p.errors)} 处问题）。请修改后重新上传：")
            ui.table(pd.DataFrame({"问题": p.errors[:1000]}), "导入校验问题", key="import_errors")
        else:
            if p.added_keys:
                st.caption("将新增（前 200 条）：" + "、".join(map(str, p.added_keys)))
            if p.changed_keys:
                st.caption("将更新（前 200 条）：" + "、".join(map(str, p.changed_keys)))
            for w in p.warnings:
                st.warning(w)
            if st.button(f"确认导入 {p.rows:,} 行", type="primary", disabled=p.rows == 0):
                bar = st.progress(0.0, text="正在写入…")

                def progress(done: int, total: int) -> None:
                    bar.progress(done / total, text=f"正在写入 {done:,}/{total:,} 行…")

                try:
                    result = exchange.run_import(code, raw, filename=upload.name,
                                                 actor=user.username, engine=ui.engine(),
                                                 progress=progress)
                except exchange.ImportFailed as exc:
                    bar.empty()
                    st.error(str(exc))
                except PermissionDenied as exc:
                    bar.empty()
                    st.error(str(exc))
                except DBAPIError:
                    bar.empty()
                    st.error(ui.BUSY_MESSAGE)
                else:
                    ui.clear_data_caches()
                    st.session_state.pop(key, None)
                    st.session_state["data_notice"] = f"已导入 {upload.name}：{result}"
                    if result.secrets:
                        st.session_state["data_secrets"] = result.secrets
                    st.rerun()

# -- history ---------------------------------------------------------------------------------
with tab_history:
    with ui.read() as s:
        runs = [(r.at, r.actor, r.kind, r.source, r.rows, r.created, r.updated, r.unchanged,
                 r.refused, r.status, r.sha256, r.message) for r in exchange.history(s, user)]
    if not runs:
        st.info("还没有导入记录。文件导入或前置库同步后会记录在这里。")
    else:
        ui.table(pd.DataFrame([{
            "时间": fmt_time(at), "操作人": access.actor_for(user, actor),
            "类别": kinds[k].label if k in kinds else k,
            "来源": src, "行数": n, "新增": c_, "更新": u, "未变": un, "拒收": rf,
            "结果": "成功" if status == "ok" else "失败（未写入）",
            "文件 SHA-256": sha or "", "说明": (msg or "").split("\n")[0],
        } for at, actor, k, src, n, c_, u, un, rf, status, sha, msg in runs]), "导入记录",
            key="import_history")

# -- front databases ---------------------------------------------------------------------------
with tab_sync:
    st.caption("各业务系统把办件写入本系统的前置库表；平台按水位（更新时间列或递增编号列）分批拉取。"
               "每批与水位的推进在同一事务中写入：失败时水位不动，重跑不会丢失或重复。"
               "定时任务：`python -m lib sync --all`。")
    with ui.read() as s:
        sources = [(x.name, x.kind, x.table, x.watermark_column, x.watermark, x.active,
                    x.last_run_at, x.last_status, x.url, x.mapping, x.batch_size, x.subsystem)
                   for x in sync.sources(s)]
    if not sources:
        st.info("尚未配置前置库同步源。管理员可在下方新增。")
    for name, k, table, mark_col, mark, active, last_at, status, *_ in sources:
        with st.container(border=True):
            st.markdown(f"**{name}** · {kinds[k].label if k in kinds else k} · 表 `{table}` · "
                        f"水位列 `{mark_col}` = {mark or '（尚未同步）'}" + ("" if active else " · 已停用"))
            st.caption(f"上次运行：{fmt_time(last_at)} · {status or '—'}")
            if active and access.can(user, "import_items") and st.button("立即同步",
                                                                        key=f"sync_{name}"):
                bar = st.progress(0.0, text="正在同步…")
                try:
                    result = sync.sync(name, actor=user.username, engine=ui.engine(),
                                       progress=lambda n, b=bar: b.progress(
                                           0.5, text=f"已写入 {n:,} 行…"))
                except (sync.SyncError, exchange.ImportFailed) as exc:
                    bar.empty()
                    st.error(f"同步失败（水位未动，修正后可重跑）：{exc}")
                else:
                    ui.clear_data_caches()
                    st.session_state["data_notice"] = f"同步源 {name}：{result}"
                    st.rerun()
    if access.can(user, "manage_settings"):
        st.markdown("**新增或修改同步源**")
        names = [x[0] for x in sources]
        chosen = st.selectbox("同步源", [None] + names,
                              format_func=lambda n: "＋ 新增" if n is None else n, key="sync_pick")
        current = next((x for x in sources if x[0] == chosen), None)
        kind_code = st.selectbox("数据类别", sorted(kinds), format_func=kind_label,
                                 index=sorted(kinds).index(current[1]) if current else 0,
                                 key=f"sync_kind_{chosen}")
        target = kinds[kind_code]
        old_map = json.loads(current[9]) if current else {}
        with st.form(f"sync_source_{chosen}"):
            a, b = st.columns(2)
            name = a.text_input("名称（小写字母、数字、_、-）", value=current[0] if current else "",
                                max_chars=32, disabled=current is not None)
            table = b.text_input("前置库表名", value=current[2] if current else "", max_chars=100)
            url = st.text_input("前置库连接地址", value=current[8] if current else "", max_chars=300,
                                type="password", placeholder="postgresql+psycopg://用户名:密码@主机:端口/库名",
                                help="由前置库所在单位的信息中心提供，格式为“数据库类型+驱动://用户名:密码@主机:端口/库名”，"
                                     "例如 PostgreSQL：postgresql+psycopg://sync:密码@10.1.2.3:5432/qianzhi；"
                                     "本机 SQLite 文件：sqlite:////路径/文件名.db。保存前会先试连并检查表和列。")
            c1, c2, c3 = st.columns(3)
            mark_col = c1.text_input("水位列（更新时间或递增编号）", value=current[3] if current else "",
                                     max_chars=64)
            batch = c2.number_input("每批行数", min_value=1, max_value=100_000,
                                    value=int(current[10]) if current else 5000)
            active = c3.checkbox("启用", value=bool(current[5]) if current else True)
            st.caption("列映射：左为平台的列，右填前置表中对应的列名（可选列可留空）。")
            frame = pd.DataFrame([{"平台列": f"{c.code}（{c.label}）" + ("*" if c.required else ""),
                                   "前置表列名": old_map.get(c.code, "")} for c in target.columns])
            edited = st.data_editor(frame, hide_index=True, width="stretch",
                                    disabled=["平台列"], key=f"sync_map_{chosen}_{kind_code}")
            if st.form_submit_button("检查连接并保存", type="primary"):
                mapping = {c.code: str(v).strip() for c, v in
                           zip(target.columns, edited["前置表列名"], strict=True) if str(v).strip()}
                spec = sync.SourceSpec(name=(current[0] if current else name).strip(),
                                       url=url.strip(), table=table.strip(), kind=kind_code,
                                       mapping=mapping, watermark_column=mark_col.strip(),
                                       subsystem=target.domain, batch_size=int(batch),
                                       active=active)
                try:
                    ui.write(lambda s: sync.save_source(s, user, spec))
                except (sync.SyncError, PermissionDenied) as exc:
                    st.error(f"未保存：{exc}")
                else:
                    st.session_state["data_notice"] = f"已保存同步源 {spec.name}"
                    st.rerun()

# -- export ----------------------------------------------------------------------------------
with tab_export:
    if not can_import:
        st.caption("导出各类数据由系统管理员、纪检监察人员办理。")
        st.stop()
    exportable = sorted(c for c, k in kinds.items() if k.export is not None)
    code_out = st.selectbox("数据类别", exportable, format_func=kind_label, key="export_kind")
    st.caption("导出的列与导入模板相同，修改后可直接再导入；以 = + - @ 开头的文字已加前导撇号，"
               "防止在表格软件中被当作公式执行。")
    if st.button("生成导出文件", key="export_go"):
        with st.spinner("正在导出…"), ui.read() as s:
            header, rows = exchange.export_table(s, code_out)
        st.session_state["export_ready"] = (code_out, header, rows)
    ready = st.session_state.get("export_ready")
    if ready and ready[0] == code_out:
        _, header, rows = ready
        import io

        buf = io.StringIO()
        exchange.write_csv(header, rows, buf)
        label = kinds[code_out].label
        c1, c2 = st.columns(2)
        c1.download_button(f"下载 CSV（{len(rows):,} 行）", buf.getvalue().encode("utf-8-sig"),
                           file_name=f"{label}.csv", mime="text/csv")
        c2.download_button(f"下载 Excel（{len(rows):,} 行）", exchange.xlsx_bytes(header, rows),
                           file_name=f"{label}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
