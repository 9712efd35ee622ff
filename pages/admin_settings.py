"""系统设置: the permission matrix, light thresholds and default limits, calendar overrides,
work-order limits, portal content and the efficiency assessment's scheme (考核办法)."""

from datetime import date

import pandas as pd
import streamlit as st

from lib import access, health, projects, scoring, settings, submissions, ui
from lib.access import PermissionDenied
from lib.workdays import LIMIT_HINT, statutory_is_workday

user = ui.require("settings")
st.title("系统设置")
tab_matrix, tab_lights, tab_calendar, tab_public, tab_content, tab_scoring, tab_health = st.tabs(
    ["权限矩阵", "灯色阈值与默认时限", "工作日历", "群众诉求时限", "热点与政策", "考核办法", "运行状况"])

with tab_matrix:
    st.caption("角色 × 操作。页面和数据的访问由服务器按此矩阵逐项校验，不只是隐藏菜单。")
    st.table(access.matrix_frame().set_index("权限"))

with tab_lights:
    st.caption("黄牌：在办事项剩余时间少于总时限的该百分比时亮黄牌。默认时限：wd 为工作日，d 为自然日，"
               "h 为小时（如 20wd、30d、48h）。修改默认时限后，使用默认时限的在办事项将重新计算期限；"
               "已办结事项的灯色不变。")
    with ui.read() as s:
        subs = settings.subsystem_rows(s)
    frame = pd.DataFrame(subs)
    with st.form("thresholds"):
        edited = st.data_editor(
            frame, hide_index=True, width="stretch", disabled=["id", "code", "name", "domain"],
            height=36 * (len(frame) + 1) + 3,  # every subsystem at once, no scrolling inside
            column_config={
                "id": None, "code": "代码（导入用）", "name": "子系统", "domain": "领域",
                "yellow_pct": st.column_config.NumberColumn("黄牌阈值（%）", min_value=0,
                                                            max_value=100, step=1),
                "limit": st.column_config.TextColumn("默认时限", max_chars=6),
            }, key="threshold_editor")
        if st.form_submit_button("保存", type="primary"):
            changes = [row for row, old in zip(edited.to_dict("records"), subs, strict=True)
                       if (row["yellow_pct"], row["limit"]) != (old["yellow_pct"], old["limit"])]
            if not changes:
                st.info("没有修改。")
            else:
                def save(s):  # all rows or none
                    moved = 0
                    for row in changes:
                        pct = row["yellow_pct"]
                        moved += settings.update_subsystem(
                            s, user, int(row["id"]),
                            yellow_pct=int(pct) if pd.notna(pct) else -1,
                            limit=str(row["limit"] or ""))
                    return moved

                try:
                    moved = ui.write(save)
                except (settings.SettingsError, PermissionDenied) as exc:
                    st.error(f"未保存任何修改：{exc}")
                else:
                    ui.clear_data_caches()
                    st.success(f"已保存 {len(changes)} 个子系统的设置；{moved} 个在办事项的期限随之调整。")
                    if any(row["yellow_pct"] != old["yellow_pct"] for row, old in zip(
                            edited.to_dict("records"), subs, strict=True)):
                        st.info("黄牌阈值已改：各页统计暂按明细实时计算，下次巡检（约 1 分钟内）重建统计汇总后恢复快速读取。")

with tab_calendar:
    st.caption("法定节假日与调休由节假日表提供；在此可将某一天改为工作日或休息日（如台风停工）。"
               "调整后，在办事项的期限重新计算；已办结事项不受影响。")
    with ui.read() as s:
        overrides = settings.override_rows(s)
    if overrides:
        ui.table(pd.DataFrame([{"日期": o["day"].isoformat(),
                                    "调整为": "工作日" if o["is_workday"] else "休息日",
                                    "节假日表原为": "工作日" if statutory_is_workday(o["day"]) else "休息日",
                                    "原因": o["note"]} for o in overrides]), "日历人工调整", key="cal_overrides")
    else:
        st.info("目前没有人工调整，全部按节假日表计算。")
    with st.form("calendar_override"):
        c1, c2 = st.columns(2)
        day = c1.date_input("日期", value=ui.today_local(), format="YYYY-MM-DD")
        kind = c2.radio("调整为", ["休息日", "工作日"], horizontal=True)
        note = st.text_input("原因", max_chars=200, placeholder="如：台风“摩羯”停工停课")
        if st.form_submit_button("保存调整", type="primary"):
            try:
                moved = ui.write(lambda s: settings.set_override(s, user, day, kind == "工作日", note))
            except (settings.SettingsError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                ui.clear_data_caches()
                st.success(f"已将 {day} 调整为{kind}；{moved} 个在办事项的期限随之调整。")
                st.rerun()

    @st.dialog("确认撤销调整")
    def confirm_remove(day: date) -> None:
        st.write(f"撤销 {day} 的人工调整后，该日恢复按节假日表计算，在办事项的期限将重新计算。")
        if st.button("确认撤销", type="primary"):
            try:
                moved = ui.write(lambda s: settings.remove_override(s, user, day))
            except (settings.SettingsError, PermissionDenied) as exc:
                st.error(f"未撤销：{exc}")
            else:
                ui.clear_data_caches()
                st.session_state["calendar_notice"] = f"已撤销 {day} 的调整；{moved} 个在办事项的期限随之调整。"
                st.rerun()

    if overrides:
        c1, c2 = st.columns([3, 1])
        day_to_remove = c1.selectbox("撤销某日的调整", [o["day"] for o in overrides],
                                     format_func=lambda d: d.isoformat())
        if c2.button("撤销…"):
            confirm_remove(day_to_remove)
    if notice := st.session_state.pop("calendar_notice", None):
        st.success(notice)

with tab_public:
    st.caption("答复时限按类别在“灯色阈值与默认时限”中设置（网上举报、网上投诉、网上咨询、网上建议）。"
               f"时限{LIMIT_HINT}。")
    with ui.read() as s:
        current = {k: submissions.get_setting(s, k) for k in submissions.DEFAULT_SETTINGS}
    with st.form("submission_settings"):
        values = {k: st.text_input(label, value=current[k], max_chars=6, help=LIMIT_HINT,
                                   key=f"setting_{k}")
                  for k, label in submissions.SETTING_LABELS.items()}
        if st.form_submit_button("保存", type="primary"):
            try:
                def save_settings(s):
                    for k, v in values.items():
                        if v.strip() != current[k]:
                            submissions.set_setting(s, user, k, v)

                ui.write(save_settings)
            except (submissions.SubmissionError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                st.success("已保存")
    st.markdown("**重点项目节点灯色**（落后计划的百分点）")
    with ui.read() as s:
        yellow_pp, red_pp = projects.thresholds(s)
    with st.form("project_thresholds"):
        c1, c2 = st.columns(2)
        new_yellow = c1.number_input("黄灯起点", min_value=1, max_value=99, value=yellow_pp, step=1)
        new_red = c2.number_input("红灯：超过", min_value=2, max_value=100, value=red_pp, step=1)
        if st.form_submit_button("保存节点灯色"):
            try:
                ui.write(lambda s: projects.set_thresholds(s, user, int(new_yellow), int(new_red)))
            except (projects.ProjectError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                ui.clear_data_caches()
                st.success("已保存")

with tab_content:
    with ui.read() as s:
        pages = [(p.id, p.category, p.title, p.body, p.published)
                 for p in submissions.content(s, include_hidden=True)]
    categories = {"hot": "热点问题", "policy": "政策法规"}
    options = [None] + [p[0] for p in pages]
    titles = {p[0]: f"{categories[p[1]]} · {p[2]}" + ("" if p[4] else "（未发布）") for p in pages}
    chosen = st.selectbox("编辑", options, format_func=lambda i: "＋ 新建" if i is None else titles[i])
    current = next((p for p in pages if p[0] == chosen), (None, "hot", "", "", True))
    with st.form(f"content_{chosen}"):
        category = st.radio("栏目", list(categories), format_func=categories.get, horizontal=True,
                            index=list(categories).index(current[1]))
        title = st.text_input("标题", value=current[2], max_chars=100)
        body = st.text_area("正文", value=current[3], max_chars=5000, height=200)
        published = st.checkbox("在群众门户发布", value=current[4])
        if st.form_submit_button("保存", type="primary"):
            try:
                ui.write(lambda s: submissions.save_content(
                    s, user, page_id=chosen, category=category, title=title, body=body,
                    published=published))
            except (submissions.SubmissionError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                st.success("已保存")

with tab_scoring:
    st.caption("行政效能考核的权重（六项合计 100）、亮牌扣分、参与排名的最少事项数和等次分数线。"
               "修改只影响实时计算的排名；已公布的排名连同当时的考核办法冻结，不受影响。")
    with ui.read() as s:
        current = scoring.load_scheme(s)
    defaults = scoring.Scheme()
    with st.form("scoring_scheme"):
        cols = st.columns(3)
        weights = {}
        for n, ind in enumerate(scoring.INDICATORS):
            weights[ind.code] = cols[n % 3].number_input(
                f"{ind.label}权重", min_value=0, max_value=100, step=1,
                value=current.weights[ind.code], help=f"{ind.how}（默认 {ind.default_weight}）")
        c1, c2, c3 = st.columns(3)
        yellow = c1.number_input("黄牌每张扣分", min_value=0.0, max_value=100.0, step=0.5,
                                 value=float(current.yellow_deduction), help="默认 5 分")
        red = c2.number_input("红牌每张扣分", min_value=0.0, max_value=100.0, step=0.5,
                              value=float(current.red_deduction), help="默认 10 分")
        per = c3.number_input("扣分按每多少件事项计", min_value=1, max_value=10000, step=1,
                              value=current.per_items,
                              help="默认每 100 件：规模不同的单位按同一比例扣分")
        c4, c8, c5, c6, c7 = st.columns(5)
        floor = c4.number_input("参与排名的最少事项数", min_value=1, max_value=1000, step=1,
                                value=current.min_cases, help="考核期内已办结或已到期的事项；默认 5 件")
        min_ratings = c8.number_input("满意度计分的最少评价数（每月）", min_value=1, max_value=1000,
                                      step=1, value=current.min_ratings,
                                      help="评价或网上测评少于此数的月份，该项不计分；默认 3 条")
        excellent = c5.number_input("优秀 ≥", min_value=1, max_value=100, step=1,
                                    value=current.excellent)
        good = c6.number_input("良好 ≥", min_value=1, max_value=100, step=1, value=current.good)
        passing = c7.number_input("合格 ≥", min_value=1, max_value=100, step=1,
                                  value=current.passing)
        st.caption(f"当前权重合计：{sum(current.weights.values())}。默认："
                   + "、".join(f"{i.label} {i.default_weight}" for i in scoring.INDICATORS)
                   + f"；黄牌 {defaults.yellow_deduction:g}、红牌 {defaults.red_deduction:g} 分"
                   f"/每 {defaults.per_items} 件；最少 {defaults.min_cases} 件；"
                   f"评价最少 {defaults.min_ratings} 条；"
                   f"等次 {defaults.excellent}/{defaults.good}/{defaults.passing}。")
        if st.form_submit_button("保存考核办法", type="primary"):
            new = scoring.Scheme(weights={k: int(v) for k, v in weights.items()},
                                 yellow_deduction=float(yellow), red_deduction=float(red),
                                 per_items=int(per), min_cases=int(floor),
                                 min_ratings=int(min_ratings),
                                 excellent=int(excellent), good=int(good), passing=int(passing))
            try:
                changed = ui.write(lambda s: scoring.save_scheme(s, user, new))
            except (scoring.ScoringError, PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                ui.clear_data_caches()
                st.success("已保存，实时排名按新办法计算。" if changed else "考核办法没有变化。")


@st.cache_data(ttl=30, show_spinner="正在检查运行状况（逐条校验审计链）…")
def _health(url: str) -> health.Report:
    return health.check(ui.engine())


with tab_health:
    st.caption("与命令行 python -m lib health 相同的检查（供 cron 与监控，异常时退出码非零）："
               "数据库连接与版本、督办扫描最近一次运行、审计链逐条校验与链头、事项数。结果缓存 30 秒。")
    # On demand: every tab of a page runs on each load, and the check reads the whole audit chain.
    def _ask() -> None:
        _health.clear()
        st.session_state["health_shown"] = True

    shown = st.session_state.get("health_shown", False)
    st.button("重新检查" if shown else "检查运行状况", key="health_refresh", on_click=_ask,
              type="secondary" if shown else "primary")
    shown = st.session_state.get("health_shown", False)
    if not shown:
        st.info("点击“检查运行状况”运行检查（逐条校验审计链，数据多时需要数秒）。")
        st.stop()
    report = _health(ui.url())
    if report.ok:
        st.success("运行正常")
    else:
        # A warning, not an error box: the page works; what it reports needs the operator.
        st.warning("存在异常：" + "；".join(c.name for c in report.checks if not c.ok)
                   + "（见下表说明）", icon=":material/warning:")
    ui.table(pd.DataFrame([{"检查项": c.name, "状态": "正常" if c.ok else "异常", "说明": c.detail}
                           for c in report.checks]), "运行状况", key="health_checks")
    if report.figures:
        cols = st.columns(len(report.figures))
        for col, (label, value) in zip(cols, report.figures.items(), strict=True):
            col.metric(label, f"{value:,}")
        st.caption("以上为库中全部记录，不限时间范围（驾驶舱和各页默认统计近一年，故在办数可能较少）。")
    st.caption(f"检查用时 {report.took:.1f} 秒。")
