"""Altair charts shared by the pages: the same light colours everywhere, never colour alone.

Each builder returns a Vega-Lite spec (a dict) for `lib.ui.chart`. Building an Altair chart
validates every channel against the schema, which cost more than the rest of a page run, so each
chart's structure is built once, when this module is imported, with placeholders for what
varies between pages (a title, a colour, the selected county, the height); a run fills them in
and puts its data in as a named dataset.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache

import altair as alt
import pandas as pd

from lib.catalog import DOMAINS
from lib.lights import COLORS, GREEN, GREY, LABELS, RED, SYMBOLS, YELLOW

LIGHT_ORDER = [RED, YELLOW, GREEN, GREY]
GRADE_LABELS = {RED: "红", YELLOW: "黄", GREEN: "绿", GREY: "灰（数据不足）"}


def light_scale() -> alt.Scale:
    """Colour scale over the light labels (红牌, 黄牌, 绿灯, 资料不全)."""
    return alt.Scale(domain=[LABELS[x] for x in LIGHT_ORDER], range=[COLORS[x] for x in LIGHT_ORDER])


def grade_scale() -> alt.Scale:
    return alt.Scale(domain=[GRADE_LABELS[x] for x in LIGHT_ORDER],
                     range=[COLORS[x] for x in LIGHT_ORDER])


def _with_data(template: dict, name: str, values: list[dict]) -> dict:
    spec = copy.deepcopy(template)
    spec["datasets"] = {name: values}
    return spec


# Bars of units: the width fits the page, the height is the bars' own (28 pixels a unit). With
# Streamlit's default (`fit`, padding included) the title and the axis were taken out of that
# height, and five bars were drawn 15 pixels apart.
BARS_AUTOSIZE = alt.AutoSizeParams(type="fit-x", contains="padding")

# Placeholders in a template's text, replaced by `_filled` (never a value a chart shows).
TITLE, COLOR, SELECTED = "@@title@@", "#ab0de0", "@@selected@@"


def _filled(template: dict, height: int, **values: str) -> dict:
    """A copy of the template with its placeholders (TITLE, COLOR, SELECTED) replaced by the
    given values, and its height set."""
    by_placeholder = {{"title": TITLE, "color": COLOR, "selected": SELECTED}[key]:
                      json.dumps(str(value), ensure_ascii=False)[1:-1]
                      for key, value in values.items()}
    text = json.dumps(template, ensure_ascii=False)
    if by_placeholder:  # one pass: a filled value is never read again as a placeholder
        text = re.sub("|".join(re.escape(p) for p in by_placeholder),
                      lambda m: by_placeholder[m.group(0)], text)
    spec = json.loads(text)
    spec["height"] = height
    return spec


def _county_map_base() -> dict:
    data = alt.Data(name="counties")
    click = alt.selection_point(name="county", fields=["adcode"], on="click", clear="dblclick")
    base = alt.Chart(data).project(type="mercator")
    is_selected = f"datum.properties.adcode === '{SELECTED}'"
    shapes = base.mark_geoshape(strokeWidth=1.2).encode(
        color=alt.Color("properties.grade_label:N", scale=grade_scale(),
                        legend=alt.Legend(title="灯色", orient="bottom-right")),
        stroke=alt.condition(is_selected, alt.value("#1f2d3d"), alt.value("white")),
        strokeWidth=alt.condition(is_selected, alt.value(3), alt.value(1.2)),
        opacity=alt.value(0.9),
        tooltip=[
            alt.Tooltip("properties.name:N", title="区县"),
            alt.Tooltip("properties.grade_label:N", title="灯色"),
            alt.Tooltip("properties.total:Q", title="在监察事项"),
            alt.Tooltip("properties.open:Q", title="在办"),
            alt.Tooltip("properties.red:Q", title="红牌"),
            alt.Tooltip("properties.yellow:Q", title="黄牌"),
            alt.Tooltip("properties.red_rate_text:N", title="红牌占比"),
        ],
    ).transform_calculate(adcode="datum.properties.adcode").add_params(click)
    return alt.layer(shapes, *_name_layers(base)).to_dict(validate=False)


def _name_layers(base: alt.Chart) -> list[alt.Chart]:
    """The counties' names: inside each large county; for the small urban districts
    (`properties.callout`), outside in the sea with a leader line and a dot (lib.geo.CALLOUTS)."""
    inside = "!datum.properties.callout"
    outside = "datum.properties.callout"
    lines = base.mark_rule(color="#1f2d3d", strokeWidth=1).encode(
        longitude="properties.anchor_lon:Q", latitude="properties.anchor_lat:Q",
        longitude2="properties.label_lon:Q", latitude2="properties.label_lat:Q",
    ).transform_filter(outside)
    dots = base.mark_circle(color="#1f2d3d", size=18, opacity=1).encode(
        longitude="properties.anchor_lon:Q", latitude="properties.anchor_lat:Q",
    ).transform_filter(outside)
    text = {"fontSize": 12, "fontWeight": "bold", "color": "#111"}
    names_in = base.mark_text(**text).encode(
        longitude="properties.label_lon:Q", latitude="properties.label_lat:Q",
        text="properties.map_label:N").transform_filter(inside)
    names_out = base.mark_text(align="left", dx=3, **text).encode(
        longitude="properties.label_lon:Q", latitude="properties.label_lat:Q",
        text="properties.map_label:N").transform_filter(outside)
    return [lines, dots, names_in, names_out]


def county_map(features: list[dict], *, selected: str | None = None, height: int = 460) -> dict:
    """Choropleth of the nine county-level units by grade, names and symbols written on it;
    a click selects a county (selection parameter `county`, field `adcode`).

    Each feature's properties need: adcode, name, grade_label, map_label, the name's place
    (label_lon/lat, anchor_lon/lat, callout: see lib.geo.merge), and the tooltip fields total,
    open, red, yellow, red_rate_text."""
    return _with_data(_county_map_template(selected or "", height), "counties", features)


@lru_cache(maxsize=16)
def _county_map_template(selected: str, height: int) -> dict:
    return _filled(_COUNTY_MAP, height, selected=selected)


@lru_cache(maxsize=16)
def _domain_bar_template(domains: tuple[str, ...]) -> dict:
    click = alt.selection_point(name="segment", fields=["domain_code", "light"], on="click")
    return alt.Chart(alt.Data(name="lights")).mark_bar(cursor="pointer").encode(
        y=alt.Y("领域:N", sort=list(domains), title=None),
        x=alt.X("件数:Q", title="在办事项（件）", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("灯色:N", scale=light_scale(), legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q"),
        tooltip=["领域:N", "灯色:N", "件数:Q"],
    ).add_params(click).properties(height=220).to_dict(validate=False)


def domain_lights_bar(kpis: pd.DataFrame) -> dict:
    """Stacked bars: each domain's open items by light; a click selects a segment (selection
    parameter `segment`, fields `domain_code` and `light`)."""
    rows = []
    for _, r in kpis.iterrows():
        green_open = int(r["open"] - r["open_red"] - r["yellow"] - r.get("grey", 0))
        for light, n in ((RED, r["open_red"]), (YELLOW, r["yellow"]), (GREEN, green_open),
                         (GREY, r.get("grey", 0))):
            rows.append({"领域": r["domain"], "domain_code": r.get("domain_code"),
                         "灯色": LABELS[light], "light": light, "标记": SYMBOLS[light],
                         "件数": int(n), "order": LIGHT_ORDER.index(light)})
    return _with_data(_domain_bar_template(tuple(kpis["domain"])), "lights", rows)


def _ranking_base() -> dict:
    click = alt.selection_point(name="unit", fields=["unit_code"], on="click")
    bars = alt.Chart(alt.Data(name="ranking")).mark_bar(color=COLOR, cursor="pointer").encode(
        y=alt.Y("单位:N", sort=None, title=None),
        x=alt.X("按时办结率:Q", title="按时办结率（%）", scale=alt.Scale(domain=[0, 100])),
        tooltip=["名次:N", "单位:N", "按时办结率:Q", alt.Tooltip("红牌:Q", title="红牌")],
    ).add_params(click)
    text = alt.Chart(alt.Data(name="ranking")).mark_text(align="left", dx=3).encode(
        y=alt.Y("单位:N", sort=None, title=None), x="按时办结率:Q",
        text=alt.Text("按时办结率:Q", format=".1f"))
    return (bars + text).properties(title=TITLE, autosize=BARS_AUTOSIZE).to_dict(validate=False)


@lru_cache(maxsize=16)
def _ranking_template(title: str, color: str, rows: int) -> dict:
    return _filled(_RANKING, 28 * max(1, rows), title=title, color=color)


def ranking_bar(df: pd.DataFrame, *, title: str, color: str) -> dict:
    """Horizontal bars of units' on-time rates (df: unit, unit_code, on_time_rate, rank, red);
    a click selects a unit (selection parameter `unit`, field `unit_code`)."""
    rows = [{"单位": r["unit"], "unit_code": r.get("unit_code"),
             "按时办结率": round(float(r["on_time_rate"]) * 100, 1),
             "名次": str(r["rank"]), "红牌": int(r["red"])} for _, r in df.iterrows()]
    return _with_data(_ranking_template(title, color, len(rows)), "ranking", rows)


@lru_cache(maxsize=4)
def _timeline_template(rows: int) -> dict:
    base = alt.Chart(alt.Data(name="nodes"))
    bars = base.mark_bar(height=14).encode(
        y=alt.Y("节点:N", sort=None, title=None),
        x=alt.X("计划开始:T", title=None, axis=alt.Axis(format="%Y-%m")),
        x2="计划完成:T",
        color=alt.Color("灯色:N", scale=light_scale(), legend=alt.Legend(orient="bottom")),
        tooltip=["节点:N", "计划开始:T", "计划完成:T", "完成进度:Q", "灯色:N", "原因:N"],
    )
    today = base.mark_rule(color="#1f2d3d", strokeDash=[4, 3]).encode(x="今天:T")
    return (bars + today).properties(height=34 * max(1, rows)).to_dict(validate=False)


def project_timeline(nodes: list[dict], today) -> dict:
    """A Gantt of a project's nodes: planned windows coloured by light, today as a dashed rule."""
    rows = [{"节点": f"{n['seq']}. {n['node']}", "计划开始": n["planned_start"].isoformat(),
             "计划完成": n["planned_end"].isoformat(), "完成进度": n["percent_done"],
             "灯色": LABELS[n["light"]], "原因": n["reason"], "今天": today.isoformat()}
            for n in nodes]
    return _with_data(_timeline_template(len(rows)), "nodes", rows)


def _score_bar_base() -> dict:
    bars = alt.Chart(alt.Data(name="scores")).mark_bar(color=COLOR).encode(
        y=alt.Y("名称:N", sort=None, title=None),
        x=alt.X("得分:Q", title="综合得分", scale=alt.Scale(domain=[0, 100])),
        tooltip=["名次:N", "名称:N", alt.Tooltip("得分:Q", format=".2f"), "等次:N"],
    )
    text = bars.mark_text(align="left", dx=3).encode(text=alt.Text("得分:Q", format=".2f"))
    return (bars + text).properties(title=TITLE, autosize=BARS_AUTOSIZE).to_dict(validate=False)


@lru_cache(maxsize=16)
def _score_bar_template(title: str, color: str, rows: int) -> dict:
    return _filled(_SCORE_BAR, 28 * max(1, rows), title=title, color=color)


def score_bar(rows: list[dict], *, title: str, color: str) -> dict:
    """Horizontal bars of scores (rows from lib.scoring: name, score, rank, tie, grade)."""
    data = [{"名称": f"{r['rank']}. {r['name']}" + (f"（{r['unit']}）" if r["name"] != r["unit"]
                                                     else ""), "得分": r["score"],
             "名次": f"{r['rank']}（并列）" if r.get("tie") else str(r["rank"]),
             "等次": r["grade"]} for r in rows]
    return _with_data(_score_bar_template(title, color, len(data)), "scores", data)


def _score_map_base() -> dict:
    base = alt.Chart(alt.Data(name="counties")).project(type="mercator")
    valid = "isValid(datum.properties.avg)"
    shapes = base.mark_geoshape(stroke="white", strokeWidth=1.2).encode(
        color=alt.condition(
            valid,
            alt.Color("properties.avg:Q", title="平均得分",
                      scale=alt.Scale(scheme="redyellowgreen", domain=[50, 100], clamp=True),
                      legend=alt.Legend(orient="bottom-right")),
            alt.value("#d9d9d9")),
        tooltip=[alt.Tooltip("properties.name:N", title="区县"),
                 alt.Tooltip("properties.avg_text:N", title="平均得分"),
                 alt.Tooltip("properties.units:Q", title="参与排名单位")],
    )
    return alt.layer(shapes, *_name_layers(base)).to_dict(validate=False)


@lru_cache(maxsize=4)
def _score_map_template(height: int) -> dict:
    return _filled(_SCORE_MAP, height)


def county_score_map(features: list[dict], height: int = 420) -> dict:
    """The nine county-level units coloured by the mean score of their ranked units (grey: no
    ranked unit). Properties: name, avg (or None), avg_text, units, map_label, label_lon/lat."""
    return _with_data(_score_map_template(height), "counties", features)


CURVE_SERIES = ["实际支出", "序时进度"]


def _execution_curves_base() -> dict:
    series = alt.Scale(domain=CURVE_SERIES, range=["#1f77b4", "#9e9e9e"])
    return alt.Chart(alt.Data(name="curves")).mark_line().encode(
        x=alt.X("day:T", title=None, axis=alt.Axis(format="%m月")),
        y=alt.Y("share:Q", title="占预算", axis=alt.Axis(format="%")),
        color=alt.Color("series:N", title=None, scale=series),
        strokeDash=alt.StrokeDash("series:N", legend=None,
                                  scale=alt.Scale(domain=CURVE_SERIES, range=[[1, 0], [5, 4]])),
        tooltip=[alt.Tooltip("line_name:N", title="资金类别"), alt.Tooltip("day:T", title="日期"),
                 alt.Tooltip("series:N", title="系列"),
                 alt.Tooltip("share:Q", title="占预算", format=".1%")],
    ).properties(width=260, height=160).facet(
        facet=alt.Facet("line_name:N", title=None), columns=3).to_dict(validate=False)


def execution_curves(df: pd.DataFrame) -> dict:
    """Small multiples, one per fund line: cumulative spending as a share of the budget (solid)
    beside the time-proportional plan (dashed). df: line_name, day, series, share
    (`lib.domains.funds.store.execution_curves`)."""
    # The rows as Altair writes a frame's (a day as local ISO time), without its conversion
    # machinery (narwhals: 0.03 s to import on a process's first chart).
    values = [{"line_name": line, "day": pd.Timestamp(day).strftime("%Y-%m-%dT%H:%M:%S"),
               "series": series, "share": float(share)}
              for line, day, series, share in zip(df["line_name"], df["day"], df["series"],
                                                  df["share"], strict=True)]
    return _with_data(_EXECUTION_CURVES, "curves", values)


def _monthly_line_base() -> dict:
    return alt.Chart(alt.Data(name="months")).mark_line(point=True).encode(
        x=alt.X("月份:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=TITLE, axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("月份:O", title="月份"),
                 alt.Tooltip("value:Q", title=TITLE, format=".1%"),
                 alt.Tooltip("basis:N", title="依据")],
    ).to_dict(validate=False)


@lru_cache(maxsize=8)
def _monthly_line_template(title: str, height: int) -> dict:
    return _filled(_MONTHLY_LINE, height, title=title)


def monthly_share_line(df: pd.DataFrame, column: str, *, height: int = 180,
                       count: str | None = None, unit: str = "件") -> dict:
    """A share (0–1) by month as a line with its points, the column's name as the axis title and
    in the tooltip, and how many it rests on (`count`, a column of df, shown as "N `unit`": a
    month of one rating is not read as a month of many). df: 月份 (YYYY-MM), `column`.
    (Streamlit's `st.line_chart` builds and validates an Altair chart on every run: 0.15 s.)"""
    counts = df[count].tolist() if count else [None] * len(df)
    values = [{"月份": str(m), "value": None if pd.isna(v) else float(v),
               "basis": "—" if n is None or pd.isna(n) else f"{int(n)} {unit}"}
              for m, v, n in zip(df["月份"], df[column], counts, strict=True)]
    return _with_data(_monthly_line_template(column, height), "months", values)


def _monthly_bars_base() -> dict:
    return alt.Chart(alt.Data(name="counts")).mark_bar().encode(
        x=alt.X("月份:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("件数:Q", title=TITLE, stack="zero", axis=alt.Axis(tickMinStep=1, format="d")),
        # The legend on the right: at the bottom its rows (a rule each) took the plot's height.
        # Every series listed (symbolLimit 0): the chart is made as tall as its legend.
        # Twenty colours (the default ten repeated from the eleventh rule on).
        color=alt.Color("series:N", title=None, scale=alt.Scale(scheme="tableau20"),
                        legend=alt.Legend(orient="right", labelLimit=260, symbolLimit=0)),
        tooltip=[alt.Tooltip("月份:O", title="月份"), alt.Tooltip("series:N", title="系列"),
                 alt.Tooltip("件数:Q", title="件数")],
    ).to_dict(validate=False)


@lru_cache(maxsize=8)
def _monthly_bars_template(title: str, height: int) -> dict:
    return _filled(_MONTHLY_BARS, height, title=title)


LEGEND_ROW = 18  # pixels per entry of a legend on the right (a 12 px label and its gap)


def monthly_stacked_bars(pivot: pd.DataFrame, *, title: str = "件数", height: int = 260) -> dict:
    """Counts by month stacked by series: `pivot` indexed by 月份 with one column per series
    (as `pivot_table` gives), zero counts left out. The chart is at least as tall as its legend
    (22 rules' legend was cut after 18 in a chart of 260 pixels)."""
    values = [{"月份": str(month), "series": str(series), "件数": int(n)}
              for month, row in pivot.iterrows() for series, n in row.items() if n]
    shown = len({v["series"] for v in values})
    return _with_data(_monthly_bars_template(title, max(height, LEGEND_ROW * shown)), "counts",
                      values)


# Built once per process, when the module is imported (validating the channels took 0.09 s for
# the county map alone, on every page's first run).
_COUNTY_MAP = _county_map_base()
_RANKING = _ranking_base()
_SCORE_BAR = _score_bar_base()
_SCORE_MAP = _score_map_base()
_EXECUTION_CURVES = _execution_curves_base()
_MONTHLY_LINE = _monthly_line_base()
_MONTHLY_BARS = _monthly_bars_base()
_domain_bar_template(tuple(name for _, name in DOMAINS))  # the cockpit's six domains, in order
