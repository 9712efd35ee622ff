"""The county map's names: the four small urban districts are named outside, with leader lines."""

from lib import charts, geo


def _inside(point, ring) -> bool:
    """Ray casting: is the point inside the ring?"""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _on_land(point, features) -> str | None:
    for f in features:
        g = f["geometry"]
        polys = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        if any(_inside(point, p[0]) for p in polys):
            return f["properties"]["name"]
    return None


def test_the_urban_districts_are_named_in_the_sea_with_lines_that_do_not_cross():
    features = geo.merge(geo.county_features(), {})
    props = {f["properties"]["name"]: f["properties"] for f in features}
    outside = {n for n, p in props.items() if p["callout"]}
    assert outside == {"赤坎区", "霞山区", "坡头区", "麻章区"}
    for name in outside:
        p = props[name]
        # The name sits in the sea, clear of every county; its line starts inside its district.
        assert _on_land((p["label_lon"], p["label_lat"]), features) is None, name
        assert _on_land((p["label_lon"] + 0.2, p["label_lat"]), features) is None, name
        assert _on_land((p["anchor_lon"], p["anchor_lat"]), features) == name
    # North to south in the column as on the land: two leader lines never cross.
    by_anchor = sorted(outside, key=lambda n: -props[n]["anchor_lat"])
    by_label = sorted(outside, key=lambda n: -props[n]["label_lat"])
    assert by_anchor == by_label
    # The rest are named where they are.
    for name in set(props) - outside:
        p = props[name]
        assert (p["label_lon"], p["label_lat"]) == (p["anchor_lon"], p["anchor_lat"])


def test_both_maps_draw_the_leader_lines():
    features = geo.merge(geo.county_features(), {})
    for spec in (charts.county_map(features), charts.county_score_map(features)):
        marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
                 for layer in spec["layer"]]
        assert marks.count("text") == 2 and "rule" in marks


def test_chart_templates_fill_every_placeholder():
    """The chart structures are built once with placeholders; what varies (the selected county,
    a title, a colour, the height) is filled in per chart, and no placeholder is left."""
    import json

    import pandas as pd

    features = geo.merge(geo.county_features(), {})
    spec = charts.county_map(features, selected="440803", height=380)
    text = json.dumps(spec, ensure_ascii=False)
    assert spec["height"] == 380
    assert "datum.properties.adcode === '440803'" in text
    assert charts.county_map(features)["height"] == 460
    ranked = pd.DataFrame([{"unit": "市公安局", "unit_code": "U1", "on_time_rate": 0.9,
                            "rank": 1, "red": 2}] * 3)
    bar = charts.ranking_bar(ranked, title='红榜 "前五"', color="#2ca02c")
    assert bar["title"] == '红榜 "前五"' and bar["height"] == 84
    # The bars keep their 28 pixels each: the title and the axis are not taken out of them.
    assert bar["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert bar["layer"][0]["mark"]["color"] == "#2ca02c"
    score = charts.score_bar([{"name": "市公安局", "unit": "市公安局", "score": 90.5, "rank": 1,
                               "grade": "好"}], title="黑榜", color="#d62728")
    odd = charts.ranking_bar(ranked, title=f"含{charts.COLOR}与{charts.SELECTED}", color="#d62728")
    assert odd["title"] == f"含{charts.COLOR}与{charts.SELECTED}"  # a title is not read again
    assert odd["layer"][0]["mark"]["color"] == "#d62728"
    for s in (spec, bar, score, charts.county_score_map(features, height=300)):
        t = json.dumps(s, ensure_ascii=False)
        assert charts.TITLE not in t and charts.COLOR not in t and charts.SELECTED not in t


def test_execution_curves_template_equals_the_chart_built_directly():
    """专项资金's curves from the template built once: the same spec and data as building the
    Altair chart from the frame on every run."""
    from datetime import date

    import altair as alt
    import pandas as pd

    df = pd.DataFrame([{"line_name": line, "day": pd.Timestamp(date(2026, 1, 1 + 7 * k)),
                        "series": series, "share": 0.1 * k}
                       for line in ("扶贫资金", "惠农补贴") for series in charts.CURVE_SERIES
                       for k in range(3)])
    spec = charts.execution_curves(df)
    direct = alt.Chart(df).mark_line().encode(
        x=alt.X("day:T", title=None, axis=alt.Axis(format="%m月")),
        y=alt.Y("share:Q", title="占预算", axis=alt.Axis(format="%")),
        color=alt.Color("series:N", title=None, scale=alt.Scale(
            domain=charts.CURVE_SERIES, range=["#1f77b4", "#9e9e9e"])),
        strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
            domain=charts.CURVE_SERIES, range=[[1, 0], [5, 4]])),
        tooltip=[alt.Tooltip("line_name:N", title="资金类别"), alt.Tooltip("day:T", title="日期"),
                 alt.Tooltip("series:N", title="系列"),
                 alt.Tooltip("share:Q", title="占预算", format=".1%")],
    ).properties(width=260, height=160).facet(
        facet=alt.Facet("line_name:N", title=None), columns=3).to_dict()
    (name, values), = direct.pop("datasets").items()
    assert direct.pop("data") == {"name": name}
    assert spec.pop("datasets") == {"curves": values}
    assert spec.pop("data") == {"name": "curves"}
    assert spec == direct
    assert values[0]["day"] == "2026-01-01T00:00:00" and len(values) == 12


def test_monthly_charts_are_valid_vega_lite_with_their_data():
    """The two monthly charts that replaced Streamlit's `st.line_chart` and
    `st.bar_chart` (each built and validated an Altair chart on every run): their specs pass
    Vega-Lite's schema, carry the title given and every month's value, and leave no
    placeholder."""
    import json

    import altair as alt
    import pandas as pd

    monthly = pd.DataFrame({"月份": ["2026-09", "2026-10", "2026-11"],
                            "满意率": [0.8, None, 0.95], "评价数": [20, 0, 1]})
    line = charts.monthly_share_line(monthly, "满意率", height=180, count="评价数",
                                     unit="条评价")
    alt.Chart.from_dict(line, validate=True)
    assert line["height"] == 180 and line["encoding"]["y"]["title"] == "满意率"
    assert line["datasets"]["months"] == [
        {"月份": "2026-09", "value": 0.8, "basis": "20 条评价"},
        {"月份": "2026-10", "value": None, "basis": "0 条评价"},
        {"月份": "2026-11", "value": 0.95, "basis": "1 条评价"}]
    assert charts.monthly_share_line(monthly, "满意率")["datasets"]["months"][0]["basis"] == "—"
    records = pd.DataFrame({"月份": ["2026-10", "2026-10", "2026-11"],
                            "规则": ["M01 单一来源", "M02 围标", "M01 单一来源"]})
    pivot = records.pivot_table(index="月份", columns="规则", aggfunc="size", fill_value=0)
    bars = charts.monthly_stacked_bars(pivot, title="发现数")
    alt.Chart.from_dict(bars, validate=True)
    assert bars["encoding"]["y"]["title"] == "发现数"
    assert sorted((v["月份"], v["series"], v["件数"]) for v in bars["datasets"]["counts"]) == [
        ("2026-10", "M01 单一来源", 1), ("2026-10", "M02 围标", 1), ("2026-11", "M01 单一来源", 1)]
    assert bars["height"] == 260 and bars["encoding"]["color"]["legend"]["symbolLimit"] == 0
    assert bars["encoding"]["color"]["scale"]["scheme"] == "tableau20"
    # Thirty rules: the chart grows so that its legend on the right lists every one.
    many = pd.DataFrame({"月份": ["2026-10"] * 30, "规则": [f"M{i:02d}" for i in range(30)]})
    tall = charts.monthly_stacked_bars(
        many.pivot_table(index="月份", columns="规则", aggfunc="size", fill_value=0))
    assert tall["height"] == 30 * charts.LEGEND_ROW
    alt.Chart.from_dict(tall, validate=True)
    for spec in (line, bars):
        t = json.dumps(spec, ensure_ascii=False)
        assert charts.TITLE not in t and charts.COLOR not in t


def test_count_axes_tick_whole_numbers():
    import altair as alt
    import pandas as pd

    """Counts of items are whole: a domain with one open item drew ticks at 0.5, 1.5 …"""
    kpis = pd.DataFrame([{"domain": "权力运行", "domain_code": "POWER", "open": 1, "open_red": 0,
                          "yellow": 0, "grey": 0}])
    bar = charts.domain_lights_bar(kpis)
    alt.Chart.from_dict(bar, validate=True)
    assert bar["encoding"]["x"]["axis"] == {"tickMinStep": 1, "format": "d"}
    pivot = pd.DataFrame({"月份": ["2026-10"], "规则": ["M01"]}).pivot_table(
        index="月份", columns="规则", aggfunc="size", fill_value=0)
    assert charts.monthly_stacked_bars(pivot)["encoding"]["y"]["axis"]["tickMinStep"] == 1
