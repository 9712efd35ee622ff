"""Cockpit aggregates on a small hand-made data set."""

from datetime import datetime, timedelta

import pandas as pd
import pytest
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


def urgent_fixture(engine):
    """Items whose order is known: three open reds overdue by 3, 9 and 1 days; two yellows with
    2 and 6 hours left; greens with 20 and 40 hours left; a grey; closed items (late and on time)."""
    d, h = timedelta(days=1), timedelta(hours=1)
    with db.session_scope(engine) as s:
        for ext, overdue in (("R-3d", 3), ("R-9d", 9), ("R-1d", 1)):
            add(s, ext, "FEES", "440823.ZRZY", T - (overdue + 2) * d, "48h")
        add(s, "Y-6h", "FEES", "440823.ZRZY", T - 42 * h, "48h")
        add(s, "Y-2h", "FEES", "440823.ZRZY", T - 46 * h, "48h")
        add(s, "G-40h", "FEES", "440825.ZRZY", T - 8 * h, "48h")
        add(s, "G-20h", "FEES", "440825.ZRZY", T - 28 * h, "48h")
        add(s, "C-ok-old", "FEES", "440823.ZRZY", T - 30 * d, "48h", T - 29 * d)
        add(s, "C-ok-new", "FEES", "440823.ZRZY", T - 3 * d, "48h", T - 2 * d)
        add(s, "C-late", "FEES", "440823.ZRZY", T - 30 * d, "48h", T - 20 * d)
        add(s, "KEY", "KEYWORK", "440881.CZ", T - 30 * d, "10d")  # another domain, overdue
    with db.session_scope(engine) as s:  # a feed that lost the deadline: grey
        from lib.models import Item
        s.add(Item(external_id="GREY", subsystem_id=s.scalar(select(Subsystem.id).where(
            Subsystem.code == "FEES")), unit_id=s.scalar(select(Unit.id).where(
                Unit.code == "440823.ZRZY")), received_at=T - d, state="open", title="无期限"))


URGENT_ORDER = ["R-9d", "R-3d", "R-1d", "Y-2h", "Y-6h", "G-20h", "G-40h", "GREY",
                "C-late", "C-ok-new", "C-ok-old"]


def test_item_page_lists_the_urgent_first_and_counts_everything(empty_engine):
    urgent_fixture(empty_engine)
    flt = queries.ItemFilter(as_of=T, domain_code="POWER")
    with db.session_scope(empty_engine) as s:
        whole = queries.item_page(s, user=SYSTEM, flt=flt, per_page=None)
        assert [r.external_id for r in whole.rows] == URGENT_ORDER
        assert [r.light for r in whole.rows[:8]] == [RED] * 3 + [YELLOW] * 2 + [GREEN] * 2 + [GREY]
        assert whole.total == 11
        assert whole.counts == {"total": 11, RED: 4, YELLOW: 2, GREEN: 4, GREY: 1, "open": 8,
                                "open_red": 3}
        # Pages of 4 walk through all of them, in the same order, none dropped.
        seen = []
        for p in (1, 2, 3):
            page = queries.item_page(s, user=SYSTEM, flt=flt, page=p, per_page=4)
            assert (page.total, page.pages, page.page) == (11, 3, p)
            seen += [r.external_id for r in page.rows]
        assert seen == URGENT_ORDER
        assert queries.item_page(s, user=SYSTEM, flt=flt, page=99, per_page=4).page == 3
        # Across domains, the more overdue key task comes before every POWER red.
        everything = queries.item_page(s, user=SYSTEM, flt=queries.ItemFilter(as_of=T), per_page=2)
        assert [r.external_id for r in everything.rows] == ["KEY", "R-9d"]


def test_item_page_filters_by_light_state_and_text(empty_engine):
    urgent_fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        def ids(**kw):
            page = queries.item_page(s, user=SYSTEM, flt=queries.ItemFilter(as_of=T, **kw),
                                     per_page=None)
            assert page.total == len(page.rows)
            return [r.external_id for r in page.rows]

        assert ids(light=RED, domain_code="POWER") == ["R-9d", "R-3d", "R-1d", "C-late"]
        # A subsystem, a domain with it, a domain without it, an unknown code: nothing else.
        assert ids(light=RED, subsystem_code="FEES") == ["R-9d", "R-3d", "R-1d", "C-late"]
        assert ids(subsystem_code="KEYWORK", domain_code="POWER") == []
        assert ids(subsystem_code="KEYWORK") == ["KEY"]
        assert ids(domain_code="NO-SUCH") == []
        assert ids(light=RED, state="open") == ["KEY", "R-9d", "R-3d", "R-1d"]
        assert ids(state="closed") == ["C-late", "C-ok-new", "C-ok-old"]
        assert ids(light=YELLOW) == ["Y-2h", "Y-6h"]
        assert ids(text="c-ok") == ["C-ok-new", "C-ok-old"]
        assert ids(text="无期限") == ["GREY"]
        assert ids(text="100%_") == []  # wildcards are taken literally
        assert ids(external_id="R-1d") == ["R-1d"]
        with pytest.raises(ValueError):
            queries.ItemFilter(as_of=T, light="purple")


def test_a_cards_numbers_equal_the_lists_they_open(empty_engine):
    """The cockpit's domain card (light_counts → domain_kpis) and the list filtered the same way
    count the same items, for every domain, county and window."""
    urgent_fixture(empty_engine)
    d = timedelta(days=1)
    with db.session_scope(empty_engine) as s:
        add(s, "OLD-LATE", "FEES", "440823.ZRZY", T - 200 * d, "48h", T - 150 * d)
        cat = queries.catalog_frames(s)
        for window in (30, 365, None):
            for region_id in (None, *cat["counties"]["region_id"].head(3).map(int)):
                counts = queries.light_counts(s, user=SYSTEM, as_of=T, window_days=window,
                                              region_id=region_id)
                kpis = queries.domain_kpis(counts, cat).set_index("domain_code")
                for code, k in kpis.iterrows():
                    def n(window=window, code=code, region_id=region_id, **kw):
                        flt = queries.ItemFilter(as_of=T, window_days=window, domain_code=code,
                                                 region_id=region_id, **kw)
                        return queries.item_page(s, user=SYSTEM, flt=flt, per_page=1).total

                    assert n() == k["total"]
                    assert n(state="open") == k["open"]
                    assert n(light=RED) == k["red"]
                    assert n(light=RED, state="open") == k["open_red"]
                    assert n(light=YELLOW) == k["yellow"]
