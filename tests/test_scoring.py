"""The efficiency assessment: scores computed by hand on a small fixture, the case floor, ties,
weights validation, quarters as the mean of months, and published snapshots that never change."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from lib import db, scoring
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.items import upsert_item
from lib.models import Evaluation, Item, Person, Subsystem, Unit
from lib.scoring import Period, Scheme, ScoringError
from lib.workdays import WorkCalendar, parse_limit

CAL = WorkCalendar()
AFTER = datetime(2026, 8, 1, 9, 0, tzinfo=TZ)  # June and May are over: judged at their ends
A, B, C = "440823.ZRZY", "440825.ZRZY", "440881.CZ"


def add(s, ext, unit_code, received, hours, done_after=None, *, rating=None, cancelled=False,
        handler=None, rated_at=None):
    sub = s.scalar(select(Subsystem).where(Subsystem.code == "FEES"))
    unit = s.scalar(select(Unit).where(Unit.code == unit_code))
    done = received + timedelta(hours=done_after) if done_after is not None else None
    upsert_item(s, CAL, external_id=ext, subsystem=sub, unit_id=unit.id, received_at=received,
                limit=parse_limit(f"{hours}h"), completed_at=done, actor="t")
    s.flush()
    if rating is not None and rated_at is None:
        rated_at = done + timedelta(hours=1)  # rated soon after the result, the same month
    s.execute(update(Item).where(Item.external_id == ext)
              .values(rating=rating, rated_at=rated_at, card_cancelled=cancelled,
                      handler_id=handler))


def person(s, unit_code, name):
    unit = s.scalar(select(Unit).where(Unit.code == unit_code))
    p = Person(name=name, unit_id=unit.id, rank="科员")
    s.add(p)
    s.flush()
    return p.id


def fixture(engine, *, may=True):
    """June 2026 (yellow line: 20 % of the time left, the FEES default).

    Unit A, 2 staff, 10 items received 6-10 08:00 with 100 h each (due 6-14 12:00):
      6 done at 50 h (efficiency 75), 2 at 90 h (55; lit yellow), 1 at 150 h (late: red, 25),
      1 never done (red at the month's end). Ratings 5, 4 and 3 in June; evaluations 5, 5, 4.
    Unit B, 1 staff, 6 items received 6-20 08:00 with 40 h: 5 done at 10 h (87.5), 1 at 50 h
      (late, card cancelled on appeal: on time, 37.5). No ratings, no evaluations.
    Unit C: 2 items, below the floor of 5.
    May (for the quarter): unit A, 5 items with 100 h, all done at 50 h."""
    with db.session_scope(engine) as s:
        p1 = person(s, A, "陈一")
        person(s, A, "李二")
        person(s, B, "黄三")
        ja = datetime(2026, 6, 10, 8, 0, tzinfo=TZ)
        for i in range(6):
            add(s, f"A-{i}", A, ja, 100, 50, rating={0: 5, 1: 4}.get(i), handler=p1)
        add(s, "A-6", A, ja, 100, 90, rating=3, handler=p1)
        add(s, "A-7", A, ja, 100, 90, handler=p1)
        add(s, "A-late", A, ja, 100, 150, handler=p1)
        add(s, "A-open", A, ja, 100, None, handler=p1)
        jb = datetime(2026, 6, 20, 8, 0, tzinfo=TZ)
        for i in range(5):
            add(s, f"B-{i}", B, jb, 40, 10)
        add(s, "B-late", B, jb, 40, 50, cancelled=True)
        for i in range(2):
            add(s, f"C-{i}", C, jb, 40, 10)
        if may:
            jm = datetime(2026, 5, 11, 8, 0, tzinfo=TZ)
            for i in range(5):
                add(s, f"A-may-{i}", A, jm, 100, 50)
        a = s.scalar(select(Unit.id).where(Unit.code == A))
        for r in (5, 5, 4):
            s.add(Evaluation(unit_id=a, at=datetime(2026, 6, 15, 10, 0, tzinfo=TZ), rating=r))
        # Outside June: never counted in June's score.
        s.add(Evaluation(unit_id=a, at=datetime(2026, 7, 2, 10, 0, tzinfo=TZ), rating=1))


def rows_by_code(ranking):
    return {r["code"]: r for r in ranking.rows()}


def test_scores_computed_by_hand(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        ranking = scoring.compute(s, "2026-06", as_of=AFTER)
    rows = rows_by_code(ranking)
    a, b, c = rows[A], rows[B], rows[C]

    assert (a["items"], a["cases"], a["on_time"], a["red"], a["yellow"]) == (10, 10, 8, 2, 2)
    assert (a["rated"], a["evaluations"], a["staff"]) == (3, 3, 2)
    v = a["v"]
    assert v["workload"] == pytest.approx(50)  # 5 per staff against B's 6: lower of two
    assert v["on_time"] == pytest.approx(80)
    assert v["efficiency"] == pytest.approx(585 / 9, abs=1e-3)  # (6×75 + 2×55 + 25) / 9
    assert v["satisfaction"] == pytest.approx(75)  # mean 4 of 5
    assert v["evaluation"] == pytest.approx(100 * (14 / 3 - 1) / 4, abs=1e-3)
    assert v["cards"] == 0  # (2×5 + 2×10) per 100 items over 10 items = 300: floored at 0
    # 50×.10 + 80×.30 + 65×.15 + 75×.20 + 91.667×.10 + 0 = 62.9167
    assert a["score"] == 62.92 and a["grade"] == "合格"
    assert sum(a["c"].values()) == pytest.approx(62.9167, abs=1e-3)

    assert (b["on_time"], b["red"], b["yellow"]) == (6, 0, 0)  # the cancelled card is on time
    assert b["v"]["satisfaction"] is None and b["v"]["evaluation"] is None
    # Without ratings or evaluations their 30 points are shared by the other four (70).
    assert b["w"]["on_time"] == pytest.approx(300 / 7, abs=1e-3)
    assert b["score"] == pytest.approx(round(6687.5 / 70, 2))  # 95.54
    assert b["grade"] == "优秀"

    assert (b["rank"], a["rank"]) == (1, 2)
    assert not c["ranked"] and c["rank"] is None
    assert c["reason"] == "本期考核事项 2 件，少于 5 件，不参与排名"
    assert "ZJ.JW" not in rows  # the inspectors' own office is not assessed
    # Everything not supervised this month is listed, not ranked, with its reason.
    other = rows["ZJ.FG"]
    assert not other["ranked"] and "没有已办结或已到期" in other["reason"]


def test_quarter_is_the_mean_of_scored_months(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        q = scoring.compute(s, "2026-Q2", as_of=AFTER)
        may = scoring.compute(s, "2026-05", as_of=AFTER)
    rows, may_a = rows_by_code(q), rows_by_code(may)[A]
    # May: A alone, all on time at half the limit: (10×100 + 30×100 + 15×75 + 15×100) / 70.
    assert may_a["score"] == pytest.approx(round(6625 / 70, 2))
    assert rows[A]["months_scored"] == 2 and rows[A]["months"] == 3
    # The months weighted by their cases: May 5, June 10.
    assert rows[A]["score"] == pytest.approx(round((5 * 6625 / 70 + 10 * 62.916667) / 15, 2))
    assert rows[A]["score"] == 73.49 and rows[A]["cases"] == 15
    assert sum(rows[A]["c"].values()) == pytest.approx(73.49, abs=0.01)
    assert rows[B]["months_scored"] == 1 and rows[B]["score"] == pytest.approx(95.54)
    assert rows[C]["reason"] == "本期考核事项 2 件，少于 5 件，不参与排名"


def test_the_case_floor_is_configurable(empty_engine):
    fixture(empty_engine, may=False)
    with db.session_scope(empty_engine) as s:
        low = scoring.compute(s, "2026-06", as_of=AFTER, scheme=Scheme(min_cases=2))
        high = scoring.compute(s, "2026-06", as_of=AFTER, scheme=Scheme(min_cases=7))
    assert rows_by_code(low)[C]["ranked"]
    high_rows = rows_by_code(high)
    assert high_rows[A]["ranked"] and not high_rows[B]["ranked"]
    assert high_rows[B]["reason"] == "本期考核事项 6 件，少于 7 件，不参与排名"


def test_equal_scores_share_a_rank(empty_engine):
    j = datetime(2026, 6, 8, 8, 0, tzinfo=TZ)
    with db.session_scope(empty_engine) as s:
        for code, late in ((A, 0), (B, 0), (C, 1)):
            for i in range(6):
                add(s, f"{code}-{i}", code, j, 100, 150 if i < late else 50)
    with db.session_scope(empty_engine) as s:
        rows = rows_by_code(scoring.compute(s, "2026-06", as_of=AFTER))
    assert rows[A]["score"] == rows[B]["score"]
    assert (rows[A]["rank"], rows[B]["rank"], rows[C]["rank"]) == (1, 1, 3)
    assert rows[A]["tie"] and rows[B]["tie"] and not rows[C]["tie"]
    assert scoring.rank_text(rows[A]) == "1（并列）"


def test_person_level_uses_the_handler(empty_engine):
    fixture(empty_engine, may=False)
    with db.session_scope(empty_engine) as s:
        ranking = scoring.compute(s, "2026-06", "person", as_of=AFTER)
    ranked = [r for r in ranking.rows() if r["ranked"]]
    assert [(r["name"], r["items"], r["rank"]) for r in ranked] == [("陈一", 10, 1)]
    assert ranked[0]["v"]["evaluation"] is None  # people are not evaluated online


@pytest.mark.parametrize("change, message", [
    ({"weights": scoring.DEFAULT_WEIGHTS | {"cards": 14}}, "各项权重之和须为 100，现为 99"),
    ({"weights": scoring.DEFAULT_WEIGHTS | {"cards": -5, "on_time": 50}}, "亮牌情况的权重须为 0–100"),
    ({"weights": scoring.DEFAULT_WEIGHTS | {"cards": 15.5}}, "亮牌情况的权重须为 0–100"),
    ({"weights": {"on_time": 100}}, "权重须覆盖全部六项指标"),
    ({"red_deduction": -1}, "红牌扣分须为 0–100"),
    ({"min_cases": 0}, "最少事项数"),
    ({"excellent": 80, "good": 80}, "等次分数线"),
])
def test_bad_schemes_are_refused(change, message):
    with pytest.raises(ScoringError, match=message):
        Scheme(**change).validate()


def test_scheme_is_stored_audited_and_validated(empty_engine):
    admin = CurrentUser(1, "admin", "管理员", frozenset({"admin"}))
    leader = CurrentUser(2, "leader", "领导", frozenset({"leader"}))
    weights = scoring.DEFAULT_WEIGHTS | {"on_time": 40, "workload": 0}
    with db.session_scope(empty_engine) as s:
        assert scoring.load_scheme(s) == Scheme()
        with pytest.raises(PermissionDenied):
            scoring.save_scheme(s, leader, Scheme(weights=weights))
        with pytest.raises(ScoringError):
            scoring.save_scheme(s, admin, Scheme(weights=weights | {"cards": 0}))
        assert scoring.save_scheme(s, admin, Scheme(weights=weights, red_deduction=8))
        assert not scoring.save_scheme(s, admin, Scheme(weights=weights, red_deduction=8))
    with db.session_scope(empty_engine) as s:
        stored = scoring.load_scheme(s)
        assert stored.weights == weights and stored.red_deduction == 8
        n = s.execute(text("select count(*) from audit_log where action = 'scoring.scheme'")).scalar()
        assert n == 1


def test_periods_parse_and_step_back():
    assert Period.parse("2026-q3").code == "2026-Q3"
    assert Period.parse("2026-Q1").previous().code == "2025-Q4"
    assert Period.parse("2026-01").previous().code == "2025-12"
    assert Period.parse("2026").label == "2026年度"
    assert Period.parse("2026-Q3").label == "2026年第三季度"
    assert Period.parse("2026-Q3").start == datetime(2026, 7, 1, tzinfo=TZ)
    assert Period.parse("2026-Q3").end == datetime(2026, 10, 1, tzinfo=TZ)
    for bad in ("2026-13", "2026-Q5", "26-01", "", "2026/01"):
        with pytest.raises(ScoringError, match="格式不正确"):
            Period.parse(bad)


def test_published_snapshot_never_changes(empty_engine):
    fixture(empty_engine, may=False)
    inspector = CurrentUser(3, "inspector", "监察员", frozenset({"inspector"}))
    staff = CurrentUser(4, "staff", "经办人", frozenset({"staff"}), unit_id=1)
    with db.session_scope(empty_engine) as s:
        with pytest.raises(PermissionDenied):
            scoring.publish(s, staff, "2026-06", now=AFTER)
        with pytest.raises(ScoringError, match="尚未结束"):
            scoring.publish(s, inspector, "2026-08", now=AFTER)
        snap = scoring.publish(s, inspector, "2026-06", now=AFTER)
        digest, rows = snap.hash, scoring.snapshot_rows(snap)
    assert {r["code"]: r["score"] for r in rows if r["ranked"]} == {B: 95.54, A: 62.92}

    # The data behind it changes: the open item is finished, ratings arrive, weights move.
    with db.session_scope(empty_engine) as s:
        s.execute(update(Item).where(Item.external_id == "A-open").values(
            state="completed", completed_at=datetime(2026, 6, 12, 8, 0, tzinfo=TZ)))
        s.execute(update(Item).where(Item.external_id.like("B-%")).values(
            rating=1, rated_at=datetime(2026, 6, 25, 9, 0, tzinfo=TZ)))
        admin = CurrentUser(1, "admin", "管理员", frozenset({"admin"}))
        scoring.save_scheme(s, admin, Scheme(weights=scoring.DEFAULT_WEIGHTS | {
            "on_time": 50, "workload": 0, "evaluation": 0}))
    with db.session_scope(empty_engine) as s:
        live = rows_by_code(scoring.compute(s, "2026-06", as_of=AFTER))
        assert live[A]["score"] != 62.92 and live[B]["score"] != 95.54
        snap = scoring.get_snapshot(s, "2026-06")
        assert snap.hash == digest and scoring.snapshot_rows(snap) == rows
        assert scoring.verify_snapshot(snap)
        assert scoring.snapshot_scheme(snap) == Scheme()
        with pytest.raises(ScoringError, match="公布后不可更改"):
            scoring.publish(s, inspector, "2026-06", now=AFTER)
    # The database itself refuses to alter or remove a published snapshot.
    for stmt in ("update ranking_snapshots set rows = '[]'", "delete from ranking_snapshots"):
        with pytest.raises(Exception, match="immutable"):
            with empty_engine.begin() as conn:
                conn.execute(text(stmt))
    with db.session_scope(empty_engine) as s:
        assert scoring.verify_snapshot(scoring.get_snapshot(s, "2026-06"))


def test_tampered_snapshot_fails_verification(empty_engine):
    fixture(empty_engine, may=False)
    with db.session_scope(empty_engine) as s:
        snap = scoring.publish(s, SYSTEM, "2026-06", now=AFTER)
        s.expunge(snap)
    snap.rows = snap.rows.replace("95.54", "99.99")
    assert not scoring.verify_snapshot(snap)


def test_items_behind_a_score(empty_engine):
    fixture(empty_engine, may=False)
    staff_b = None
    with db.session_scope(empty_engine) as s:
        items = scoring.items_behind(s, SYSTEM, "2026-06", "unit", A, as_of=AFTER)
        b_id = s.scalar(select(Unit.id).where(Unit.code == B))
        staff_b = CurrentUser(5, "sb", "经办人", frozenset({"staff"}), unit_id=b_id)
        with pytest.raises(PermissionDenied):
            scoring.items_behind(s, staff_b, "2026-06", "unit", A, as_of=AFTER)
        own = scoring.items_behind(s, staff_b, "2026-06", "unit", B, as_of=AFTER)
    assert len(items) == 10
    by_id = items.set_index("事项编号")
    assert by_id.loc["A-late", "结果"] == "超期办结" and by_id.loc["A-late", "亮牌"] == "■ 红牌"
    assert by_id.loc["A-open", "结果"] == "逾期未办结"
    assert by_id.loc["A-6", "亮牌"] == "▲ 黄牌" and by_id.loc["A-6", "评价"] == "3 分（计入 2026-06）"
    assert by_id.loc["A-0", "效率得分"] == 75
    assert "申诉撤销" in own.set_index("事项编号").loc["B-late", "结果"]


def test_open_items_of_the_month_under_way_are_not_yet_judged(empty_engine):
    fixture(empty_engine, may=False)
    mid = datetime(2026, 6, 13, 9, 0, tzinfo=TZ)  # six of A's done 6-12 10:00; due 6-14 12:00
    with db.session_scope(empty_engine) as s:
        rows = rows_by_code(scoring.compute(s, "2026-06", as_of=mid))
    a = rows[A]
    # Only the six finished by then are cases; the rest are still within their time.
    assert a["items"] == 10 and a["cases"] == 6 and a["red"] == 0


def test_excel_and_printable_report(empty_engine):
    import io

    from openpyxl import load_workbook

    from lib import scoring_export

    fixture(empty_engine, may=False)
    with db.session_scope(empty_engine) as s:
        s.execute(update(Unit).where(Unit.code == B).values(name="<script>alert(1)</script>局"))
    with db.session_scope(empty_engine) as s:
        ranking = scoring.compute(s, "2026-06", as_of=AFTER)
    rows = scoring.compare(ranking.rows(), None)
    meta = scoring_export.ReportMeta("2026年6月", "unit", "实时计算，未公布", "2026-06-30 23:59")
    wb = load_workbook(io.BytesIO(scoring_export.excel(rows, meta, Scheme(), with_move=True)))
    ws = wb["排名"]
    assert ws["A1"].value == "湛江市行政效能考核排名（2026年6月 · 单位）"
    header = [c.value for c in ws[3]]
    assert header[:5] == ["名次", "较上期", "单位代码", "单位", "区县"]
    body = list(ws.iter_rows(min_row=4, values_only=True))
    assert len(body) == len(rows)
    first = dict(zip(header, body[0], strict=True))
    assert (first["名次"], first["单位代码"], first["得分"], first["等次"]) == ("1", B, 95.54, "优秀")
    assert ws.cell(4, header.index("等次") + 1).fill.fgColor.rgb.endswith("C6EFCE")
    assert ws.cell(4, header.index("得分") + 1).number_format == "0.00"
    assert ws.freeze_panes == "A4" and ws.page_setup.orientation == "landscape"
    method = [r[0] for r in wb["考核办法"].iter_rows(values_only=True)]
    start = method.index("指标") + 1
    assert method[start:start + 6] == [i.label for i in scoring.INDICATORS]

    page = scoring_export.printable_html(rows, meta, Scheme())
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;局" in page
    assert "@page { size: A4 landscape" in page and "95.54" in page and "不参与排名" in page


def test_month_boundaries_deadlines_at_24_00_and_ratings_when_given(empty_engine):
    """A deadline of 24:00 on June 30 (stored as 00:00 on July 1) is June's; a rating counts in
    the month it is given, so June's ranking does not move when July's ratings arrive."""
    with db.session_scope(empty_engine) as s:
        person(s, A, "陈一")
        late_june = datetime(2026, 6, 26, 0, 0, tzinfo=TZ)  # + 120 h = 2026-07-01 00:00
        for i in range(5):
            add(s, f"A-{i}", A, late_june, 120, 100, rating=1,
                rated_at=datetime(2026, 7, 3, 9, 0, tzinfo=TZ))
        assert s.scalar(select(Item.deadline).where(Item.external_id == "A-0")) == \
            datetime(2026, 7, 1, tzinfo=TZ)
    with db.session_scope(empty_engine) as s:
        june = rows_by_code(scoring.compute(s, "2026-06", as_of=AFTER))[A]
        july = rows_by_code(scoring.compute(s, "2026-07", as_of=AFTER))[A]
    assert (june["items"], june["cases"], june["ranked"]) == (5, 5, True)
    assert june["rated"] == 0 and june["v"]["satisfaction"] is None
    assert (july["items"], july["rated"], july["ranked"]) == (0, 5, False)


def test_too_few_ratings_leave_satisfaction_out(empty_engine):
    fixture(empty_engine, may=False)
    with db.session_scope(empty_engine) as s:
        strict = rows_by_code(scoring.compute(s, "2026-06", as_of=AFTER,
                                              scheme=Scheme(min_ratings=4)))
    a = strict[A]
    assert a["rated"] == 3 and a["v"]["satisfaction"] is None and a["v"]["evaluation"] is None
    assert a["w"]["on_time"] == pytest.approx(100 * 30 / 70, abs=1e-3)


def test_a_publication_rolls_back_with_its_transaction(empty_engine):
    fixture(empty_engine, may=False)
    with pytest.raises(RuntimeError):
        with db.session_scope(empty_engine) as s:
            scoring.publish(s, SYSTEM, "2026-06", now=AFTER)
            raise RuntimeError("something after the publication failed")
    with db.session_scope(empty_engine) as s:
        assert scoring.get_snapshot(s, "2026-06") is None
        assert not s.execute(text("select count(*) from audit_log "
                                  "where action = 'ranking.publish'")).scalar()


def test_year_summary_of_published_periods(empty_engine):
    fixture(empty_engine)
    with db.session_scope(empty_engine) as s:
        for p in ("2026-05", "2026-06", "2026-Q2"):
            scoring.publish(s, SYSTEM, p, now=AFTER)
        scoring.publish(s, SYSTEM, "2026-06", "person", now=AFTER)  # not a unit ranking
    with db.session_scope(empty_engine) as s:
        summary = scoring.year_summary(s, 2026).set_index("单位代码")
        assert scoring.year_summary(s, 2025).empty
    assert list(summary.columns) == ["单位", scoring.QUARTER_MEAN, "2026年第二季度", "2026年5月",
                                     "2026年6月"]
    # One quarter published: its score is the year's mean so far.
    assert summary.loc[A, scoring.QUARTER_MEAN] == 73.49
    assert summary.loc[A, "2026年第二季度"] == 73.49 and summary.loc[A, "2026年6月"] == 62.92
    assert summary.loc[B, "2026年5月"] != summary.loc[B, "2026年5月"]  # not ranked in May: NaN


def test_a_township_government_is_ranked_under_its_county_not_the_city(demo_engine):
    """区县 of a unit: a county's department its county, a township's government the county
    the township lies in (not 市直, as it was shown), a city department 市直."""
    from lib.models import Region

    with db.read_scope(demo_engine) as s:
        ents = scoring._entities(s, "unit").set_index("unit_code")
        units = {u.code: u for u in s.scalars(select(Unit))}
        regions = {r.id: r for r in s.scalars(select(Region))}
    towns = [u for u in units.values() if regions[u.region_id].level == "town"]
    assert towns
    for u in towns:
        county = regions[regions[u.region_id].parent_id]
        assert county.level == "county"
        assert (ents.loc[u.code, "region"], ents.loc[u.code, "adcode"]) == (county.name, county.code)
    counties = [u for u in units.values() if regions[u.region_id].level == "county"]
    assert all(ents.loc[u.code, "region"] == regions[u.region_id].name for u in counties)
    city = [u for u in units.values() if regions[u.region_id].level == "city"
            and u.code in ents.index]
    assert city and all(ents.loc[u.code, "region"] == "市直" for u in city)


def test_the_year_so_far_is_the_mean_of_the_quarters_a_unit_was_ranked_in():
    def row(code, score, ranked=True):
        return {"code": code, "name": code, "score": score, "ranked": ranked}

    df = scoring.summarize_year([
        ("2026-Q1", [row("A", 80.0), row("B", 60.0, ranked=False)]),
        ("2026-Q2", [row("A", 91.0), row("B", 70.0)]),
        ("2026-05", [row("A", 10.0), row("B", 10.0)]),  # a month does not count
    ], 2026).set_index("单位代码")
    assert df.loc["A", scoring.QUARTER_MEAN] == 85.5
    assert df.loc["B", scoring.QUARTER_MEAN] == 70.0
    assert list(df.columns[:2]) == ["单位", scoring.QUARTER_MEAN]
