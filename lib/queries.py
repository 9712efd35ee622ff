"""Every aggregate the pages use, in one module.

Pages and the command line read numbers only through these functions, so a faster store
(rollups of closed items, whose lights never change) can replace a query here without touching
a page. Functions take the session and every input that changes their answer; they never write.

Population of a view at time T with a window of W days: the items open at T, plus those completed
in (T − W, T]. Lights come from `lib.lights.light_sql`, the same rule as `light_for`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    case,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from lib import config, db
from lib.access import CurrentUser, require, scoped_unit
from lib.lights import (
    GREEN,
    GREY,
    RED,
    VERDICT_NONE,
    VERDICT_RED,
    YELLOW,
    epoch,
    exists_sql,
    light_flags_sql,
    light_for,
    light_sql,
)
from lib.models import (
    STANDOUT_SQL,
    AccountabilityRecord,
    Domain,
    Item,
    KeyProject,
    Person,
    Region,
    Subsystem,
    Unit,
    VillageDisclosureMonth,
)

MIN_CASES = 5  # a unit or area needs this many cases to be graded or ranked


@dataclass(frozen=True)
class AreaThresholds:
    """How an area or unit is graded from its items' lights (shown in the legend)."""

    red_rate: float = 0.07  # red cards / items in view ≥ 7 % → red
    yellow_rate: float = 0.05  # ≥ 5 % → yellow
    min_cases: int = MIN_CASES

    def describe(self) -> str:
        return (f"红：红牌占比≥{self.red_rate:.0%}；黄：≥{self.yellow_rate:.0%}；"
                f"绿：低于{self.yellow_rate:.0%}；灰：事项少于{self.min_cases}件")


def grade(red: int, total: int, t: AreaThresholds = AreaThresholds()) -> str:
    if total < t.min_cases:
        return GREY
    rate = red / total
    if rate >= t.red_rate:
        return RED
    if rate >= t.yellow_rate:
        return YELLOW
    return GREEN


def _ts(col):
    return type_coerce(col, BigInteger)


def _in_view(as_of: datetime, window_days: int | None, open_only: bool = False, since=None):
    """Items that exist at T and are open then or were completed within the window.
    `open_only`: the caller selects items not completed, which are in any window. `since`: an
    expression for T − W's epoch seconds (else computed from `as_of`)."""
    cond = [exists_sql(Item.received_at, as_of)]
    if window_days is not None and not open_only:
        if since is None:
            since = literal(epoch(as_of - timedelta(days=window_days)), BigInteger)
        done = _ts(Item.completed_at)
        cond.append(or_(done.is_(None), done > since))
    return and_(*cond)


COUNT_COLUMNS = ["total", "open", "red", "open_red", "yellow", "green", "grey", "closed", "on_time"]


def light_counts(
    session: Session,
    *,
    user: CurrentUser,
    as_of: datetime,
    window_days: int | None = 365,
    region_id: int | None = None,
    unit_id: int | None = None,
    subsystem_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The cockpit's one scan: per (unit, subsystem, region), how many items in view are open,
    red (and of them open past the deadline), yellow, green, grey, closed and closed on time.
    `subsystem_ids`: only these subsystems (a domain page's; None: all).

    Read from the rollups (`lib.rollups`: cells of the items whose light can no longer change,
    and the open items live) when they can answer, else from the base table
    (`direct_light_counts`); the same figures either way. `df.attrs["source"]` says which:
    "rollups", "snapshot" (a past month's end) or "direct". Staff see only their own unit."""
    from lib import rollups

    require(user, "view_items")
    unit_id = scoped_unit(user, unit_id)
    answer = rollups.light_counts(session, as_of=as_of, window_days=window_days,
                                  region_id=region_id, unit_id=unit_id,
                                  subsystem_ids=subsystem_ids)
    if answer is None:
        return direct_light_counts(session, user=user, as_of=as_of, window_days=window_days,
                                   region_id=region_id, unit_id=unit_id,
                                   subsystem_ids=subsystem_ids)
    source, rows = answer
    df = _count_frame(rows)
    df.attrs["source"] = source
    return df


def direct_light_counts(
    session: Session,
    *,
    user: CurrentUser,
    as_of: datetime,
    window_days: int | None = 365,
    region_id: int | None = None,
    unit_id: int | None = None,
    subsystem_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """`light_counts` read from the base table: it sums the rule's flags
    (`lib.lights.light_flags_sql`) grouped in the order of the covering index `ix_items_view`, so
    SQLite answers from the index without sorting. Staff see only their own unit."""
    require(user, "view_items")
    unit_id = scoped_unit(user, unit_id)
    rows = raw_light_counts(session, as_of=as_of, window_days=window_days, region_id=region_id,
                            unit_id=unit_id, subsystem_ids=subsystem_ids)
    df = _count_frame(rows)
    df.attrs["source"] = "direct"
    return df


def raw_light_counts(session: Session, *, as_of: datetime, window_days: int | None,
                     region_id: int | None = None, unit_id: int | None = None,
                     subsystem_ids: Sequence[int] | None = None) -> list:
    """(unit, subsystem, region, total, open, grey, late, closed, overdue, near) of the items in
    view at T, from the base table. No access check: callers check."""
    return session.execute(raw_light_select(as_of=as_of, window_days=window_days,
                                            region_id=region_id, unit_id=unit_id,
                                            subsystem_ids=subsystem_ids)).all()


def raw_light_select(*, as_of: datetime, window_days: int | None, region_id: int | None = None,
                     unit_id: int | None = None, subsystem_ids: Sequence[int] | None = None,
                     open_only: bool = False, due_known: bool = False, since=None):
    """The select behind `raw_light_counts` (rows in view at T, grouped). `open_only`: the
    caller selects only items not completed (the flags' closed branches are left out);
    `due_known`: only items with a deadline (`light_flags_sql`). T, `since` (T − W) and the
    filters' values may be bound parameters (`light_template`)."""
    f = light_flags_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                        as_of, Item.card_cancelled, Item.verdict, open_at=open_only,
                        due_known=due_known)

    def n(cond):  # COUNT(*) FILTER (WHERE …): the cheapest conditional count in both databases
        return func.count().filter(cond)

    stmt = (
        select(Item.unit_id, Item.subsystem_id, Item.region_id, func.count().label("total"),
               func.count() if open_only else n(f["open"]), n(f["grey"]), n(f["late"]),
               n(f["closed"]), n(f["overdue"]), n(f["near"]))
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .where(_in_view(as_of, window_days, open_only, since))
        .group_by(Item.unit_id, Item.subsystem_id, Item.region_id)
    )
    if region_id is not None:
        stmt = stmt.where(Item.region_id == region_id)
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    if subsystem_ids is not None:
        stmt = stmt.where(one_of(Item.subsystem_id, subsystem_ids))
    return stmt


_LIGHT_TEMPLATES: dict[tuple, object] = {}  # shape -> raw_light_select with named parameters
LIGHT_TEMPLATES_MAX = 256


def light_template(*, as_of: datetime, window_days: int | None, region_id: int | None = None,
                   unit_id: int | None = None, subsystem_ids: Sequence[int] | None = None,
                   open_only: bool = False, due_known: bool = False) -> tuple[object, dict]:
    """`raw_light_select` kept per shape (window or none, which filters, how many subsystems,
    `open_only`, `due_known`) with its values as required named parameters, and the values
    for these arguments: building the select (its light rule's expressions) took about 1 ms,
    four times a count, on every read. Bind the values when executing
    (`db.hinted_cursor(…, values=…)`); a parameter left unbound is an error (`db.UNBOUND`)."""
    subs = None if subsystem_ids is None else list(subsystem_ids)
    shape = (window_days is None, region_id is None, unit_id is None,
             None if subs is None else len(subs), open_only, due_known)
    stmt = _LIGHT_TEMPLATES.get(shape)
    if stmt is None:
        def p(name: str, type_=BigInteger):
            return bindparam(name, db.UNBOUND, type_=type_)

        stmt = raw_light_select(
            as_of=p("lt_t"), window_days=window_days,
            since=None if window_days is None else p("lt_since"),
            region_id=None if region_id is None else p("lt_region", Integer),
            unit_id=None if unit_id is None else p("lt_unit", Integer),
            subsystem_ids=None if subs is None else [p(f"lt_sub_{i}", Integer)
                                                     for i in range(len(subs))],
            open_only=open_only, due_known=due_known)
        if len(_LIGHT_TEMPLATES) >= LIGHT_TEMPLATES_MAX:
            _LIGHT_TEMPLATES.clear()
        _LIGHT_TEMPLATES[shape] = stmt
    values: dict = {"lt_t": epoch(as_of)}
    if window_days is not None:
        values["lt_since"] = epoch(as_of - timedelta(days=window_days))
    if region_id is not None:
        values["lt_region"] = region_id
    if unit_id is not None:
        values["lt_unit"] = unit_id
    for i, sub in enumerate(subs or ()):
        values[f"lt_sub_{i}"] = sub
    return stmt, values


def one_of(col, values: Sequence[int]):
    """`col IN (values)` as one equality per value (none: false). Not an IN list: a statement
    with one is compiled again on every read (`db.indexed_by` keeps a statement's text per
    shape, and an IN list's text depends on its length); a domain has a handful of subsystems."""
    return or_(false(), *[col == v for v in values])


def _count_frame(rows) -> pd.DataFrame:
    """The counts' frame from (unit, subsystem, region, total, open, grey, late, closed, overdue,
    near) rows: integer columns built with numpy (a frame of tuples cost 3.7 ms for the city's
    1,500 rows), the region a float column with NaN for none."""
    rows = list(rows)
    if rows:
        cols = list(zip(*rows, strict=True))
        ints = np.array([cols[i] for i in (0, 1, 3, 4, 5, 6, 7, 8, 9)], dtype=np.int64)
        region = np.array([np.nan if r is None else r for r in cols[2]], dtype=np.float64)
    else:
        ints, region = np.zeros((9, 0), dtype=np.int64), np.zeros(0, dtype=np.float64)
    unit, sub, total, open_, grey, late, closed, overdue, near = ints
    return pd.DataFrame({
        "unit_id": unit, "subsystem_id": sub, "region_id": region, "total": total, "open": open_,
        "red": late + overdue, "open_red": overdue, "yellow": near,
        "green": total - late - overdue - near - grey,
        "grey": grey, "closed": closed, "on_time": closed - late,
    })


def catalog_frames(session: Session) -> dict[str, pd.DataFrame]:
    """Small lookup tables for naming the ids in the aggregates."""
    def frame(stmt, cols):
        return db.frame(session.execute(stmt), cols)

    return {
        "domains": frame(select(Domain.id, Domain.code, Domain.name, Domain.sort_order)
                         .order_by(Domain.sort_order), ["domain_id", "domain_code", "domain", "sort"]),
        "subsystems": frame(select(Subsystem.id, Subsystem.code, Subsystem.name, Subsystem.domain_id,
                                   Subsystem.yellow_pct).order_by(Subsystem.sort_order),
                            ["subsystem_id", "subsystem_code", "subsystem", "domain_id", "yellow_pct"]),
        "units": frame(select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.region_id)
                       .order_by(Unit.code), ["unit_id", "unit_code", "unit", "unit_level", "unit_region_id"]),
        "counties": frame(select(Region.id, Region.code, Region.name).where(Region.level == "county")
                          .order_by(Region.code), ["region_id", "adcode", "region"]),
    }


def _summarize(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts summed per group, with the on-time rate and the share of red cards."""
    out = df.groupby(keys, as_index=False)[COUNT_COLUMNS].sum()
    out["on_time_rate"] = (out["on_time"] / out["closed"]).where(out["closed"] > 0)
    out["red_rate"] = (out["red"] / out["total"]).where(out["total"] > 0)
    return out


def domain_kpis(counts: pd.DataFrame, cat: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per domain (all six, even when empty): open, red, yellow, on-time rate."""
    d = counts.merge(cat["subsystems"][["subsystem_id", "domain_id"]], on="subsystem_id")
    s = _summarize(d, ["domain_id"])
    out = cat["domains"].merge(s, on="domain_id", how="left")
    for col in COUNT_COLUMNS:
        out[col] = out[col].fillna(0).astype(int)
    return out


def region_summary(counts: pd.DataFrame, cat: dict[str, pd.DataFrame],
                   thresholds: AreaThresholds = AreaThresholds()) -> pd.DataFrame:
    """One row per county-level unit (all nine) with its counts and grade."""
    s = _summarize(counts, ["region_id"])
    out = cat["counties"].merge(s, on="region_id", how="left")
    for col in COUNT_COLUMNS:
        out[col] = out[col].fillna(0).astype(int)
    out["grade"] = [grade(r, t, thresholds) for r, t in zip(out["red"], out["total"], strict=True)]
    return out


def unit_ranking(counts: pd.DataFrame, cat: dict[str, pd.DataFrame],
                 min_cases: int = MIN_CASES) -> pd.DataFrame:
    """Units ranked by on-time completion rate (ties: fewer red cards, then more cases).

    A unit with fewer than `min_cases` closed cases is not ranked, with the reason."""
    s = _summarize(counts, ["unit_id"])
    out = s.merge(cat["units"], on="unit_id")
    ranked = out["closed"] >= min_cases
    out["ranked"] = ranked
    out["not_ranked_reason"] = ""
    out.loc[~ranked, "not_ranked_reason"] = out.loc[~ranked, "closed"].map(
        lambda n: f"办结事项{n}件，少于{min_cases}件，不参与排名")
    r = out[ranked].sort_values(["on_time_rate", "red", "closed"], ascending=[False, True, False])
    # Equal rate and equal red count share a rank (competition ranking: 1, 2, 2, 4).
    key = list(zip(r["on_time_rate"].round(6), r["red"], strict=True))
    ranks, prev = [], None
    for i, k in enumerate(key, start=1):
        ranks.append(ranks[-1] if k == prev else i)
        prev = k
    r = r.assign(rank=ranks)
    rest = out[~ranked].assign(rank=pd.NA).sort_values("unit_code")
    return pd.concat([r, rest], ignore_index=True)


def unit_lights(counts: pd.DataFrame, cat: dict[str, pd.DataFrame],
                thresholds: AreaThresholds = AreaThresholds()) -> pd.DataFrame:
    """Per unit in view: counts, a grade by its share of red cards (as the map grades a county),
    the grade and rate in words; the reddest first."""
    from lib.lights import LABELS, SYMBOLS

    if counts.empty:
        return pd.DataFrame(columns=["unit_id", "unit", "grade", "grade_text", "on_time_rate_text",
                                     *COUNT_COLUMNS])
    s = _summarize(counts, ["unit_id"]).merge(cat["units"], on="unit_id")
    s["grade"] = [grade(r, t, thresholds) for r, t in zip(s["red"], s["total"], strict=True)]
    s["grade_text"] = [f"{SYMBOLS[g]} {LABELS[g] if g != GREY else '数据不足'}" for g in s["grade"]]
    s["on_time_rate_text"] = [f"{x:.1%}" if pd.notna(x) else "—" for x in s["on_time_rate"]]
    order = {RED: 0, YELLOW: 1, GREEN: 2, GREY: 3}
    s["_o"] = s["grade"].map(order)
    return s.sort_values(["_o", "red", "yellow", "unit_code"],
                         ascending=[True, False, False, True]).drop(columns="_o")


@dataclass(frozen=True)
class ItemRow:
    id: int
    external_id: str
    title: str | None
    unit: str
    subsystem: str
    domain: str
    region: str | None
    received_at: datetime | None
    deadline: datetime | None
    completed_at: datetime | None
    light: str
    reason: str
    rule: str
    inputs: dict
    red_since: datetime | None = None


def _item_stmt():
    return (
        select(Item.id, Item.external_id, Item.title, Unit.name, Subsystem.name, Domain.name,
               Region.name, Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
               Item.card_cancelled, Item.verdict)
        .join(Unit, Unit.id == Item.unit_id)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(Domain, Domain.id == Subsystem.domain_id)
        .outerjoin(Region, Region.id == Item.region_id)
    )


def _explain(row, as_of: datetime) -> ItemRow | None:
    (iid, ext, title, unit, sub, dom, region, recv, due, done, ypct, cancelled, verdict) = row
    lt = light_for(received_at=recv, deadline=due, completed_at=done, as_of=as_of, yellow_pct=ypct,
                   card_cancelled=bool(cancelled), verdict=verdict or 0, verdict_note=title)
    if lt is None:
        return None
    red_since = None
    if lt.light == RED:
        red_since = due if verdict == VERDICT_RED or done is None or done > as_of else done
    return ItemRow(iid, ext, title, unit, sub, dom, region, recv, due,
                   done if (done is not None and done <= as_of) else None,
                   lt.light, lt.reason, lt.rule, lt.inputs, red_since)


def _newest_ids(session: Session, where: list, col, t: int, limit: int,
                windows: tuple = (30, 365, None)) -> list[int]:
    """The ids of the `limit` items matching `where` with the latest `col` (at most T), newest
    first. Read in widening windows back from T (30 days, a year, all): a closed range lets the
    index on `col` answer at once, where for an open one SQLite's planner reads every item of the
    table (or of the unit) and sorts them."""
    for days in windows:
        cond = where if days is None else [*where, col > t - days * 86400]
        ids = list(session.scalars(select(Item.id).where(*cond).order_by(col.desc())
                                   .limit(limit)))
        if len(ids) >= limit:
            break
    return ids


def latest_red(
    session: Session, *, user: CurrentUser, as_of: datetime, limit: int = 10,
    region_id: int | None = None, unit_id: int | None = None,
) -> list[ItemRow]:
    """The most recent red cards at T (open past the deadline, or completed late), newest first,
    each with its reason. Staff see only their own unit."""
    require(user, "view_items")
    unit_id = scoped_unit(user, unit_id)
    t = literal(epoch(as_of), BigInteger)
    recv, due, done = _ts(Item.received_at), _ts(Item.deadline), _ts(Item.completed_at)
    scope = [recv <= t, Item.card_cancelled == false()]
    if region_id is not None:
        scope.append(Item.region_id == region_id)
    if unit_id is not None:
        scope.append(Item.unit_id == unit_id)
    # City-wide, read back from T through the index on the time; for a unit or a county through
    # its own index (then the window would only repeat the same read).
    windows = (None,) if region_id is not None or unit_id is not None else (30, 365, None)
    overdue = _item_stmt().where(Item.id.in_(_newest_ids(
        session, [*scope, due < t, or_(done.is_(None), done > t)], due, epoch(as_of), limit,
        windows)))
    late = _item_stmt().where(Item.id.in_(_newest_ids(
        session, [*scope, done <= t, done > due], done, epoch(as_of), limit, windows)))
    # A rule's red verdict (a red line crossed) is red from the moment it was crossed.
    by_rule = (_item_stmt().where(*scope, Item.verdict == VERDICT_RED)
               .order_by(due.desc()).limit(limit))
    rows = [_explain(r, as_of) for r in session.execute(overdue).all()]
    rows += [_explain(r, as_of) for r in session.execute(late).all()]
    seen = {r.id for r in rows if r is not None}
    rows += [x for x in (_explain(r, as_of) for r in session.execute(by_rule).all())
             if x is not None and x.id not in seen]
    rows = [r for r in rows if r is not None and r.light == RED]
    rows.sort(key=lambda r: r.red_since, reverse=True)
    return rows[:limit]


# -- item lists: urgent first, counted, paged ----------------------------------------------------

STATES = {"open": "在办", "closed": "已办结"}


@dataclass(frozen=True)
class ItemFilter:
    """Which items a list shows: those in view at `as_of` (open then, or completed within the
    window), narrowed by any of the other fields. The same population and rule as the cockpit's
    counts, so a card's number and the list it opens always agree."""

    as_of: datetime
    window_days: int | None = 365
    domain_code: str | None = None
    subsystem_code: str | None = None
    region_id: int | None = None
    unit_id: int | None = None
    light: str | None = None  # red / yellow / green / grey
    state: str | None = None  # open / closed
    text: str | None = None  # part of the item number or title
    external_id: str | None = None  # exactly this item

    def __post_init__(self):
        if self.light not in (None, RED, YELLOW, GREEN, GREY):
            raise ValueError(f"unknown light {self.light}")
        if self.state not in (None, *STATES):
            raise ValueError(f"unknown state {self.state}")


@dataclass(frozen=True)
class ItemPage:
    """One page of a list (items, or anything lit by an item, like a work order), with how
    many match in all and how many of each light."""

    rows: list
    total: int
    counts: dict[str, int]  # total, red, yellow, green, grey, open, open_red
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 when the list is empty)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0


ORDER_TEXT = "红牌在前（逾期最久的在前），其次黄牌（剩余时间最少的在前）、绿灯（期限近的在前）、资料不全，已办结的在最后（超期办结的在前，新近办结的在前）"


def _urgency_group(as_of: datetime):
    """0 red (open past the deadline, or a rule's standing red card), 1 yellow, 2 green and
    open, 3 grey, 4 closed. A rule's standing card (a red line crossed, an anomaly) stands with
    the open cards of its light, not among the finished work. Only open items, items done after
    T, rule cards and grey items (`_head_ids`) can be below 4."""
    f = light_flags_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                        as_of, Item.card_cancelled, Item.verdict)
    v_red = and_(Item.verdict != VERDICT_NONE, Item.card_cancelled == false(),
                 Item.verdict == VERDICT_RED)
    return case((f["overdue"], 0), (v_red, 0), (f["near"], 1), (f["grey"], 3), (f["open"], 2),
                else_=4)


def _head_ids(session: Session, as_of: datetime):
    """A select of the ids that can head an urgent-first list at T (group below 4): the open
    items, those done after T, rule cards and grey items, each read through its own small index
    (SQLite is told which), however many closed items the table holds."""
    t = int(epoch(as_of))
    if session.get_bind().dialect.name == "sqlite":
        sql = ("SELECT id FROM items INDEXED BY ix_items_open WHERE completed_at IS NULL "
               "UNION ALL SELECT id FROM items INDEXED BY ix_items_completed "
               f"WHERE completed_at > {t} "
               "UNION ALL SELECT id FROM items INDEXED BY ix_items_standout "
               f"WHERE ({STANDOUT_SQL})")
        return select(text(sql).columns(column("id", Integer)).subquery().c.id)
    return union_all(select(Item.id).where(Item.completed_at.is_(None)),
                     select(Item.id).where(_ts(Item.completed_at) > t),
                     select(Item.id).where(text(f"({STANDOUT_SQL})")))


def _urgency_keys(as_of: datetime) -> tuple:
    """(group, late first, when): the keys of "urgent first" (`urgency_order`), as expressions."""
    f = light_flags_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                        as_of, Item.card_cancelled, Item.verdict)
    verdict = and_(Item.verdict != VERDICT_NONE, Item.card_cancelled == false())
    v_red = and_(verdict, Item.verdict == VERDICT_RED)
    late_first = case((and_(f["late"], ~v_red), 0), else_=1)
    due, done = _ts(Item.deadline), _ts(Item.completed_at)
    when = case((and_(f["closed"], ~verdict), -done), else_=due)
    return _urgency_group(as_of), late_first, when


def urgency_order(as_of: datetime) -> list:
    """ORDER BY clauses for "urgent first", from the light rule's own flags: open red (most
    overdue first), open yellow (least time left first), open green (nearest deadline first),
    grey (missing data), then closed (late ones first, most recently completed first)."""
    group, late_first, when = _urgency_keys(as_of)
    return [group, late_first, when.asc().nulls_last(), Item.id.desc()]


HEAD_PARTS = ("ix_items_open", "ix_items_completed", "ix_items_standout")


def _head_union(keys, as_of: datetime, since: int | None = None):
    """The head of a list (`keys`: a select of its items' ids) as the union of three disjoint
    parts, read through their own indexes (`HEAD_PARTS`, in order) with the urgency keys
    computed from the index alone: the open items, the items done after T, and the rule cards
    and grey items done by T. Columns: id, g, l, w (`_urgency_keys`).
    `since`: the list's window (done after this epoch second), when `keys` leaves it out: the
    first two parts imply it and are read without it (PostgreSQL, given `completed_at IS NULL
    AND (completed_at IS NULL OR completed_at > …)`, multiplied the two selectivities, estimated
    550 open items of 74,500 and read them through the table instead of the open items'
    covering index: 0.19 s at 10M)."""
    group, late_first, when = _urgency_keys(as_of)
    t = literal(epoch(as_of), BigInteger)
    done = _ts(Item.completed_at)
    cols = (Item.id.label("id"), group.label("g"), late_first.label("l"), when.label("w"))
    standout = [text(f"({STANDOUT_SQL})"), done <= t]
    if since is not None:
        standout.append(done > literal(since, BigInteger))
    parts = [Item.completed_at.is_(None), done > t, and_(*standout)]
    return union_all(*[keys.with_only_columns(*cols, maintain_column_froms=True)
                       .where(cond, group < 4) for cond in parts])


def _subsystem_ids(session: Session, flt: ItemFilter) -> list[int] | None:
    """The ids of the subsystems the filter's domain and subsystem hold (None: no such filter).
    Read first, so that the items are filtered by their own column: PostgreSQL's planner,
    given a join to a domain's code, estimated the average subsystem's items (840,000 at 10M)
    for a domain of a few hundred and read half a million entries of another index (0.13 s)."""
    if not (flt.domain_code or flt.subsystem_code):
        return None
    pick = select(Subsystem.id).join(Domain, Domain.id == Subsystem.domain_id)
    if flt.domain_code:
        pick = pick.where(Domain.code == flt.domain_code)
    if flt.subsystem_code:
        pick = pick.where(Subsystem.code == flt.subsystem_code)
    return sorted(session.scalars(pick))


def _filtered(stmt, flt: ItemFilter, unit_id: int | None, sub_ids: list[int] | None,
              window: bool = True):
    """`stmt` narrowed to the filter; `sub_ids`: `_subsystem_ids(session, flt)`. `window=False`:
    without the time window's condition on completion (the caller applies it)."""
    lt = light_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                   flt.as_of, Item.card_cancelled, Item.verdict)
    stmt = stmt.where(_in_view(flt.as_of, flt.window_days if window else None))
    if flt.light:
        stmt = stmt.where(lt == flt.light)
    if flt.state:
        done = _ts(Item.completed_at)
        is_open = or_(done.is_(None), done > literal(epoch(flt.as_of), BigInteger))
        stmt = stmt.where(is_open if flt.state == "open" else ~is_open)
    if sub_ids is not None:  # the domain's and subsystem's ids
        stmt = stmt.where(one_of(Item.subsystem_id, sub_ids))
    if flt.region_id is not None:
        stmt = stmt.where(Item.region_id == flt.region_id)
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    if flt.external_id:
        stmt = stmt.where(Item.external_id == flt.external_id.strip())
    if flt.text and flt.text.strip():
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", flt.text.strip()[:64]) + "%"
        stmt = stmt.where(or_(Item.external_id.ilike(pattern, escape="\\"),
                              Item.title.ilike(pattern, escape="\\")))
    return stmt


def item_page(session: Session, *, user: CurrentUser, flt: ItemFilter, page: int = 1,
              per_page: int | None = 50, counts: pd.DataFrame | None = None) -> ItemPage:
    """The items matching `flt`, urgent first (`urgency_order`), one page of them
    (`per_page=None`: all), with the number matching and the count of each light.
    Staff see only their own unit. `counts`: the user's `light_counts` for the filter's time
    and window (every county and unit), when the caller has them already (a page that drew
    its overview from them): the tally is cut from them instead of counted again."""
    require(user, "view_items")
    unit_id = scoped_unit(user, flt.unit_id)
    sub_ids = _subsystem_ids(session, flt)
    stmt = _filtered(_item_stmt(), flt, unit_id, sub_ids)
    counts = (_rollup_tally(session, user, flt, unit_id, counts, sub_ids)
              or light_tally(session, stmt, flt.as_of))
    ids = select(Item.id).join(Subsystem, Subsystem.id == Item.subsystem_id)  # its threshold
    keys = _filtered(ids, flt, unit_id, sub_ids)
    head = (_filtered(ids, flt, unit_id, sub_ids, window=False),
            None if flt.window_days is None
            else epoch(flt.as_of - timedelta(days=flt.window_days)))
    rows, page, per_page = urgent_page(session, stmt, flt.as_of, counts["total"], page, per_page,
                                       keys=keys, head=head)
    rows = [r for r in (_explain(row, flt.as_of) for row in rows) if r]
    return ItemPage(rows, counts["total"], counts, page, per_page)


def tally_from_counts(flt: ItemFilter) -> bool:
    """Whether a list's tally can be cut from the cockpit's counts: its filter is one they hold
    (time window, county, unit, domain, subsystem; all lights or red), not a text, an external
    id, a state or another light."""
    return not ((flt.text and flt.text.strip()) or flt.external_id or flt.state
                or flt.light not in (None, RED))


def _rollup_tally(session: Session, user: CurrentUser, flt: ItemFilter,
                  unit_id: int | None, counts: pd.DataFrame | None,
                  sub_ids: list[int] | None) -> dict[str, int] | None:
    """`light_tally`'s figures from the cockpit's counts (lib.rollups) when the filter is one
    they hold (time window, county, unit, domain, subsystem; all lights or red); None when the
    base table must count (a text, a state or another light asked for, or no rollups for T)."""
    from lib import rollups

    if not tally_from_counts(flt) or rollups.as_of_source(session, flt.as_of) == "direct":
        return None
    if counts is None:
        df = light_counts(session, user=user, as_of=flt.as_of, window_days=flt.window_days,
                          region_id=flt.region_id, unit_id=unit_id, subsystem_ids=sub_ids)
    else:
        df = counts
        if flt.region_id is not None:
            df = df[df["region_id"] == flt.region_id]
        if unit_id is not None:
            df = df[df["unit_id"] == unit_id]
    if sub_ids is not None:
        df = df[df["subsystem_id"].isin(sub_ids)]
    c = {k: int(df[k].sum()) for k in ("total", "red", "yellow", "green", "grey", "open",
                                       "open_red")}
    if flt.light == RED:
        return {"total": c["red"], RED: c["red"], YELLOW: 0, GREEN: 0, GREY: 0,
                "open": c["open_red"], "open_red": c["open_red"]}
    return {"total": c["total"], RED: c["red"], YELLOW: c["yellow"], GREEN: c["green"],
            GREY: c["grey"], "open": c["open"], "open_red": c["open_red"]}


def light_tally(session: Session, stmt, as_of: datetime) -> dict[str, int]:
    """How many rows a select over items (joined with their subsystem) has, and of each light
    at T: total, red, yellow, green, grey, open, open_red — the cockpit's own sums."""
    f = light_flags_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                        as_of, Item.card_cancelled, Item.verdict)
    n = func.count().filter
    counting = stmt.with_only_columns(
        func.count(), n(or_(f["late"], f["overdue"])), n(f["near"]), n(f["grey"]), n(f["open"]),
        n(f["overdue"]), maintain_column_froms=True).order_by(None)
    total, red, yellow, grey, open_, open_red = (int(x or 0) for x in session.execute(counting).one())
    return {"total": total, RED: red, YELLOW: yellow, GREEN: total - red - yellow - grey,
            GREY: grey, "open": open_, "open_red": open_red}


HEAD_MIN_ROWS = 20_000  # lists at least this long read their first pages from the head


def urgent_page(session: Session, stmt, as_of: datetime, total: int, page: int,
                per_page: int | None, keys=None, head=None) -> tuple[list, int, int]:
    """(rows, page, per page) of a select over items, urgent first (`urgency_order`); the page
    is kept within the list; `per_page=None`: every row. `keys`: the same rows as a select of
    the items' ids (`stmt`'s first column `id`) with only the joins the filter and the order
    need: the page's ids are sorted first, joining nothing else, then its rows read by id.
    `head`: (`keys` without the window's condition on completion, the window's start in epoch
    seconds or None) for the head's read (`_head_union`); default `keys` as they are."""
    page = max(1, int(page))
    order = urgency_order(as_of)
    if per_page is None:
        return session.execute(stmt.order_by(*order)).all(), 1, max(1, total)
    per_page = max(1, int(per_page))
    page = min(page, max(1, -(-total // per_page)))
    offset = (page - 1) * per_page
    two_steps = keys is not None
    if two_steps and total >= HEAD_MIN_ROWS:
        # The head's parts read through their own indexes with the urgency keys from the index
        # (no row of the table read for tens of thousands of open items); the page's ids sorted
        # from them when the head holds the page.
        union = (_head_union(keys, as_of) if head is None
                 else _head_union(head[0], as_of, head[1]))
        last = union.offset(offset + per_page - 1).limit(1)
        if session.execute(db.indexed_by(session, last, list(HEAD_PARTS))).first() is not None:
            ordered = union.order_by(literal_column("g"), literal_column("l"),
                                     literal_column("w").asc().nulls_last(),
                                     literal_column("id").desc()).offset(offset).limit(per_page)
            ids = [r[0] for r in session.execute(db.indexed_by(session, ordered,
                                                               list(HEAD_PARTS)))]
            return _rows_by_id(session, stmt, ids), page, per_page
    if keys is None:
        keys = stmt
    if not two_steps and total >= HEAD_MIN_ROWS:
        # The head of the list (every row but the closed ones, which come last) is read and
        # sorted alone: the first pages never sort the closed items (millions at a city's
        # scale). A short list (a unit's inbox) is sorted whole: cheaper than the head's read.
        head = keys.where(Item.id.in_(_head_ids(session, as_of)), _urgency_group(as_of) < 4)
        # Whether the head holds the whole page: its row at the page's last place, not a count
        # of the head (tens of thousands of open items at a city's scale).
        last = (head.with_only_columns(Item.id, maintain_column_froms=True).order_by(None)
                .offset(offset + per_page - 1).limit(1))
        if session.execute(last).first() is not None:
            keys = head
    if not two_steps:
        return session.execute(keys.order_by(*order).offset(offset).limit(per_page)).all(), \
            page, per_page
    # The page's ids in order first (the sort holds the keys and the id, not the page's display
    # columns), then the page's rows by id.
    ids = list(session.scalars(keys.order_by(*order).offset(offset).limit(per_page)))
    return _rows_by_id(session, stmt, ids), page, per_page


def _rows_by_id(session: Session, stmt, ids: list[int]) -> list:
    """`stmt`'s rows of these items (its first column `id`), in the order of `ids`."""
    if not ids:
        return []
    rows = {row.id: row for row in session.execute(stmt.where(Item.id.in_(ids))).all()}
    return [rows[i] for i in ids]


def list_items(
    session: Session, *, user: CurrentUser, as_of: datetime, light: str | None = None,
    domain_code: str | None = None, subsystem_code: str | None = None,
    region_id: int | None = None, unit_id: int | None = None, window_days: int | None = 365,
    external_id: str | None = None, state: str | None = None,
) -> list[ItemRow]:
    """Every item in view at T matching the filters, urgent first, with lights and reasons
    (`item_page` for a page of them and the counts). Staff see only their own unit."""
    flt = ItemFilter(as_of=as_of, window_days=window_days, domain_code=domain_code,
                     subsystem_code=subsystem_code, region_id=region_id, unit_id=unit_id,
                     light=light, state=state, external_id=external_id)
    return item_page(session, user=user, flt=flt, per_page=None).rows


def item_lights(session: Session, *, user: CurrentUser,
                as_of: datetime) -> list[tuple[str, datetime | None, str]]:
    """(external_id, deadline, light) of every item existing at T, in SQL: the CLI's `lights`."""
    require(user, "view_items")
    unit_id = scoped_unit(user, None)
    lt = light_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct, as_of,
                   Item.card_cancelled, Item.verdict)
    stmt = (select(Item.external_id, Item.deadline, lt)
            .join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(exists_sql(Item.received_at, as_of)).order_by(Item.external_id))
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    return [tuple(r) for r in session.execute(stmt).all()]


# -- the source's figures ----------------------------------------------------------------------

@dataclass(frozen=True)
class SourceFigures:
    key_tasks_completed: int
    key_tasks_on_time: int
    key_tasks_open: int
    projects: int
    projects_completed: int
    nodes_completed: int
    nodes_on_time: int
    units_criticized: int
    officials_accountable: int
    towns: int
    villages: int
    disclosed_items: int
    disclosure_views: int
    subsystems: int
    planned_subsystems: int = config.PLANNED_SUBSYSTEMS

    @property
    def key_task_on_time_rate(self) -> float | None:
        return self.key_tasks_on_time / self.key_tasks_completed if self.key_tasks_completed else None

    @property
    def node_on_time_rate(self) -> float | None:
        return self.nodes_on_time / self.nodes_completed if self.nodes_completed else None


def _completion_counts(session: Session, codes: Sequence[str],
                       as_of: datetime) -> dict[str, tuple[int, int, int]]:
    """Per subsystem code: (completed by T, of them on time, open at T), in one read. The
    subsystems' ids are read first, so the items are read through their subsystem index
    (joined by code, PostgreSQL's planner scans the whole table: 0.7 s at ten million items)."""
    ids = dict(session.execute(select(Subsystem.id, Subsystem.code)
                               .where(Subsystem.code.in_(codes))).all())
    out = dict.fromkeys(codes, (0, 0, 0))
    if not ids:
        return out
    t = literal(epoch(as_of), BigInteger)
    recv, due, done = _ts(Item.received_at), _ts(Item.deadline), _ts(Item.completed_at)
    closed = and_(done.is_not(None), done <= t)
    stmt = (select(Item.subsystem_id, func.count().filter(closed),
                   func.count().filter(closed, done <= due), func.count().filter(~closed))
            .where(or_(*[Item.subsystem_id == i for i in sorted(ids)]), recv <= t)
            .group_by(Item.subsystem_id))
    for sub_id, a, b, c in session.execute(stmt).all():
        out[ids[sub_id]] = (int(a or 0), int(b or 0), int(c or 0))
    return out


def source_figures(session: Session, *, as_of: datetime) -> SourceFigures:
    """The figures of the source document as the data gives them at T: three reads (the
    subsystems' ids, their items' counts, and every other figure as one row of subqueries;
    they were eleven statements, each a round of SQLAlchemy's execution)."""
    day = as_of.astimezone(config.TZ).date()
    done = _completion_counts(session, ("KEYWORK", "KEYPROJ"), as_of)
    tasks, nodes = done["KEYWORK"], done["KEYPROJ"]
    a, m = AccountabilityRecord, VillageDisclosureMonth  # (the months' totals: migration 0022)

    def count(table, *where, what=None):
        return select(func.count() if what is None else func.count(func.distinct(what))
                      ).select_from(table).where(*where).scalar_subquery()

    row = session.execute(select(
        count(KeyProject, KeyProject.start_date <= day),
        count(KeyProject, KeyProject.start_date <= day, KeyProject.completed_on <= day),
        count(a, a.kind == "criticism", a.decided_on <= day, what=a.unit_id),
        count(a.__table__.join(Person.__table__, Person.id == a.person_id),
              a.kind == "accountability", a.decided_on <= day,
              Person.rank.in_(("处级", "科级")), what=a.person_id),
        count(Region, Region.level == "town"),
        count(Region, Region.level == "village"),
        select(func.coalesce(func.sum(m.items), 0)).where(m.month <= day).scalar_subquery(),
        select(func.coalesce(func.sum(m.views), 0)).where(m.month <= day).scalar_subquery(),
        count(Subsystem),
    )).one()
    projects, projects_done, criticized, officials, towns, villages, items, views, subs = row
    return SourceFigures(
        key_tasks_completed=tasks[0], key_tasks_on_time=tasks[1], key_tasks_open=tasks[2],
        projects=int(projects or 0), projects_completed=int(projects_done or 0),
        nodes_completed=nodes[0], nodes_on_time=nodes[1],
        units_criticized=int(criticized or 0), officials_accountable=int(officials or 0),
        towns=int(towns or 0), villages=int(villages or 0),
        disclosed_items=int(items or 0), disclosure_views=int(views or 0),
        subsystems=int(subs or 0),
    )
