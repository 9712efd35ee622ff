"""Altair charts shared by the pages: the same light colours everywhere, never colour alone."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.lights import COLORS, GREEN, GREY, LABELS, RED, SYMBOLS, YELLOW

LIGHT_ORDER = [RED, YELLOW, GREEN, GREY]


def light_scale(kind: str = "label") -> alt.Scale:
    """Colour scale over the light labels (红牌, 黄牌, 绿灯, 资料不全)."""
    return alt.Scale(domain=[LABELS[x] for x in LIGHT_ORDER], range=[COLORS[x] for x in LIGHT_ORDER])


GRADE_LABELS = {RED: "红", YELLOW: "黄", GREEN: "绿", GREY: "灰（数据不足）"}


def grade_scale() -> alt.Scale:
    return alt.Scale(domain=[GRADE_LABELS[x] for x in LIGHT_ORDER],
                     range=[COLORS[x] for x in LIGHT_ORDER])


def county_map(features: list[dict], *, selected: str | None = None, height: int = 460) -> dict:
    """Choropleth of the nine county-level units by grade, with names and symbols written on it,
    as a Vega-Lite spec for `st.vega_lite_chart` (click selection parameter: `county`).

    Each feature's properties need: adcode, name, grade_label, map_label, label_lon, label_lat,
    and the tooltip fields total, open, red, yellow, red_rate_text. The features go in as a named
    dataset after Altair has built the spec: handed to Altair as values, every coordinate was
    walked and validated, which cost 0.4 s per run."""
    data = alt.Data(name="counties")
    click = alt.selection_point(name="county", fields=["adcode"], on="click", clear="dblclick")
    base = alt.Chart(data).project(type="mercator")
    is_selected = f"datum.properties.adcode === '{selected or ''}'"
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
    labels = base.mark_text(fontSize=12, fontWeight="bold", color="#111").encode(
        longitude="properties.label_lon:Q",
        latitude="properties.label_lat:Q",
        text="properties.map_label:N",
    )
    spec = (shapes + labels).properties(height=height).to_dict(validate=False)
    spec["datasets"] = {"counties": features}
    return spec


def domain_lights_bar(kpis: pd.DataFrame) -> alt.Chart:
    """Stacked bars: each domain's open items by light."""
    rows = []
    for _, r in kpis.iterrows():
        green_open = int(r["open"] - r["open_red"] - r["yellow"] - r.get("grey", 0))
        for light, n in ((RED, r["open_red"]), (YELLOW, r["yellow"]), (GREEN, green_open),
                         (GREY, r.get("grey", 0))):
            rows.append({"领域": r["domain"], "灯色": LABELS[light],
                         "标记": SYMBOLS[light], "件数": int(n), "order": LIGHT_ORDER.index(light)})
    df = pd.DataFrame(rows)
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("领域:N", sort=list(kpis["domain"]), title=None),
        x=alt.X("件数:Q", title="在办事项（件）"),
        color=alt.Color("灯色:N", scale=light_scale(), legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q"),
        tooltip=["领域", "灯色", "件数"],
    ).properties(height=220)


def ranking_bar(df: pd.DataFrame, *, title: str, color: str) -> alt.Chart:
    """Horizontal bars of units' on-time rates (df: unit, on_time_rate, rank)."""
    d = df.assign(按时办结率=(df["on_time_rate"] * 100).round(1), 单位=df["unit"],
                  名次=df["rank"].astype(str))
    bars = alt.Chart(d).mark_bar(color=color).encode(
        y=alt.Y("单位:N", sort=None, title=None),
        x=alt.X("按时办结率:Q", title="按时办结率（%）", scale=alt.Scale(domain=[0, 100])),
        tooltip=["名次", "单位", "按时办结率", alt.Tooltip("red:Q", title="红牌")],
    )
    text = bars.mark_text(align="left", dx=3).encode(text=alt.Text("按时办结率:Q", format=".1f"))
    return (bars + text).properties(title=title, height=28 * max(1, len(d)))
