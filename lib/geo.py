"""The county-level map: Zhanjiang's nine boundaries (data/zhanjiang_counties.geojson, built by
scripts/build_geojson.py) with values merged into each feature's properties."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from lib.config import DATA_DIR

GEOJSON = DATA_DIR / "zhanjiang_counties.geojson"


@lru_cache(maxsize=2)
def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def county_features(path: Path = GEOJSON) -> list[dict]:
    """The nine features, loaded once and shared: read them, never write into them
    (`merge` builds new features around the same geometries)."""
    return _load(path)["features"]


def _ring_centroid(ring: list[list[float]]) -> tuple[float, float, float]:
    """(signed area, x, y) of a ring, by the shoelace formula."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    a /= 2
    if a == 0:
        return 0.0, ring[0][0], ring[0][1]
    return a, cx / (6 * a), cy / (6 * a)


def label_point(geometry: dict) -> tuple[float, float]:
    """Where to write a county's name: the centroid of its largest polygon."""
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    best = max((_ring_centroid(p[0]) for p in polys), key=lambda t: abs(t[0]))
    return best[1], best[2]


# The four urban districts round Zhanjiang Bay are too small, at the cockpit's scale, for their
# names to fit: each name is written in the open sea east of the bay, in a column ordered as the
# districts lie from north to south (so the leader lines never cross), with a line to the
# district. (lon, lat) of the left end of each name.
CALLOUTS = {
    "440804": (110.70, 21.17),  # 坡头区
    "440802": (110.70, 21.07),  # 赤坎区
    "440803": (110.70, 20.97),  # 霞山区
    "440811": (110.70, 20.87),  # 麻章区
}


def merge(features: list[dict], values: dict[str, dict]) -> list[dict]:
    """Write values[adcode] into each feature's properties, plus where its name goes:
    `label_lon`/`label_lat` (the name), `anchor_lon`/`anchor_lat` (the point in the county the
    name belongs to) and `callout` (the name is outside, joined by a leader line)."""
    out = []
    for f in features:
        props = dict(f["properties"])
        props.update(values.get(props["adcode"], {}))
        lon, lat = label_point(f["geometry"])
        props["anchor_lon"], props["anchor_lat"] = lon, lat
        props["callout"] = props["adcode"] in CALLOUTS
        props["label_lon"], props["label_lat"] = CALLOUTS.get(props["adcode"], (lon, lat))
        out.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
    return out
