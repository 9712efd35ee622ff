"""行政效能: every unit, post and person scored and ranked, why each score is what it is (down to
the items), the county map of average scores, publication of finished periods, and exports."""

import pandas as pd
import streamlit as st

from lib import charts, geo, scoring, scoring_export, ui
from lib.access import PermissionDenied, actor_for, can, unit_scope
from lib.clock import now_utc
from lib.lights import fmt_time

user = ui.require("efficiency")
try:
    own_unit = unit_scope(user)  # staff: their unit only
except PermissionDenied as exc:
    st.error(str(exc))
    st.stop()


def _delta(row: dict) -> str | None:
    """Rank moves for st.metric: '+3' (up, green), '-1' (down, red)."""
    return f"{row['move']:+d} 名" if row.get("move") else None


url = ui.url()
KINDS = {"季度": "quarter", "月度": "month", "年度": "year"}
LEVEL_NAMES = {v: k for k, v in scoring.LEVELS.items()}

# -- What to look at ------------------------------------------------------------------------
now = now_utc()
st.sidebar.header("考核条件")
kind = KINDS[st.sidebar.radio("考核周期", list(KINDS), horizontal=True, key="eff_kind")]
periods = scoring.recent_periods(now, kind, {"month": 12, "quarter": 8, "year": 4}[kind])
by_code = {p.code: p for p in periods}
finished = [p.code for p in periods if p.end <= now]
period = by_code[st.sidebar.selectbox(
    "考核期", list(by_code), index=list(by_code).index(finished[0]) if finished else 0,
    format_func=lambda c: by_code[c].label + ("（进行中）" if by_code[c].end > now else ""),
    key=f"eff_period_{kind}")]
level = LEVEL_NAMES[st.sidebar.radio("排名层级", list(LEVEL_NAMES), horizontal=True,
                                     key="eff_level")]
snaps = {(x["period"], x["level"]): x for x in ui.published_snapshots(url, None)}
snap = snaps.get((period.code, level))
use_snapshot = snap is not None and st.sidebar.radio(
    "数据", ["已公布的排名", "实时计算"], key="eff_source",
    help="公布的排名是冻结的快照，之后数据的任何变化都不会改变它；实时计算反映当前数据。"
) == "已公布的排名"

live = None
if use_snapshot:
    rows = snap["rows"]
    scheme = scoring.Scheme.from_dict(snap["scheme"])
    prev_snap = snaps.get((period.previous().code, level))
    prev_rows = prev_snap["rows"] if prev_snap else None
    status = (f"已公布（{fmt_time(snap['published_at'])}，{actor_for(user, snap['published_by'])}）· "
              + ("哈希校验通过" if snap["valid"] else "哈希校验失败：快照可能被篡改"))
    as_of = snap["as_of"]
else:
    live = ui.ranking(url, period.code, level, ui.scoring_as_of(period))
    rows, scheme, as_of = live.rows(), live.scheme, live.as_of
    prev = period.previous()
    prev_rows = ui.ranking(url, prev.code, level, ui.scoring_as_of(prev)).rows()
    status = "实时计算，尚未公布" + ("；考核期进行中，得分随办理情况变化" if period.end > now else "")

with ui.read() as s:
    rows = scoring.visible(s, scoring.compare(rows, prev_rows), user, level)
ranked = [r for r in rows if r["ranked"]]
level_name = scoring.LEVELS[level]

st.title("行政效能考核")
st.caption(f"{period.label} · {level_name}排名 · {status} · 数据截至 {scoring.as_of_text(as_of)}")
if snap is not None and not snap["valid"]:
    st.error("该期公布的排名快照与公布时的哈希不符，请立即报告系统管理员核查。")

c = st.columns(4)
if own_unit is None:
    c[0].metric(f"参与排名的{level_name}", f"{len(ranked)} / {len(rows)}")
    c[1].metric("平均得分", f"{sum(r['score'] for r in ranked) / len(ranked):.2f}" if ranked else "—")
    c[2].metric("优秀", sum(1 for r in ranked if r["grade"] == "优秀"))
    c[3].metric("不合格", sum(1 for r in ranked if r["grade"] == "不合格"),
                help=f"得分低于 {scheme.passing} 分")
elif level == "unit" and rows:
    mine = rows[0]
    c[0].metric("本单位得分", f"{mine['score']:.2f}" if mine["ranked"] else "—")
    c[1].metric("全市名次", scoring.rank_text(mine), _delta(mine))
    c[2].metric("等次", mine["grade"] or "—")
    c[3].metric("考核事项", mine["cases"])

tab_rank, tab_why, tab_publish, tab_method = st.tabs(["排名", "得分说明", "公布与历史", "考核办法"])

# -- Rankings -------------------------------------------------------------------------------
with tab_rank:
    if not rows:
        st.info("没有可显示的数据。")
    elif own_unit is not None:
        st.info("部门经办人只能查看本单位的考核情况；全市排名由纪检监察机关定期公布，"
                "可在群众门户“效能排名与网上测评”查看。")
        ui.table(ui.scores_table(scoring.frame(rows, level, with_move=True)), "本单位考核", key="eff_own")
    elif not ranked:
        st.info(f"{period.label}没有参与排名的{level_name}。考核事项按办理期限所在月份计入；"
                f"考核期内已办结或已到期的事项不少于 {scheme.min_cases} 件方参与排名。"
                "请选择其他考核期，或先导入监察事项。")
    else:
        top, bottom = st.columns(2)
        with top:
            ui.chart(charts.score_bar(ranked[:5], title="红榜 · 前五名", color="#2ca02c"))
        with bottom:
            ui.chart(charts.score_bar(ranked[-5:][::-1], title="黑榜 · 后五名", color="#d62728"))
        if level == "unit":
            st.subheader("区县平均得分")
            averages = scoring.county_averages(rows)
            values = {}
            for f in geo.county_features():
                code, name = f["properties"]["adcode"], f["properties"]["name"]
                a = averages.get(code)
                values[code] = {"avg": a["avg"] if a else None,
                                "avg_text": f"{a['avg']:.2f}" if a else "无参与排名单位",
                                "units": a["units"] if a else 0,
                                "map_label": f"{name} {a['avg']:.1f}" if a else name}
            left, right = st.columns([3, 2])
            with left:
                ui.chart(charts.county_score_map(geo.merge(geo.county_features(), values)))
            with right:
                table = pd.DataFrame([{"区县": f["properties"]["name"],
                                       "平均得分": values[f["properties"]["adcode"]]["avg"],
                                       "参与排名单位": values[f["properties"]["adcode"]]["units"]}
                                      for f in geo.county_features()])
                ui.table(table.sort_values("平均得分", ascending=False), "各县区平均得分", key="eff_county")
                st.caption("各县（市、区）所属单位得分的平均值；市直单位不计入地图。灰色：没有参与排名的单位。")
        st.subheader(f"全部{level_name}（{len(ranked)} 个参与排名，{len(rows) - len(ranked)} 个不参与）")
        ui.table(ui.scores_table(scoring.frame(rows, level, with_move=True)), "行政效能排名", key="eff_all")
        st.caption("较上期：▲ 上升、▼ 下降的名次数，— 名次不变，新：上期未参与排名。"
                   "得分相同（保留两位小数）者名次并列，其后名次顺延。")
    if rows:
        meta = scoring_export.ReportMeta(period.label, level, status, scoring.as_of_text(as_of),
                                         snap["hash"] if use_snapshot else None)
        d1, d2 = st.columns(2)
        # Built when clicked (a callable), not on every run of the page.
        d1.download_button("导出排名报表（Excel，含考核办法）",
                           lambda: scoring_export.excel(rows, meta, scheme, with_move=True),
                           file_name=f"行政效能排名_{period.code}_{level}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        d2.download_button("下载打印版报告（HTML，可直接打印或另存为 PDF）",
                           lambda: scoring_export.printable_html(rows, meta, scheme,
                                                                 with_move=True).encode("utf-8"),
                           file_name=f"行政效能排名_{period.code}_{level}.html", mime="text/html")

# -- Why this score -------------------------------------------------------------------------
with tab_why:
    if not rows:
        st.info("没有可说明的得分。")
    else:
        codes = [r["code"] for r in rows]
        by_row = {r["code"]: r for r in rows}
        code = st.selectbox(
            f"选择{level_name}", codes, key=f"eff_why_{level}",
            format_func=lambda x: f"{scoring.rank_text(by_row[x])} · {by_row[x]['name']}"
            + (f"（{by_row[x]['unit']}）" if level != "unit" else ""))
        row = by_row[code]
        m = st.columns(4)
        m[0].metric("综合得分", f"{row['score']:.2f}" if row["ranked"] else "—")
        m[1].metric("名次", scoring.rank_text(row), _delta(row), help="较上期名次变化")
        m[2].metric("等次", row["grade"] or "—")
        m[3].metric("上期名次", row["prev_rank"] or "—")
        if not row["ranked"]:
            st.warning(row["reason"])
        else:
            ui.table(scoring.explain(row, scheme), "得分说明", key="eff_explain")
            st.caption("得分贡献 = 指标值 × 实际权重 ÷ 100，各项之和即综合得分。" if period.kind == "month"
                       else "季度、年度的各列为各月按考核事项数加权的平均值，得分贡献之和即综合得分。")
        for line in scoring.basis(row, scheme):
            st.markdown(f"- {line}")
        if live is not None and period.kind != "month" and row["months_scored"]:
            months = live.monthly[live.monthly["code"] == code].sort_values("month")
            st.markdown("**各月得分**（季度、年度得分为各月得分按考核事项数加权的平均值）")
            ui.table(pd.DataFrame({
                "月份": [f"{x // 100}-{x % 100:02d}" for x in months["month"]],
                "考核事项": months["cases"], "得分": months["score"].round(2),
                "说明": ["" if pd.notna(x) else "当月没有已办结或已到期的事项，不计分"
                       for x in months["score"]],
            }), "各月得分", key="eff_months")
        with st.expander("计分事项明细" + ("（当前数据）" if use_snapshot else ""), expanded=False):
            try:
                items = ui.items_behind(url, user, period.code, level, code,
                                        ui.scoring_as_of(period))
            except (PermissionDenied, scoring.ScoringError) as exc:
                st.error(str(exc))
            else:
                if items.empty:
                    st.info("本期没有该对象的考核事项。")
                else:
                    ui.table(items, "计分事项", key="eff_items")

# -- Publication and history ----------------------------------------------------------------
with tab_publish:
    if notice := st.session_state.pop("eff_notice", None):
        st.success(notice)
    if can(user, "publish_rankings"):
        st.subheader("公布本期排名")
        if snap is not None:
            st.info(f"{period.label}{level_name}排名已于 {fmt_time(snap['published_at'])} 公布，"
                    f"公布后不可更改。哈希：`{snap['hash']}`")
        elif period.end > now:
            st.info(f"{period.label}尚未结束，{fmt_time(period.end)} 起方可公布。")
        elif not ranked:
            st.info(f"{period.label}没有参与排名的{level_name}，无需公布。")
        else:
            with st.form("publish"):
                st.markdown(f"将按考核期结束时（{scoring.as_of_text(period.end)}）的数据冻结 **{period.label}"
                            f"{level_name}排名**（{len(ranked)} 个参与排名），连同所用考核办法和哈希值一并保存；"
                            "公布后任何人都不能修改或删除，单位排名同时在群众门户公开。")
                confirm = st.checkbox("我已核对本期排名，知悉公布后不可更改", key="publish_confirm")
                if st.form_submit_button("公布", type="primary"):
                    if not confirm:
                        st.error("请先勾选确认。")
                    else:
                        try:
                            digest = ui.write(
                                lambda s: scoring.publish(s, user, period, level).hash)
                        except (scoring.ScoringError, PermissionDenied) as exc:
                            st.error(str(exc))
                        else:
                            ui.clear_data_caches()
                            st.session_state["eff_notice"] = (
                                f"已公布 {period.label}{level_name}排名，哈希 {digest}")
                            st.rerun()
    st.subheader("已公布的排名")
    history = [x for x in snaps.values()]
    if not history:
        st.info("还没有公布过排名。考核期结束后，由纪检监察机关或系统管理员在本页公布。")
    else:
        history.sort(key=lambda x: x["published_at"], reverse=True)
        ui.table(pd.DataFrame([{
            "考核期": scoring.Period.parse(x["period"]).label, "层级": scoring.LEVELS[x["level"]],
            "公布时间": fmt_time(x["published_at"]), "公布人": actor_for(user, x["published_by"]),
            "参与排名": sum(1 for r in x["rows"] if r["ranked"]),
            "校验": "✓ 通过" if x["valid"] else "✗ 不符", "哈希": x["hash"],
        } for x in history]), "公布记录", key="eff_history")
        st.caption("在左侧选择考核期和层级即可查看任一期公布的排名。")
        years = sorted({scoring.Period.parse(x["period"]).year for x in history}, reverse=True)
        st.subheader("年度汇总（年度考核依据）")
        year = st.selectbox("年度", years, key="eff_year")
        summary = scoring.summarize_year(
            [(x["period"], x["rows"]) for x in history if x["level"] == "unit"], year)
        if own_unit is not None and not summary.empty:
            own_code = next((r["unit_code"] for r in rows), None)
            summary = summary[summary["单位代码"] == own_code]
        ui.table(ui.scores_table(summary), "年度汇总", key="eff_year")
        st.caption("各列为该年度已公布各期的单位得分（未参与排名为“—”）；"
                   f"“{scoring.QUARTER_MEAN}”为参与排名的已公布季度得分的平均；年度排名公布后另列年度名次和等次。")

# -- The method ------------------------------------------------------------------------------
with tab_method:
    for line in scheme.describe():
        st.markdown(f"- {line}")
    ui.table(pd.DataFrame([{"指标": i.label, "权重": scheme.weights[i.code], "计算方法": i.how}
                               for i in scoring.INDICATORS]), "考核指标", key="eff_method")
    st.markdown(
        "- 考核事项按**办理期限所在月份**计入，按该月结束时（进行中的月份按当前时刻）的状态评判，"
        "每件事项只在一个月计分；季度、年度得分为计分月份得分的平均值。\n"
        "- 某项指标无数据（如无人评价）时不计该项，其权重按比例分配给其他指标，并在得分说明中列明。\n"
        "- 经申诉撤销的红牌不扣分，该事项计为按时办结。")
    if use_snapshot:
        st.caption("以上为该期公布时所用的考核办法。")
    elif can(user, "manage_settings"):
        st.caption("系统管理员可在“系统设置 → 考核办法”中调整权重、扣分和等次分数线。")
