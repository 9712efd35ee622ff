"""Cockpit aggregates on a small hand-made data set."""

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select

from lib import db, queries
from lib.access import SYSTEM
from lib.config import TZ
from lib.items import upsert_item
from lib.lights import GREEN, GREY, RED, YELLOW
from lib.models import Region, Subsystem, Unit
from lib.workdays import WorkCalendar, parse_limit

T = datetime(2026, 6, 30, 12, 0, tzinfo=TZ)
CAL = WorkCalendar()


def add(s, ext, sub_code, unit_code, received, limit, completed=None):
    sub = s.scalar(select(Subsystem).where(Subsystem.code == sub_code))
    unit = s.scalar(select(Unit).where(Unit.code == unit_code))
    upsert_item(s, CAL, external_id=ext, subsystem=sub, unit_id=unit.id, received_at=received,
                limit=parse_limit(limit), completed_at=completed, actor="t",
                region_id=unit.region_id if unit.level == "county" else None)


def fixture(engine):
    """Unit A (遂溪自然资源局): 6 closed, 5 on time, 1 late; 1 open overdue; 1 open yellow.
    Unit B (徐闻自然资源局): 6 closed on time. Unit C (廉江财政局): 2 closed: not ranked."""
    d = timedelta(days=1)
    with db.session_scope(engine) as s:
        for i in range(5):
            add(s, f"A-ok-{i}", "FEES", "440823.ZRZY", T - 20 * d, "48h", T - 19 * d)
        add(s, "A-late", "FEES", "440823.ZRZY", T - 20 * d, "48h", T - 10 * d)
        add(s, "A-overdue", "FEES", "440823.ZRZY", T - 5 * d, "48h")
        add(s, "A-yellow", "FEES", "440823.ZRZY", T - timedelta(hours=44), "48h")
        for i in range(6):
            add(s, f"B-{i}", "PLANNING", "440825.ZRZY", T - 30 * d, "10d", T - 25 * d)
        for i in range(2):
            add(s, f"C-{i}", "FISCAL", "440881.CZ", T - 30 * d, "10d", T - 25 * d)
        add(s, "OLD", "FEES", "440823.ZRZY", T - 400 * d, "48h", T - 390 * d)  # outside the window


def test_counts_kpis_regions_and_ranking(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        counts = queries.light_counts(s, user=SYSTEM, as_of=T, window_days=365)
        cat = queries.catalog_frames(s)
    assert counts["total"].sum() == 16  # OLD is outside the one-year window
    kpis = queries.domain_kpis(counts, cat).set_index("domain_code")
    assert list(kpis.index) == ["POWER", "MARKET", "FUNDS", "COMPLAINT", "EFFICIENCY", "DISCLOSURE"]
    power = kpis.loc["POWER"]
    assert (power["open"], power["red"], power["yellow"], power["open_red"]) == (2, 2, 1, 1)
    assert power["on_time_rate"] == 11 / 12
    assert kpis.loc["MARKET", "total"] == 0 and pd.isna(kpis.loc["MARKET", "on_time_rate"])

    regions = queries.region_summary(counts, cat).set_index("region")
    assert len(regions) == 9
    assert regions.loc["遂溪县", "total"] == 8 and regions.loc["遂溪县", "grade"] == RED  # 2/8
    assert regions.loc["徐闻县", "grade"] == GREEN
    assert regions.loc["廉江市", "grade"] == GREY  # 2 cases < 5
    assert regions.loc["赤坎区", "grade"] == GREY  # none

    ranking = queries.unit_ranking(counts, cat).set_index("unit")
    assert ranking.loc["徐闻县自然资源局", "rank"] == 1
    assert ranking.loc["遂溪县自然资源局", "rank"] == 2
    assert not ranking.loc["廉江市财政局", "ranked"]
    assert "少于5件" in ranking.loc["廉江市财政局", "not_ranked_reason"]


def test_ties_share_a_rank(empty_engine):
    d = timedelta(days=1)
    with db.session_scope(empty_engine) as s:
        for unit in ("440823.ZRZY", "440825.ZRZY", "440881.ZRZY"):
            for i in range(5):
                add(s, f"{unit}-{i}", "PLANNING", unit, T - 30 * d, "10d", T - 25 * d)
        add(s, "extra-late", "PLANNING", "440881.ZRZY", T - 30 * d, "10d", T - 5 * d)
        counts = queries.light_counts(s, user=SYSTEM, as_of=T)
        ranking = queries.unit_ranking(counts, queries.catalog_frames(s))
    assert list(ranking["rank"]) == [1, 1, 3]
    assert ranking.iloc[2]["unit"] == "廉江市自然资源局"


def test_region_filter_and_latest_red(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        xuwen = s.scalar(select(Region.id).where(Region.name == "徐闻县"))
        assert queries.light_counts(s, user=SYSTEM, as_of=T, region_id=xuwen)["total"].sum() == 6
        reds = queries.latest_red(s, user=SYSTEM, as_of=T)
        assert [r.external_id for r in reds] == ["A-overdue", "A-late", "OLD"][: len(reds)]
        assert reds[0].light == RED and "逾期未办结" in reds[0].reason
        assert reds[1].rule == "completed_late"
        assert queries.latest_red(s, user=SYSTEM, as_of=T, region_id=xuwen) == []
        # Before the late completion, A-late was an open overdue item.
        before = queries.latest_red(s, user=SYSTEM, as_of=T - timedelta(days=12))
        assert before[0].external_id == "A-late" and before[0].rule == "open_overdue"


def test_list_items_filters_by_light(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        yellow = queries.list_items(s, user=SYSTEM, as_of=T, light=YELLOW)
        assert [r.external_id for r in yellow] == ["A-yellow"]
        assert len(queries.list_items(s, user=SYSTEM, as_of=T, light=GREEN, domain_code="POWER")) == 11


def test_grade_thresholds():
    t = queries.AreaThresholds()
    assert queries.grade(0, 4, t) == GREY
    assert queries.grade(7, 100, t) == RED
    assert queries.grade(6, 100, t) == YELLOW
    assert queries.grade(5, 100, t) == YELLOW
    assert queries.grade(4, 100, t) == GREEN
