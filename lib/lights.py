"""The traffic-light engine (红黄绿灯): one explainable rule for every domain.

`light_for` is the rule in Python, for one item, with its reason; `light_sql` is the same rule as
a SQL expression for aggregates. Both read the item as it stood at an as-of time T: an item received
after T does not exist yet, one completed after T is still open at T. Nothing is written when a
light changes: an open item turns yellow and then red as the clock moves. A completed item's light
depends only on its completion and deadline, so it never changes again.

Default rule (thresholds per subsystem, `subsystems.yellow_pct`):
- grey   (资料不全): the receipt time or the deadline is missing;
- red    (红牌): open past the deadline, or completed after it, or a rule's red verdict (a red
         line crossed: a flag of `lib.flags`);
- yellow (黄牌): open with less than yellow_pct % of the allowed time (deadline − receipt) left,
         or a rule's yellow verdict (a minor anomaly), unless the time rule says red;
- green  (绿灯): otherwise.
A card cancelled on appeal (or a flag an inspector dismissed) is never red or yellow by verdict,
and never red by the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache, partial

from sqlalchemy import BigInteger, and_, case, false, literal, or_, true, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from lib.config import TZ

GREEN, YELLOW, RED, GREY = "green", "yellow", "red", "grey"
ORDER = (RED, YELLOW, GREEN, GREY)

# One colour means one thing everywhere; a light is never colour alone (label and symbol too).
COLORS = {RED: "#d62728", YELLOW: "#f2c40f", GREEN: "#2ca02c", GREY: "#9e9e9e"}
LABELS = {RED: "红牌", YELLOW: "黄牌", GREEN: "绿灯", GREY: "资料不全"}
SYMBOLS = {RED: "■", YELLOW: "▲", GREEN: "●", GREY: "○"}
SHORT = {RED: "红", YELLOW: "黄", GREEN: "绿", GREY: "灰"}

DEFAULT_YELLOW_PCT = 20

RULE_MISSING = "missing_data"
RULE_COMPLETED_LATE = "completed_late"
RULE_COMPLETED_ON_TIME = "completed_on_time"
RULE_OVERDUE = "open_overdue"
RULE_NEAR = "open_near_deadline"
RULE_ON_TRACK = "open_on_track"
RULE_CANCELLED = "card_cancelled"
RULE_VERDICT_RED = "rule_red"
RULE_VERDICT_YELLOW = "rule_yellow"

# items.verdict: what a rule (lib.flags) decided, beside the clock.
VERDICT_NONE, VERDICT_YELLOW, VERDICT_RED = 0, 1, 2


def badge(light: str) -> str:
    """'■ 红牌' — the light in words, with its symbol."""
    return f"{SYMBOLS[light]} {LABELS[light]}"


def epoch(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone")
    return int(dt.timestamp())


def fmt_duration(seconds: int) -> str:
    """A span in Chinese: '3天4小时', '25分钟'."""
    seconds = abs(int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{minutes}分钟" if minutes else f"{seconds}秒"


@lru_cache(maxsize=16384)
def fmt_time(dt: datetime | None) -> str:
    """A moment in Beijing time, to the minute (cached: a page formats the same deadlines and
    the same as-of time for thousands of items)."""
    return dt.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if dt else "—"


class Light:
    """A light with its explanation: the rule that fired and the inputs it used.

    The light and the rule are decided at once; the explanation (`reason`, `inputs`) may be
    given as `why`, a function returning both, and is worded when first read: a page lights
    thousands of items and shows the reasons of a few. Immutable; equal when all four agree."""

    __slots__ = ("light", "rule", "_reason", "_inputs", "_why")

    def __init__(self, light: str, rule: str, reason: str | None = None,
                 inputs: dict | None = None, *, why=None):
        set_ = object.__setattr__
        set_(self, "light", light)
        set_(self, "rule", rule)
        set_(self, "_reason", reason)
        set_(self, "_inputs", {} if inputs is None and why is None else inputs)
        set_(self, "_why", why)

    def __setattr__(self, name, value):
        raise AttributeError(f"Light is immutable: cannot set {name}")

    def _explain(self) -> None:
        why = self._why
        if why is not None:
            reason, inputs = why()
            object.__setattr__(self, "_reason", reason)
            object.__setattr__(self, "_inputs", inputs)
            object.__setattr__(self, "_why", None)

    @property
    def reason(self) -> str:
        self._explain()
        return self._reason

    @property
    def inputs(self) -> dict:
        self._explain()
        return self._inputs

    def _key(self) -> tuple:
        return (self.light, self.rule, self.reason, self.inputs)

    def __eq__(self, other):
        if not isinstance(other, Light):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # the inputs are a dict

    def __repr__(self) -> str:
        return (f"Light(light={self.light!r}, rule={self.rule!r}, reason={self.reason!r}, "
                f"inputs={self.inputs!r})")

    def __reduce__(self):  # pickled (Streamlit's cache) with its explanation worded
        return (Light, (self.light, self.rule, self.reason, self.inputs))

    @property
    def label(self) -> str:
        return LABELS[self.light]

    @property
    def badge(self) -> str:
        return badge(self.light)


def light_for(
    *,
    received_at: datetime | None,
    deadline: datetime | None,
    completed_at: datetime | None,
    as_of: datetime,
    yellow_pct: int = DEFAULT_YELLOW_PCT,
    card_cancelled: bool = False,
    verdict: int = VERDICT_NONE,
    verdict_note: str | None = None,
) -> Light | None:
    """The item's light as of `as_of`, or None when it was not yet received then.

    A red card cancelled on appeal shows green, with the original reason kept in its why. A
    rule's verdict (`verdict`, with the rule's words in `verdict_note`) makes it red or yellow."""
    light = clock_light(received_at, deadline, completed_at, as_of, yellow_pct)
    if light is None or light.light == GREY:
        return light
    if card_cancelled:
        if light.light == RED:
            return Light(GREEN, RULE_CANCELLED, why=lambda: (
                f"红牌经申诉撤销（原：{light.reason}）",
                light.inputs | {"original_rule": light.rule}))
        if verdict and light.light == GREEN:
            return Light(GREEN, RULE_CANCELLED, why=lambda: (
                f"规则判定经核查撤销（原：{verdict_note or '—'}）",
                light.inputs | {"original_rule": light.rule}))
        return light
    if verdict == VERDICT_RED:
        return Light(RED, RULE_VERDICT_RED, why=lambda: (
            f"触发红线规则：{verdict_note or '—'}", light.inputs | {"verdict": "红牌（规则判定）"}))
    if verdict == VERDICT_YELLOW and light.light != RED:
        return Light(YELLOW, RULE_VERDICT_YELLOW, why=lambda: (
            f"规则提示异常：{verdict_note or '—'}", light.inputs | {"verdict": "黄牌（规则判定）"}))
    return light


def light_of(item, as_of: datetime, yellow_pct: int = DEFAULT_YELLOW_PCT) -> Light | None:
    """`light_for` of an Item row (every input the rule reads, from the row)."""
    return light_for(received_at=item.received_at, deadline=item.deadline,
                     completed_at=item.completed_at, as_of=as_of, yellow_pct=yellow_pct,
                     card_cancelled=bool(item.card_cancelled), verdict=item.verdict or 0,
                     verdict_note=item.title)


def clock_light(received_at, deadline, completed_at, as_of, yellow_pct, *,
                seconds: tuple | None = None) -> Light | None:
    """The clock's light alone, what `light_for` gives an item with no appeal and no verdict
    (an approval's step, say): decided from epoch seconds; its explanation worded when read.
    `seconds`: (as_of, received_at, deadline, completed_at) as epoch seconds already (None for
    no completion), from a caller that converts each once (thousands of steps per view)."""
    if received_at is None or deadline is None:
        return Light(GREY, RULE_MISSING, why=partial(_why_clock, RULE_MISSING, received_at,
                                                     deadline, completed_at, as_of, yellow_pct))
    if seconds is not None:
        asof, recv, due, done = seconds
    else:
        asof, recv, due = epoch(as_of), epoch(received_at), epoch(deadline)
        done = epoch(completed_at) if completed_at is not None else None
    if recv > asof:
        return None
    if done is not None and done <= asof:
        light, rule = (RED, RULE_COMPLETED_LATE) if done > due else (GREEN, RULE_COMPLETED_ON_TIME)
    elif asof > due:
        light, rule = RED, RULE_OVERDUE
    # Integer comparison, the same as in SQL: left/allowed < yellow_pct/100.
    elif (due - asof) * 100 < yellow_pct * (due - recv):
        light, rule = YELLOW, RULE_NEAR
    else:
        light, rule = GREEN, RULE_ON_TRACK
    return Light(light, rule, why=partial(_why_clock, rule, received_at, deadline, completed_at,
                                          as_of, yellow_pct))


def _why_clock(rule, received_at, deadline, completed_at, as_of, yellow_pct) -> tuple[str, dict]:
    """The clock's reason and inputs for the rule `clock_light` chose."""
    asof = epoch(as_of)
    inputs = {
        "as_of": fmt_time(as_of),
        "received_at": fmt_time(received_at),
        "deadline": fmt_time(deadline),
        "completed_at": fmt_time(completed_at) if completed_at and epoch(completed_at) <= asof else "—",
        "yellow_pct": yellow_pct,
    }
    if rule == RULE_MISSING:
        missing = "受理时间" if received_at is None else "办理期限"
        return f"缺少{missing}，无法判定灯色", inputs
    recv, due = epoch(received_at), epoch(deadline)
    if rule == RULE_COMPLETED_LATE:
        done = epoch(completed_at)
        return (f"超期办结：期限 {fmt_time(deadline)}，实际 {fmt_time(completed_at)}，"
                f"超出 {fmt_duration(done - due)}", inputs | {"late_by": fmt_duration(done - due)})
    if rule == RULE_COMPLETED_ON_TIME:
        return f"按时办结：期限 {fmt_time(deadline)}，实际 {fmt_time(completed_at)}", inputs
    if rule == RULE_OVERDUE:
        return (f"逾期未办结：期限 {fmt_time(deadline)}，已超出 {fmt_duration(asof - due)}",
                inputs | {"overdue_by": fmt_duration(asof - due)})
    allowed, left = due - recv, due - asof
    inputs |= {
        "allowed": fmt_duration(allowed),
        "time_left": fmt_duration(left),
        "yellow_threshold": fmt_duration(int(allowed * yellow_pct / 100)),
    }
    if rule == RULE_NEAR:
        return (f"临近期限：剩余 {fmt_duration(left)}，不足总时限 {fmt_duration(allowed)} 的 "
                f"{yellow_pct}%", inputs)
    return f"正常办理：剩余 {fmt_duration(left)}（总时限 {fmt_duration(allowed)}）", inputs


def light_flags_sql(received, deadline, completed, yellow_pct, as_of,
                    cancelled=None, verdict=None, *, open_at: bool = False,
                    due_known: bool = False) -> dict:
    """The rule's conditions as SQL booleans, for rows received by T. The light is the first that
    holds of: grey, late (red, closed), closed (green), overdue (red, open), near (yellow); else
    green. A rule's verdict (`verdict`: 0, 1 yellow, 2 red) counts as late/overdue when red and
    as near when yellow, so every aggregate built on these flags counts it the same way.

    Aggregates sum these flags (cheap integer comparisons, no CASE per row); `light_sql` turns
    the same flags into one light, so both read the rule from here.

    `open_at`: the rows are known to be open at T (not completed): the rule's closed branches
    are dropped from the expressions (SQLAlchemy folds the constants), so a count over the open
    items evaluates fewer conditions per row; the flags are the same for such rows.
    `due_known`: the rows are known to have a deadline (the caller's WHERE selects a range of
    it): its NULL test is left out.

    Each conjunction puts first the term that is false for most rows (most open items are
    green: the yellow test), so the database stops at it: a count over the open items not yet
    overdue evaluates a sixth fewer terms per row (10M items: 17 -> 14 ms)."""
    t = sql_time(as_of)
    recv = type_coerce(received, BigInteger)
    due = type_coerce(deadline, BigInteger)
    done = type_coerce(completed, BigInteger)
    known = recv.is_not(None) if due_known else and_(recv.is_not(None), due.is_not(None))
    if open_at:
        is_open, is_closed = true(), false()
    else:
        is_open = or_(done.is_(None), done > t)
        is_closed = and_(done.is_not(None), done <= t)
    # A card cancelled on appeal is never red (it falls through to green).
    standing = true() if cancelled is None else cancelled == false()
    red_verdict = false() if verdict is None else verdict == VERDICT_RED
    v_red = and_(red_verdict, standing)
    v_yellow = false() if verdict is None else and_(verdict == VERDICT_YELLOW, standing)
    late_by_clock = and_(is_closed, done > due, standing)
    overdue_by_clock = and_(is_open, t > due, standing)
    near_by_clock = and_((due - t) * 100 < yellow_pct * (due - recv), t <= due, is_open)
    return {
        "grey": recv.is_(None) if due_known else or_(recv.is_(None), due.is_(None)),
        "late": and_(known, is_closed, or_(done > due, v_red), standing),
        "closed": and_(known, is_closed),
        # (or_(t > due, v_red) AND standing is or_(t > due, red verdict) AND standing)
        "overdue": and_(or_(t > due, red_verdict), standing, is_open, known),
        "near": and_(or_(near_by_clock, and_(v_yellow, ~late_by_clock, ~overdue_by_clock)),
                     known, ~v_red),
        "open": is_open,
    }


def light_sql(received, deadline, completed, yellow_pct, as_of: datetime,
              cancelled=None, verdict=None) -> ColumnElement:
    """The same rule as `light_for`, as a SQL CASE over epoch-second columns (rows received ≤ T)."""
    f = light_flags_sql(received, deadline, completed, yellow_pct, as_of, cancelled, verdict)
    return case(
        (f["grey"], GREY),
        (f["late"], RED),
        (f["overdue"], RED),
        (f["near"], YELLOW),
        else_=GREEN,
    )


def exists_sql(received, as_of) -> ColumnElement:
    """Rows that exist at T: received by then (rows without a receipt time show grey)."""
    recv = type_coerce(received, BigInteger)
    return or_(recv.is_(None), recv <= sql_time(as_of))


def sql_time(as_of) -> ColumnElement:
    """T in SQL, epoch seconds: a datetime's value, or an expression given for it (a bound
    parameter of a statement kept per shape: `lib.queries.light_template`)."""
    if isinstance(as_of, datetime):
        return literal(epoch(as_of), BigInteger)
    return as_of


def yellow_from(received: datetime, deadline: datetime, yellow_pct: int) -> datetime:
    """The first moment an open item shows yellow (for schedules and tests)."""
    allowed = epoch(deadline) - epoch(received)
    return deadline - timedelta(seconds=allowed * yellow_pct / 100)
