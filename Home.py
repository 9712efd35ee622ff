"""Leaders' cockpit (领导驾驶舱): the whole city at a glance, as of any day."""

from functools import partial

import pandas as pd
import streamlit as st

from lib import access, charts, geo, ui, views
from lib.lights import GREEN, GREY, LABELS, RED, SYMBOLS, YELLOW, fmt_time
from lib.queries import MIN_CASES, AreaThresholds, domain_kpis, grade, region_summary, unit_ranking

user = ui.require("cockpit")
url = ui.url()
cat = ui.catalog_frames(url)
own_unit = access.unit_scope(user)  # staff: their unit only; None: the whole city
counties = cat["counties"]

# -- Filters (kept in the URL: a link, or the back button, opens the same view) -------------
ui.adopt_url("cockpit", ("asof", "window", "county"))
names = dict(zip(counties["adcode"], counties["region"], strict=True))
st.sidebar.header("查看条件")
day = ui.pick_day(st.sidebar, "cockpit.asof", "看全市在这一天结束时的状况；今天为当前时刻。")
window_code = ui.pick_window(st.sidebar, "cockpit.window")


def _pick_from_map() -> None:
    """A click on the map selects that county (a second click, or a double click, clears it)."""
    event = st.session_state.get("county_map")
    picked = (event or {}).get("selection", {}).get("county") or []
    adcode = picked[0].get("adcode") if picked else None
    st.session_state["cockpit.county"] = adcode if adcode in names else ""


county = ui.choose(st.sidebar, "区县", "cockpit.county", names, all_label="全市",
                   help="也可以在地图上点击区县；双击地图空白处取消。")
view = views.View(day=None if day >= ui.today_local() else day, window=window_code,
                  county=county or None)
ui.publish_url("cockpit", view)
as_of = ui.as_of_for(ui.view_day(view))
window = view.window_days

_SEGMENT_FILTERS = {RED: {"light": RED, "state": "open"}, YELLOW: {"light": YELLOW},
                    GREEN: {"light": GREEN, "state": "open"}, GREY: {"light": GREY, "state": "open"}}


def _open_from_chart(key: str) -> None:
    """A click on a ranking bar or a domain's light opens that list (after this callback)."""
    picked = (st.session_state.get(key) or {}).get("selection", {})
    if picked.get("unit"):
        st.session_state["cockpit.open"] = (views.LIST_PAGE, view.but(unit=picked["unit"][0]["unit_code"]))
    elif picked.get("segment"):
        seg = picked["segment"][0]
        st.session_state["cockpit.open"] = (views.LIST_PAGE, view.but(
            domain=seg["domain_code"], **_SEGMENT_FILTERS[seg["light"]]))


if target := st.session_state.pop("cockpit.open", None):
    ui.go_to(*target)
window_name = views.WINDOW_LABELS[view.window]
region_name = names.get(view.county, "全市")
region_id = None
selected_adcode = view.county
if view.county:
    region_id = int(counties.loc[counties["adcode"] == view.county, "region_id"].iloc[0])

st.title("湛江市惩防体系电子监察综合平台")
scope = "全市" if region_id is None else region_name
if own_unit is not None:
    scope = f"{user.unit_name}（本单位）" + ("" if region_id is None else f" · {region_name}")
st.caption(f"领导驾驶舱 · {scope} · 截至 {fmt_time(as_of)} · 统计区间：{window_name}（在办事项及区间内办结事项）")
st.caption(ui.source_caption(as_of))

# -- The source's figures, read back from the data ------------------------------------------
fig = ui.source_figures(url, as_of)
with st.container(border=True):
    st.subheader("督查督办成效（全市）")
    c = st.columns(5)
    rate = fig.key_task_on_time_rate
    c[0].metric("重点工作督办完成", f"{fig.key_tasks_completed:,} 项",
                help=f"在办 {fig.key_tasks_open} 项")
    c[0].caption(f"按时办结率 {rate:.0%}" if rate is not None else "按时办结率 —")
    c[1].metric("重点项目在线监察", f"{fig.projects} 个", help="立项、招标、合同、进度、监理、安全生产、资金拨付逐节点监察")
    nrate = fig.node_on_time_rate
    c[1].caption(f"已完成 {fig.projects_completed} 个 · 节点按时完成率 {nrate:.0%}"
                 if nrate is not None else f"已完成 {fig.projects_completed} 个")
    c[2].metric("通报批评单位", f"{fig.units_criticized} 个")
    c[2].caption(f"问责处级、科级干部 {fig.officials_accountable} 名")
    c[3].metric("村务e路通", f"{fig.towns} 个乡镇")
    c[3].caption(f"{fig.villages:,} 个行政村 · 发布 {fig.disclosed_items / 10000:.1f} 万条 · "
                 f"点击 {fig.disclosure_views / 10000:.0f} 万次")
    c[4].metric("已建子系统", f"{fig.subsystems} 个")
    c[4].caption(f"六个方面，规划 {fig.planned_subsystems} 个子系统")

# -- One scan of the items, then every panel from it ----------------------------------------
all_counts = ui.light_counts(url, user, as_of, window)
counts = all_counts if region_id is None else all_counts[all_counts["region_id"] == region_id]
if counts.empty:
    st.info("所选范围内还没有监察事项。请选择其他日期或区县，或通过命令行 "
            "`python -m lib import items 文件.csv` 导入事项。")
    st.stop()

kpis = domain_kpis(counts, cat)
st.subheader("六个方面")
st.caption("点击数字打开这些事项的清单（同一查看日期、统计区间和区县），清单件数与此处一致。")
cols = st.columns(len(kpis))
for col, (_, k) in zip(cols, kpis.iterrows(), strict=True):
    code = k["domain_code"]
    # The domain's title opens its own page; each number opens the list of exactly those items.
    page = views.LIST_PAGE
    base = view.but(domain=code)
    with col.container(border=True):
        own = views.domain_page(code)
        ui.link_to(own, base, f"**{k['domain']}**", icon=":material/open_in_new:",
                   help=f"打开{k['domain']}" + ("页面" if own != views.LIST_PAGE else "的全部事项"))
        st.metric("在办事项", f"{k['open']:,}")
        ui.link_to(page, base.but(state="open"), f"在办 {k['open']:,} 件")
        ui.link_to(page, base.but(light=RED), f"{SYMBOLS[RED]} 红牌 {k['red']:,}",
                   help="逾期未办结及超期办结的事项")
        ui.link_to(page, base.but(light=RED, state="open"), f"其中在办逾期 {k['open_red']:,}")
        ui.link_to(page, base.but(light=YELLOW), f"{SYMBOLS[YELLOW]} 黄牌 {k['yellow']:,}",
                   help="在办、剩余时间不足总时限 20% 的事项")
        r = k["on_time_rate"]
        st.markdown(f"按时办结率 **{r:.1%}**" if pd.notna(r) else "按时办结率 —")

left, right = st.columns([3, 2])
with left:
    st.subheader("区县红黄绿灯")
    # The map always shows all nine, graded on their own items, whatever the county filter.
    regions = region_summary(all_counts, cat)
    values = {}
    for _, r in regions.iterrows():
        label = charts.GRADE_LABELS[r["grade"]]
        values[r["adcode"]] = {
            "grade": r["grade"], "grade_label": label, "symbol": SYMBOLS[r["grade"]],
            "map_label": f"{r['region']} {SYMBOLS[r['grade']]}",
            "total": int(r["total"]), "open": int(r["open"]), "red": int(r["red"]),
            "yellow": int(r["yellow"]),
            "red_rate_text": f"{r['red_rate']:.1%}" if r["total"] else "—",
        }
    features = geo.merge(geo.county_features(), values)
    ui.chart(charts.county_map(features, selected=selected_adcode), key="county_map",
             on_select=_pick_from_map, selection_mode="county")
    st.caption(f"灯色按红牌占比评定：{AreaThresholds().describe()}。■红 ▲黄 ●绿 ○灰。"
               "点击区县，驾驶舱只看该区县（浏览器“后退”回到全市）。")
with right:
    st.subheader("各方面在办事项灯色")
    ui.chart(charts.domain_lights_bar(kpis), key="domain_bars", on_select=partial(_open_from_chart, "domain_bars"),
             selection_mode="segment")
    st.caption("点击色段打开该方面该灯色的在办事项。")
    table = regions.assign(
        灯色=[f"{SYMBOLS[g]} {charts.GRADE_LABELS[g]}" for g in regions["grade"]],
        区县=regions["region"], 在监察=regions["total"], 红牌=regions["red"], 黄牌=regions["yellow"],
        红牌占比=[f"{x:.1%}" if t else "—" for x, t in zip(regions["red_rate"], regions["total"], strict=True)],
    )[["区县", "灯色", "在监察", "红牌", "黄牌", "红牌占比"]]
    ui.table(table, "区县灯色", key="home_regions")

# -- Ranking of units -----------------------------------------------------------------------
st.subheader("单位排名（按时办结率）")
st.caption("此处只按按时办结率排序；工作量、效率、满意度、网上测评、亮牌六项综合得分及定期公布的排名见“行政效能”。")
ranking = unit_ranking(counts, cat)
ranked = ranking[ranking["ranked"]]
if own_unit is not None:
    st.info("部门经办人只能查看本单位的数据；全市排名由纪检监察机关定期公布。")
elif ranked.empty:
    st.info(f"所选范围内没有办结 {MIN_CASES} 件以上事项的单位，暂无排名。")
else:
    top, bottom = st.columns(2)
    with top:
        ui.chart(charts.ranking_bar(ranked.head(5), title="红榜 · 前五名", color="#2ca02c"),
                 key="rank_top", on_select=partial(_open_from_chart, "rank_top"),
                 selection_mode="unit")
    worst = ranked.tail(5).iloc[::-1]
    with bottom:
        ui.chart(charts.ranking_bar(worst, title="黑榜 · 后五名", color="#d62728"),
                 key="rank_bottom", on_select=partial(_open_from_chart, "rank_bottom"),
                 selection_mode="unit")
    st.caption("点击条形打开该单位的事项清单（红牌在前）。")
    with st.expander(f"全部单位排名（按时办结率；办结 {MIN_CASES} 件以上的 {len(ranked)} 个单位参与排名，"
                     f"{len(ranking) - len(ranked)} 个不参与）"):
        full = ranking.assign(
            名次=ranking["rank"].map(lambda x: "—" if pd.isna(x) else str(int(x))),
            单位=ranking["unit"], 办结=ranking["closed"], 按时办结=ranking["on_time"],
            按时办结率=[f"{x:.1%}" if pd.notna(x) else "—" for x in ranking["on_time_rate"]],
            灯=[f"{SYMBOLS[g]}" for g in (grade(r, t) for r, t in zip(ranking["red"], ranking["total"], strict=True))],
            红牌=ranking["red"], 在办=ranking["open"], 说明=ranking["not_ranked_reason"],
        )[["名次", "单位", "办结", "按时办结", "按时办结率", "红牌", "在办", "灯", "说明"]]
        ui.table(full, "单位排名", key="home_ranking")

# -- Latest red cards, each with its why ----------------------------------------------------
st.subheader("最新红牌")
ui.link_to(views.LIST_PAGE, view.but(light=RED), "查看全部红牌（逾期最久的在前）",
           icon=":material/format_list_bulleted:")
reds = ui.latest_red(url, user, as_of, region_id)
if not reds:
    st.success(f"{scope}截至 {fmt_time(as_of)} 没有红牌。")
else:
    ui.table(ui.items_frame(reds), "最新红牌", key="home_reds")
    st.markdown("**为什么是红牌？**")
    for r in reds:
        with st.expander(f"{SYMBOLS['red']} {r.external_id} · {r.unit} · {r.reason}"):
            ui.explain(r)

st.caption(f"灯色含义：{SYMBOLS['red']} {LABELS['red']}（逾期未办结或超期办结）；"
           f"{SYMBOLS['yellow']} {LABELS['yellow']}（剩余时间不足总时限的 20%）；"
           f"{SYMBOLS['green']} {LABELS['green']}；{SYMBOLS[GREY]} {LABELS[GREY]}（缺少判定所需数据）。")
