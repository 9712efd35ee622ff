"""The traffic-light engine: boundaries, the as-of rule, and SQL agreeing with Python."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lib import db, queries
from lib.access import SYSTEM
from lib.config import TZ
from lib.items import upsert_item
from lib.lights import GREEN, GREY, RED, YELLOW, light_for
from lib.models import Item, Subsystem, Unit
from lib.workdays import WorkCalendar, parse_limit
from tests.conftest import ANCHOR

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
DUE = T0 + timedelta(seconds=100_000)  # 20 % of the allowed time is 20,000 s
S = timedelta(seconds=1)


def light(as_of, completed=None, received=T0, deadline=DUE, pct=20):
    result = light_for(received_at=received, deadline=deadline, completed_at=completed,
                       as_of=as_of, yellow_pct=pct)
    return result.light if result else None


def test_open_exactly_at_the_deadline_is_yellow_then_red_one_second_later():
    assert light(DUE) == YELLOW
    assert light(DUE + S) == RED


def test_exactly_at_the_yellow_threshold_is_still_green():
    at_threshold = DUE - timedelta(seconds=20_000)
    assert light(at_threshold) == GREEN
    assert light(at_threshold + S) == YELLOW
    assert light(at_threshold - S) == GREEN


def test_completed_exactly_at_the_deadline_is_green_one_second_late_is_red():
    assert light(DUE + timedelta(days=3), completed=DUE) == GREEN
    assert light(DUE + timedelta(days=3), completed=DUE + S) == RED


def test_closed_lights_never_change():
    for completed, expected in ((DUE - timedelta(hours=5), GREEN), (DUE + S, RED)):
        for days in (0, 1, 30, 365, 3650):
            assert light(completed + timedelta(days=days), completed=completed) == expected


def test_an_item_received_after_t_does_not_exist_yet():
    assert light(T0 - S) is None
    assert light(T0) == GREEN


def test_completed_after_t_is_still_open_at_t():
    completed = DUE + timedelta(days=2)
    assert light(DUE + S, completed=completed) == RED  # open and overdue at that moment
    assert light(DUE - timedelta(seconds=100), completed=completed) == YELLOW
    assert light(completed, completed=completed) == RED  # then completed late


def test_grey_when_data_is_missing():
    assert light(T0, received=None) == GREY
    assert light(T0, deadline=None) == GREY
    result = light_for(received_at=None, deadline=DUE, completed_at=None, as_of=T0)
    assert "受理时间" in result.reason


def test_threshold_is_configurable():
    as_of = DUE - timedelta(seconds=30_000)  # 30 % left
    assert light(as_of, pct=20) == GREEN
    assert light(as_of, pct=50) == YELLOW
    assert light(DUE, pct=0) == GREEN  # 0 %: never yellow


def test_reason_carries_rule_inputs_and_thresholds():
    result = light_for(received_at=T0, deadline=DUE, completed_at=None,
                       as_of=DUE - timedelta(seconds=100), yellow_pct=20)
    assert result.light == YELLOW and result.rule == "open_near_deadline"
    assert result.inputs["yellow_pct"] == 20
    assert {"deadline", "time_left", "allowed", "yellow_threshold"} <= set(result.inputs)
    overdue = light_for(received_at=T0, deadline=DUE, completed_at=None,
                        as_of=DUE + timedelta(days=2, hours=3))
    assert overdue.rule == "open_overdue" and "2天3小时" in overdue.reason


def _lights_by_python(session, as_of):
    rows = session.execute(
        select(Item.external_id, Item.received_at, Item.deadline, Item.completed_at,
               Subsystem.yellow_pct, Item.card_cancelled, Item.verdict)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)).all()
    out = {}
    for ext, recv, due, done, pct, cancelled, verdict in rows:
        lt = light_for(received_at=recv, deadline=due, completed_at=done, as_of=as_of,
                       yellow_pct=pct, card_cancelled=cancelled, verdict=verdict)
        if lt is not None:
            out[ext] = lt.light
    return out


@pytest.mark.parametrize("offset", [timedelta(days=-400), timedelta(days=-30), timedelta(hours=-5),
                                    timedelta(0), timedelta(days=2), timedelta(days=45)])
def test_sql_and_python_agree_on_every_demo_item(demo_engine, offset):
    as_of = ANCHOR + offset
    with db.session_scope(demo_engine) as s:
        by_sql = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=as_of)}
        by_python = _lights_by_python(s, as_of)
    assert by_sql == by_python
    assert len(by_sql) > 1000
    if offset >= timedelta(0):
        assert {GREEN, YELLOW, RED} <= set(by_sql.values())


def test_sql_and_python_agree_at_the_boundaries(empty_engine):
    """Items placed exactly on each boundary, read at the boundary and one second either side."""
    cal = WorkCalendar()
    with db.session_scope(empty_engine) as s:
        sub = s.scalar(select(Subsystem).where(Subsystem.code == "FEES"))
        unit = s.scalar(select(Unit).order_by(Unit.id))
        item, _ = upsert_item(s, cal, external_id="B-OPEN", subsystem=sub, unit_id=unit.id,
                              received_at=T0, limit=parse_limit("48h"), completed_at=None,
                              actor="test")
        due = item.deadline
        upsert_item(s, cal, external_id="B-ONTIME", subsystem=sub, unit_id=unit.id,
                    received_at=T0, limit=parse_limit("48h"), completed_at=due, actor="test")
        upsert_item(s, cal, external_id="B-LATE", subsystem=sub, unit_id=unit.id,
                    received_at=T0, limit=parse_limit("48h"), completed_at=due + S, actor="test")
    allowed = 48 * 3600
    yellow_at = due - timedelta(seconds=allowed * 20 // 100)
    moments = [T0 - S, T0, yellow_at - S, yellow_at, yellow_at + S, due - S, due, due + S,
               due + timedelta(days=400)]
    with db.session_scope(empty_engine) as s:
        for m in moments:
            by_sql = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=m)}
            assert by_sql == _lights_by_python(s, m), m
        at_due = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=due)}
        assert at_due == {"B-OPEN": YELLOW, "B-ONTIME": GREEN, "B-LATE": YELLOW}
        after = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=due + S)}
        assert after == {"B-OPEN": RED, "B-ONTIME": GREEN, "B-LATE": RED}
        at_yellow = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=yellow_at)}
        assert at_yellow["B-OPEN"] == GREEN


@pytest.mark.parametrize("offset", [timedelta(days=-200), timedelta(0), timedelta(days=10)])
def test_aggregate_counts_agree_with_item_lights(demo_engine, offset):
    """The cockpit's summed flags give the same counts as the per-item rule."""
    as_of = ANCHOR + offset
    with db.session_scope(demo_engine) as s:
        counts = queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=None)
        per_item = _lights_by_python(s, as_of)
    from collections import Counter

    expected = Counter(per_item.values())
    assert counts["total"].sum() == len(per_item)
    assert counts["red"].sum() == expected[RED]
    assert counts["yellow"].sum() == expected[YELLOW]
    assert counts["green"].sum() == expected[GREEN]
    assert counts["grey"].sum() == expected[GREY]


def test_a_rule_verdict_lights_the_card_whatever_the_clock():
    """A red line crossed is red from the moment it was crossed, open or closed, on time or
    not; a yellow verdict is yellow unless the clock says red; a cancelled card shows neither."""
    def v(as_of, verdict, completed=None, cancelled=False):
        lt = light_for(received_at=T0, deadline=DUE, completed_at=completed, as_of=as_of,
                       verdict=verdict, verdict_note="单一投标", card_cancelled=cancelled)
        return lt.light, lt.rule

    assert v(T0 + S, 2) == (RED, "rule_red")
    assert v(T0 + S, 2, completed=T0 + S) == (RED, "rule_red")
    assert v(T0 + S, 1) == (YELLOW, "rule_yellow")
    assert v(DUE + S, 1) == (RED, "open_overdue")  # the clock's red wins over a yellow verdict
    assert v(T0 + S, 1, completed=T0 + S) == (YELLOW, "rule_yellow")
    assert v(T0 + S, 2, cancelled=True) == (GREEN, "card_cancelled")
    assert v(T0 + S, 2, completed=T0 + S, cancelled=True) == (GREEN, "card_cancelled")
    assert light_for(received_at=T0, deadline=DUE, completed_at=None, as_of=T0 - S,
                     verdict=2) is None
    lt = light_for(received_at=T0, deadline=DUE, completed_at=None, as_of=T0 + S, verdict=2,
                   verdict_note="最低价投标被否决")
    assert "最低价投标被否决" in lt.reason


def test_sql_and_python_agree_on_every_verdict_combination(empty_engine):
    """Every combination of clock state, verdict and cancellation, at moments either side of
    each boundary: the SQL rule and the Python rule give the same light."""
    cal = WorkCalendar()
    with db.session_scope(empty_engine) as s:
        sub = s.scalar(select(Subsystem).where(Subsystem.code == "FEES"))
        unit = s.scalar(select(Unit).order_by(Unit.id))
        base, _ = upsert_item(s, cal, external_id="V-BASE", subsystem=sub, unit_id=unit.id,
                              received_at=T0, limit=parse_limit("48h"), completed_at=None,
                              actor="test")
        due = base.deadline
        ends = {"open": None, "ontime": due - timedelta(hours=1), "late": due + timedelta(hours=1)}
        for end_name, done in ends.items():
            for verdict in (0, 1, 2):
                for cancelled in (False, True):
                    item, _ = upsert_item(
                        s, cal, external_id=f"V-{end_name}-{verdict}-{int(cancelled)}",
                        subsystem=sub, unit_id=unit.id, received_at=T0,
                        limit=parse_limit("48h"), completed_at=done, actor="test")
                    item.verdict, item.card_cancelled = verdict, cancelled
    allowed = 48 * 3600
    yellow_at = due - timedelta(seconds=allowed * 20 // 100)
    moments = [T0 - S, T0, T0 + S, yellow_at - S, yellow_at + S, due - timedelta(hours=1),
               due, due + S, due + timedelta(hours=1), due + timedelta(days=30)]
    with db.read_scope(empty_engine) as s:
        for m in moments:
            by_sql = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=m)}
            assert by_sql == _lights_by_python(s, m), m
            counts = queries.light_counts(s, user=SYSTEM, as_of=m, window_days=None)
            from collections import Counter

            expected = Counter(by_sql.values())
            assert (counts["red"].sum(), counts["yellow"].sum(), counts["green"].sum()) == (
                expected[RED], expected[YELLOW], expected[GREEN]), m
        at = {ext: lt for ext, _, lt in queries.item_lights(s, user=SYSTEM, as_of=T0 + S)}
    assert at["V-open-2-0"] == RED and at["V-open-1-0"] == YELLOW and at["V-open-2-1"] == GREEN


def test_every_history_kind_written_has_a_chinese_label():
    """The 办理记录 table names each step in Chinese: every kind the library writes has a label."""
    import re
    from pathlib import Path

    from lib.items import EVENT_LABELS

    written = set()
    for path in Path("lib").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"(?<!class )ItemEvent\((.{0,200})", text, re.S):
            written |= set(re.findall(r'"([a-z_]+)"', call.group(1).split("to_state")[0]))
    written |= {"updated", "reopened", "completed", "created"}  # lib/items.py's computed kinds
    written -= {"open", "completed_at"}
    assert written - set(EVENT_LABELS) == set()
    assert all(re.search(r"[\u4e00-\u9fff]", v) for v in EVENT_LABELS.values())


def test_a_lights_explanation_is_worded_once_when_read_and_survives_pickling():
    import pickle

    from lib.lights import Light

    calls = []

    def why():
        calls.append(1)
        return "原因", {"k": "v"}

    lt = Light("red", "open_overdue", why=why)
    assert lt.light == "red" and calls == []  # deciding the light words nothing
    assert lt.reason == "原因" and lt.inputs == {"k": "v"} and len(calls) == 1
    assert lt.reason == "原因" and len(calls) == 1
    assert lt == Light("red", "open_overdue", "原因", {"k": "v"})
    assert lt != Light("red", "open_overdue", "别的", {"k": "v"})
    back = pickle.loads(pickle.dumps(Light("yellow", "x", why=why)))
    assert back == Light("yellow", "x", "原因", {"k": "v"})
    with pytest.raises(AttributeError):
        lt.light = "green"


def test_the_clock_light_from_seconds_given_is_the_clock_light():
    """`clock_light(seconds=…)` (a caller converting each time once, 权力运行's thousands of
    steps) decides and explains as `clock_light` converting them itself, on every branch."""
    import random

    from lib.lights import clock_light, epoch

    rng = random.Random(7)
    t0 = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
    seen = set()
    for _ in range(2000):
        recv = t0 + timedelta(minutes=rng.randint(-5000, 5000))
        due = recv + timedelta(minutes=rng.randint(-100, 9000))
        done = None if rng.random() < 0.4 else recv + timedelta(minutes=rng.randint(0, 12000))
        as_of = t0 + timedelta(minutes=rng.randint(-6000, 16000))
        pct = rng.choice([0, 20, 50, 100])
        want = clock_light(recv, due, done, as_of, pct)
        got = clock_light(recv, due, done, as_of, pct, seconds=(
            epoch(as_of), epoch(recv), epoch(due), None if done is None else epoch(done)))
        assert got == want
        seen.add(None if want is None else want.rule)
    assert len(seen) >= 6  # not received yet, each of the clock's rules
