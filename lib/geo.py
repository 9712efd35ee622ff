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


def merge(features: list[dict], values: dict[str, dict]) -> list[dict]:
    """Write values[adcode] into each feature's properties, plus label coordinates."""
    out = []
    for f in features:
        props = dict(f["properties"])
        props.update(values.get(props["adcode"], {}))
        lon, lat = label_point(f["geometry"])
        props["label_lon"], props["label_lat"] = lon, lat
        out.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
    return out
