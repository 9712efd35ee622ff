"""Efficiency assessment (行政效能 / 电子考核): scores, ranks and published rankings.

Every unit, post (岗位) and person is scored from the one table of supervised items, month by
month; a quarter's or a year's score is the mean of its months, weighted by their cases. The
rules, all documented on screen:

- **Which items count.** An item is assessed in the month its deadline falls in (local time; a
  deadline of 24:00 on Sep 30 is September's), judged as it stood at the end of that month (or
  now, for the month under way). So every item is judged exactly once, and work done after the
  month ended does not change it. A rating counts in the month it was given, an online
  evaluation likewise. An appeal that cancels a card later corrects the live ranking of the
  card's month; a published ranking stays as published.
- **Cases** are the items already finished or past their deadline. An entity with fewer than
  `min_cases` cases in the period (default 5) is not ranked, and the reason says so.
- **Indicators**, each 0–100 so that units of very different size compare fairly:
  - 工作量 workload: the percentile of items per staff member among the month's entities with
    cases (the busiest 100; robust to one very busy office; no staff registered: no figure);
  - 按时办结率 on-time completion: cases finished by their deadline ÷ cases (a red card cancelled
    on appeal counts as on time);
  - 办结效率 efficiency: per finished item, 100 × (1 − time used ÷ time allowed ÷ 2), floored at 0:
    finishing at once earns 100, using the whole limit 50, twice the limit or more 0;
  - 办事结果满意度 satisfaction with the result: the mean rating (1–5) given that month,
    (mean − 1) ÷ 4, once there are `min_ratings` ratings (default 3);
  - 网上测评满意度 online evaluation: the public's evaluations of the unit that month, the same
    scale and floor (units only: posts and persons are not evaluated online);
  - 亮牌情况 cards: 100 minus the deductions (default 5 per yellow card, 10 per red) per 100
    items, floored at 0. A red card is an item finished late or overdue (not cancelled on appeal);
    a yellow card an item that lit yellow before it was finished (less than the subsystem's
    yellow share of its time left), without going red.
- **Score** = Σ weight × indicator ÷ 100 with the administrators' weights (summing to 100). An
  indicator without data (too few ratings) is left out and its weight shared among the others in
  proportion, shown as the effective weight.
- **Ties** share a rank (competition ranking 1, 2, 2, 4) and are marked 并列; scores are compared
  rounded to two decimals, the precision they are published with.
- **Grades**: 优秀 ≥ 90, 良好 ≥ 80, 合格 ≥ 60, else 不合格 (configurable).
- The inspectors' own office supervises and is not assessed.

Publishing a finished period freezes its ranking as a snapshot: rows, the scheme used and a
SHA-256 over both. Triggers refuse any UPDATE or DELETE of a snapshot; `verify_snapshot`
recomputes the hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from calendar import monthrange
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, or_, select, text, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from lib import audit, catalog, db
from lib.access import CurrentUser, can, mask_name, require, unit_scope
from lib.clock import now_utc
from lib.config import TZ
from lib.models import (
    AppSetting,
    Evaluation,
    Item,
    Person,
    Post,
    RankingSnapshot,
    Region,
    Subsystem,
    Unit,
)


class ScoringError(ValueError):
    """A refused request (bad period, weights, publication); the message is for the user."""


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    default_weight: int
    how: str


INDICATORS = (
    Indicator("workload", "工作量", 10,
              "人均事项数在当月有考核事项的对象中的百分位：最多者 100 分，并列取平均名次"),
    Indicator("on_time", "按时办结率", 30,
              "按期限办结（含申诉撤销红牌）的事项 ÷ 已办结或已到期的事项"),
    Indicator("efficiency", "办结效率", 15,
              "每件办结事项 100 ×（1 − 用时 ÷ 时限 ÷ 2），最低 0 分：立即办结 100，用满时限 50"),
    Indicator("satisfaction", "办事结果满意度", 20,
              "当月收到的服务对象评价（1–5 分）平均值，换算为百分制：(平均分 − 1) ÷ 4"),
    Indicator("evaluation", "网上测评满意度", 10,
              "当月群众在门户网站对单位的网上测评（1–5 分）平均值，换算同上；仅单位参评"),
    Indicator("cards", "亮牌情况", 15,
              "100 − 每百件事项的扣分（黄牌、红牌各按设定分值扣），最低 0 分"),
)
INDICATOR_BY_CODE = {i.code: i for i in INDICATORS}
CODES = tuple(i.code for i in INDICATORS)
DEFAULT_WEIGHTS = {i.code: i.default_weight for i in INDICATORS}

LEVELS = {"unit": "单位", "post": "岗位", "person": "个人"}
GRADES = ("优秀", "良好", "合格", "不合格")
CN_QUARTER = {1: "一", 2: "二", 3: "三", 4: "四"}
_SETTING = "scoring."  # prefix of the scheme's keys in app_settings


# -- the scheme: weights, deductions, floor, grades ------------------------------------------

@dataclass(frozen=True)
class Scheme:
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    yellow_deduction: float = 5.0  # points per yellow card, per `per_items` items
    red_deduction: float = 10.0
    per_items: int = 100
    min_cases: int = 5
    min_ratings: int = 3  # ratings (or evaluations) a month needs before satisfaction counts
    excellent: int = 90
    good: int = 80
    passing: int = 60

    def __hash__(self) -> int:  # for caches: the weights dict is the only unhashable part
        return hash((tuple(sorted(self.weights.items())), self.yellow_deduction,
                     self.red_deduction, self.per_items, self.min_cases, self.min_ratings,
                     self.excellent,
                     self.good, self.passing))

    def validate(self) -> Scheme:
        """Raise ScoringError, in Chinese, unless the scheme is usable; return it."""
        if set(self.weights) != set(CODES):
            raise ScoringError("权重须覆盖全部六项指标")
        for code, w in self.weights.items():
            if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 100:
                raise ScoringError(f"{INDICATOR_BY_CODE[code].label}的权重须为 0–100 的整数")
        total = sum(self.weights.values())
        if total != 100:
            raise ScoringError(f"各项权重之和须为 100，现为 {total}")
        for name, v in (("黄牌扣分", self.yellow_deduction), ("红牌扣分", self.red_deduction)):
            if not isinstance(v, (int, float)) or math.isnan(v) or not 0 <= v <= 100:
                raise ScoringError(f"{name}须为 0–100 之间的数")
        if not isinstance(self.per_items, int) or not 1 <= self.per_items <= 10_000:
            raise ScoringError("扣分基数须为 1–10000 件之间的整数")
        if not isinstance(self.min_cases, int) or not 1 <= self.min_cases <= 1000:
            raise ScoringError("参与排名的最少事项数须为 1–1000 之间的整数")
        if not isinstance(self.min_ratings, int) or not 1 <= self.min_ratings <= 1000:
            raise ScoringError("满意度计分所需的最少评价数须为 1–1000 之间的整数")
        if not (100 >= self.excellent > self.good > self.passing > 0):
            raise ScoringError("等次分数线须满足 100 ≥ 优秀 > 良好 > 合格 > 0")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weights"] = {c: self.weights[c] for c in CODES}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scheme:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def grade(self, score: float | None) -> str:
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return ""
        if score >= self.excellent:
            return "优秀"
        if score >= self.good:
            return "良好"
        if score >= self.passing:
            return "合格"
        return "不合格"

    def describe(self) -> list[str]:
        """The scheme in words, for the screen, the printed report and the snapshot."""
        w = "、".join(f"{i.label} {self.weights[i.code]}" for i in INDICATORS)
        return [
            f"权重（合计 100）：{w}",
            f"亮牌扣分：每 {self.per_items} 件事项中，黄牌每张扣 {self.yellow_deduction:g} 分，"
            f"红牌每张扣 {self.red_deduction:g} 分（亮牌情况指标最低 0 分）",
            f"参与排名：考核期内已办结或已到期的事项不少于 {self.min_cases} 件",
            f"满意度、网上测评：当月评价不少于 {self.min_ratings} 条方计分，否则该项不计、权重按比例分配",
            f"等次：优秀 ≥ {self.excellent}，良好 ≥ {self.good}，合格 ≥ {self.passing}，"
            f"低于 {self.passing} 为不合格",
        ]


def load_scheme(session: Session) -> Scheme:
    """The scheme in force: administrators' settings over the documented defaults."""
    stored = {r.key[len(_SETTING):]: r.value for r in session.scalars(
        select(AppSetting).where(AppSetting.key.like(_SETTING + "%")))}
    if not stored:
        return Scheme()
    d = Scheme().to_dict()
    for code in CODES:
        if f"w.{code}" in stored:
            d["weights"][code] = int(stored[f"w.{code}"])
    for key in ("yellow_deduction", "red_deduction"):
        if key in stored:
            d[key] = float(stored[key])
    for key in ("per_items", "min_cases", "min_ratings", "excellent", "good", "passing"):
        if key in stored:
            d[key] = int(stored[key])
    return Scheme.from_dict(d)


def save_scheme(session: Session, actor: CurrentUser, scheme: Scheme) -> bool:
    """Validate and store the scheme (audited); the caller commits. False when nothing changed."""
    require(actor, "manage_settings")
    scheme.validate()
    before = load_scheme(session)
    if before.to_dict() == scheme.to_dict():
        return False
    values = {f"w.{c}": str(scheme.weights[c]) for c in CODES}
    values |= {k: f"{getattr(scheme, k):g}" for k in ("yellow_deduction", "red_deduction")}
    values |= {k: str(getattr(scheme, k))
               for k in ("per_items", "min_cases", "min_ratings", "excellent", "good", "passing")}
    for key, value in values.items():
        row = session.get(AppSetting, _SETTING + key)
        if row is None:
            session.add(AppSetting(key=_SETTING + key, value=value))
        else:
            row.value = value
    audit.record(session, actor=actor.username, action="scoring.scheme", entity="setting",
                 entity_id="scoring", before=before.to_dict(), after=scheme.to_dict())
    return True


# -- periods ---------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Period:
    """A month (2026-11), a quarter (2026-Q3) or a year (2026)."""

    year: int
    kind: str  # month / quarter / year
    index: int = 0  # month 1–12, quarter 1–4, 0 for a year

    @classmethod
    def parse(cls, text: str) -> Period:
        t = (text or "").strip().upper()
        try:
            if len(t) == 4 and t.isdigit():
                p = cls(int(t), "year")
            elif len(t) == 7 and t[4:6] == "-Q" and t[:4].isdigit() and t[6] in "1234":
                p = cls(int(t[:4]), "quarter", int(t[6]))
            elif len(t) == 7 and t[4] == "-" and t[:4].isdigit() and t[5:].isdigit() \
                    and 1 <= int(t[5:]) <= 12:
                p = cls(int(t[:4]), "month", int(t[5:]))
            else:
                raise ValueError
        except ValueError:
            raise ScoringError(f"考核期“{text}”格式不正确：月度如 2026-11，季度如 2026-Q3，"
                               "年度如 2026") from None
        if not 2000 <= p.year <= 2100:
            raise ScoringError("考核期年份须在 2000–2100 之间")
        return p

    @property
    def code(self) -> str:
        if self.kind == "year":
            return f"{self.year}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}-{self.index:02d}"

    @property
    def label(self) -> str:
        if self.kind == "year":
            return f"{self.year}年度"
        if self.kind == "quarter":
            return f"{self.year}年第{CN_QUARTER[self.index]}季度"
        return f"{self.year}年{self.index}月"

    @property
    def months(self) -> list[tuple[int, int]]:
        if self.kind == "year":
            return [(self.year, m) for m in range(1, 13)]
        if self.kind == "quarter":
            return [(self.year, m) for m in range(3 * self.index - 2, 3 * self.index + 1)]
        return [(self.year, self.index)]

    @property
    def start(self) -> datetime:
        y, m = self.months[0]
        return datetime(y, m, 1, tzinfo=TZ)

    @property
    def end(self) -> datetime:
        """The first moment after the period (exclusive)."""
        return month_end(*self.months[-1])

    def previous(self) -> Period:
        if self.kind == "year":
            return Period(self.year - 1, "year")
        if self.kind == "quarter":
            return Period(self.year, "quarter", self.index - 1) if self.index > 1 else \
                Period(self.year - 1, "quarter", 4)
        return Period(self.year, "month", self.index - 1) if self.index > 1 else \
            Period(self.year - 1, "month", 12)

    def __str__(self) -> str:
        return self.code


def month_end(year: int, month: int) -> datetime:
    return datetime(year, month, monthrange(year, month)[1], tzinfo=TZ) + timedelta(days=1)


def recent_periods(today: datetime, kind: str, n: int = 8) -> list[Period]:
    """The latest `n` periods of a kind up to the one containing `today`, newest first."""
    local = today.astimezone(TZ)
    if kind == "year":
        p = Period(local.year, "year")
    elif kind == "quarter":
        p = Period(local.year, "quarter", (local.month - 1) // 3 + 1)
    else:
        p = Period(local.year, "month", local.month)
    out = []
    for _ in range(n):
        out.append(p)
        p = p.previous()
    return out


# -- computing a ranking ---------------------------------------------------------------------

@dataclass
class Ranking:
    """A ranking of one level for one period, as of a moment.

    `table`: one row per entity (columns: code, name, unit, unit_code, region, adcode, staff,
    items, cases, on_time, red, yellow, rated, evaluations, months, months_scored, score, rank,
    tie, grade, ranked, reason, v_<indicator>, w_<indicator>, c_<indicator>).
    `monthly`: the same per month (key `month`), the months' scores behind a quarter or a year."""

    period: Period
    level: str
    as_of: datetime
    scheme: Scheme
    table: pd.DataFrame
    monthly: pd.DataFrame

    def rows(self) -> list[dict]:
        return table_rows(self.table)


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _entities(session: Session, level: str) -> pd.DataFrame:
    """Everything that can be ranked at a level, with its staff count. The inspectors' own
    office supervises and is not assessed."""
    people = db.frame(session.execute(select(Person.id, Person.unit_id, Person.post_id)),
                      ["person_id", "unit_id", "post_id"])
    parent = aliased(Region)
    units = db.frame(session.execute(
        select(Unit.id, Unit.code, Unit.name, Region.name, Region.code, Region.level,
               parent.name, parent.code, parent.level)
        .join(Region, Region.id == Unit.region_id)
        .outerjoin(parent, parent.id == Region.parent_id)
        .where(Unit.code != catalog.INSPECTORS_UNIT)),
        ["unit_id", "unit_code", "unit", "region", "adcode", "region_level", "parent",
         "parent_code", "parent_level"])
    # A township's government belongs to its county (坡头镇 → 坡头区), not to the city's own
    # departments (市直).
    town = (units["region_level"] != "county") & (units["parent_level"] == "county")
    units.loc[town, "region"] = units.loc[town, "parent"]
    units.loc[town, "adcode"] = units.loc[town, "parent_code"]
    units.loc[(units["region_level"] != "county") & ~town, ["region", "adcode"]] = ["市直", ""]
    units = units.drop(columns=["region_level", "parent", "parent_code", "parent_level"])
    if level == "unit":
        staff = people.groupby("unit_id").size().rename("staff")
        out = units.merge(staff, on="unit_id", how="left")
        out = out.assign(key=out["unit_id"], code=out["unit_code"], name=out["unit"])
    elif level == "post":
        posts = db.frame(session.execute(select(Post.id, Post.unit_id, Post.name)),
                         ["post_id", "unit_id", "post"])
        staff = people.groupby("post_id").size().rename("staff")
        out = posts.merge(units, on="unit_id").merge(staff, on="post_id", how="left")
        out = out.assign(key=out["post_id"],
                         code=out["unit_code"] + ".P" + out["post_id"].astype(str),
                         name=out["post"])
    elif level == "person":
        ppl = db.frame(session.execute(
            select(Person.id, Person.unit_id, Person.name, Post.name)
            .outerjoin(Post, Post.id == Person.post_id)),
            ["person_id", "unit_id", "name", "post"])
        out = ppl.merge(units, on="unit_id").assign(staff=1)
        out = out.assign(key=out["person_id"],
                         code=out["unit_code"] + ".R" + out["person_id"].astype(str))
    else:
        raise ScoringError(f"排名层级须为 {'、'.join(LEVELS)} 之一")
    out["staff"] = out["staff"].fillna(0).astype(int)
    cols = ["key", "code", "name", "unit", "unit_code", "unit_id", "region", "adcode", "staff"]
    if "post" in out:
        cols.append("post")
    return out[cols].sort_values("code").reset_index(drop=True)


ITEM_COLUMNS = ["id", "unit_id", "handler_id", "post_id", "received", "deadline", "completed",
                "cancelled", "yellow_pct", "rating", "rated_at", "verdict"]


def _numeric(df: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df


def _item_stmt(extra: tuple = ()):
    recv = type_coerce(Item.received_at, BigInteger)
    due = type_coerce(Item.deadline, BigInteger)
    done = type_coerce(Item.completed_at, BigInteger)
    rated = type_coerce(Item.rated_at, BigInteger)
    stmt = (select(Item.id, Item.unit_id, Item.handler_id, Person.post_id, recv, due, done,
                   Item.card_cancelled, Subsystem.yellow_pct, Item.rating, rated, Item.verdict,
                   *extra)
            .join(Subsystem, Subsystem.id == Item.subsystem_id)
            .outerjoin(Person, Person.id == Item.handler_id))
    return stmt, recv, due, rated


def _rows(session: Session, stmt, index: str | None = None) -> list[tuple]:
    """Plain tuples through Core: SQLAlchemy's Row objects make pandas probe each one for
    namedtuple fields, which costs more than the query at a million items. On SQLite the items
    are read through `index` when given (its planner otherwise starts from the small joined
    tables and reads every item of each: seconds at ten million)."""
    if index is not None:
        stmt = db.indexed_by(session, stmt, [index])
    return [tuple(r) for r in session.connection().execute(stmt)]


FLOAT_COLUMNS = ("received", "deadline", "completed", "rating", "rated_at", "post_id",
                 "handler_id")


def _frame(rows, extra: int) -> pd.DataFrame:
    names = ITEM_COLUMNS + [f"x{i}" for i in range(extra)]
    try:  # column by column, numbers converted in C (NULL becomes NaN)
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        df = pd.DataFrame({name: np.array(values, dtype="float64") if name in FLOAT_COLUMNS
                           else pd.Series(values, dtype=None if values else object)
                           for name, values in zip(names, cols, strict=True)})
    except (TypeError, ValueError):  # something not a number where a number belongs
        df = pd.DataFrame(rows, columns=names)
        df = _numeric(df, FLOAT_COLUMNS)
    df["cancelled"] = df["cancelled"].astype(bool)
    df["verdict"] = pd.to_numeric(df["verdict"]).fillna(0).astype("int64")
    return df


def _load_items(session: Session, start: datetime, end: datetime, as_of: datetime,
                unit_id: int | None = None, extra: tuple = (), units: list[int] | None = None,
                where: tuple = (), index: str | None = None) -> pd.DataFrame:
    """Items due in (start, end] — a deadline is stored as 24:00 of its last day, that is 00:00
    of the next — that exist at `as_of`, as plain numbers."""
    stmt, recv, due, _ = _item_stmt(extra)
    stmt = stmt.where(due > _epoch(start), due <= _epoch(end),
                      or_(recv.is_(None), recv <= _epoch(as_of)), *where)
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    if units is not None:
        stmt = stmt.where(Item.unit_id.in_(units))
    index = index or ("ix_items_deadline" if unit_id is None and units is None else None)
    return _frame(_rows(session, stmt, index), len(extra))


def _load_ratings(session: Session, start: datetime, end: datetime, as_of: datetime,
                  unit_id: int | None = None, extra: tuple = ()) -> pd.DataFrame:
    """Items rated in [start, end) and by `as_of`: a rating counts in the month it was given."""
    stmt, _, _, rated = _item_stmt(extra)
    stmt = stmt.where(Item.rating.is_not(None), rated >= _epoch(start), rated < _epoch(end),
                      rated <= _epoch(as_of))
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    return _frame(_rows(session, stmt, "ix_items_rated" if unit_id is None else None),
                  len(extra))


def _month_keys(epochs: pd.Series) -> pd.Series:
    local = pd.to_datetime(epochs, unit="s", utc=True).dt.tz_convert(TZ)
    return (local.dt.year * 100 + local.dt.month).astype("int64")


def judge(items: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Each item judged at the end of its deadline's month (24:00 of its last day), or at
    `as_of` if sooner.

    A rule's card (`verdict`, lib.flags) is not a case: it counts only as a red or yellow card
    of its unit in the month it was given, and leaves workload, on-time rate and efficiency alone.

    Adds: month, t (the judging moment), flag, done, judged, late, red, on_time, yellow,
    eff_points."""
    df = items.copy()
    df["month"] = _month_keys(df["deadline"] - 1)  # 24:00 of Sep 30 is September's
    ends = {m: _epoch(month_end(m // 100, m % 100)) for m in df["month"].unique()}
    t = np.minimum(df["month"].map(ends).astype("float64"), float(_epoch(as_of)))
    df["t"] = t
    due, done_at, recv = df["deadline"], df["completed"], df["received"]
    flag = df["verdict"] > 0
    df["flag"] = flag
    df["done"] = done_at.notna() & (done_at <= t) & ~flag
    df["judged"] = (df["done"] | (due <= t)) & ~flag
    df["late"] = df["judged"] & ~(df["done"] & (done_at <= due))
    df["red"] = (df["late"] & ~df["cancelled"]) | (flag & (df["verdict"] == 2) & ~df["cancelled"]
                                                   & (due <= t))
    df["on_time"] = df["judged"] & ~df["red"]
    end = done_at.where(df["done"], t)
    allowed = due - recv
    known = recv.notna() & (allowed > 0)
    # Lit yellow before it finished: less than yellow_pct % of its time was left (the engine's
    # rule, evaluated at the moment it was finished or judged).
    df["yellow"] = (~df["late"] & ~flag & known
                    & ((due - end) * 100 < df["yellow_pct"] * allowed)) \
        | (flag & (df["verdict"] == 1) & ~df["cancelled"] & (due <= t))
    used = (done_at - recv) / allowed
    eff = (100 * (1 - used / 2)).clip(lower=0, upper=100)
    df["eff_points"] = eff.where(df["done"] & known)
    return df


def _entity_key(level: str) -> str:
    return {"unit": "unit_id", "post": "post_id", "person": "handler_id"}[level]


def _by_month(df: pd.DataFrame, level: str, when: str) -> pd.DataFrame:
    """Rows with an entity key and the month of `when`."""
    key = _entity_key(level)
    df = df[df[key].notna()]
    return df.assign(key=df[key].astype("int64"), month=_month_keys(df[when]))


ITEM_FIGURES = ["items", "cases", "on_time", "red", "yellow", "eff_n", "eff_sum"]


def _item_figures(judged: pd.DataFrame, level: str) -> pd.DataFrame:
    """Per month and entity: the judged items' figures (ITEM_FIGURES), indexed by (month, key)."""
    key = _entity_key(level)
    df = judged[judged[key].notna()].assign(key=lambda d: d[key].astype("int64"))
    return _sums(df, ["month", "key"])


HANDLER_KEYS = ["month", "unit", "handler"]


class MonthFigures(NamedTuple):
    """Kept monthly figures: per (month, key = unit), and per (month, unit, handler) of the
    items with a handler (`ScoreMonth`, `ScoreHandlerMonth`)."""
    units: pd.DataFrame
    handlers: pd.DataFrame


def _month_parts(judged: pd.DataFrame) -> MonthFigures:
    h = judged[judged["handler_id"].notna()]
    h = h.assign(unit=h["unit_id"].astype("int64"), handler=h["handler_id"].astype("int64"))
    return MonthFigures(_item_figures(judged, "unit"), _sums(h, HANDLER_KEYS))


def _no_figures(keys: list[str]) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([np.array([], dtype="int64")] * len(keys), names=keys)
    return pd.DataFrame({c: np.array([], dtype="float64" if c == "eff_sum" else "int64")
                         for c in ITEM_FIGURES}, index=index)


def _sums(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if df.empty:
        return _no_figures(by)
    g = df.groupby(by)
    return pd.DataFrame({
        "items": g["flag"].size() - g["flag"].sum(),  # cases, not the rules' cards
        "cases": g["judged"].sum(),
        "on_time": g["on_time"].sum(),
        "red": g["red"].sum(),
        "yellow": g["yellow"].sum(),
        "eff_n": g["eff_points"].count(),
        "eff_sum": g["eff_points"].sum(),
    }, columns=ITEM_FIGURES)


def _aggregate(figures: pd.DataFrame, ratings: pd.DataFrame, evals: pd.DataFrame,
               level: str) -> pd.DataFrame:
    agg = figures
    r = _by_month(ratings, level, "rated_at").groupby(["month", "key"])["rating"]
    agg = agg.join(pd.DataFrame({"rated": r.count(), "rating_sum": r.sum()}), how="outer")
    if level == "unit" and not evals.empty:
        e = evals.assign(key=evals["unit_id"].astype("int64")).groupby(["month", "key"])["rating"]
        agg = agg.join(pd.DataFrame({"evaluations": e.count(), "eval_sum": e.sum()}),
                       how="outer")
    else:
        agg = agg.assign(evaluations=0, eval_sum=0.0)
    agg = agg.fillna(0)
    for c in ("items", "cases", "on_time", "red", "yellow", "eff_n", "rated", "evaluations"):
        agg[c] = agg[c].astype(int)
    return agg.reset_index()


def _indicators(agg: pd.DataFrame, ent: pd.DataFrame, scheme: Scheme) -> pd.DataFrame:
    """Per month and entity: the six indicators (NaN without data), effective weights,
    contributions and the month's score (months with at least one case)."""
    m = agg.merge(ent[["key", "staff"]], on="key", how="inner")
    m["scored"] = m["cases"] >= 1
    # Workload: the percentile of items per staff member among the month's scored entities
    # (robust to one very busy office; the busiest scores 100, ties share the mean rank).
    # An entity without registered staff has no workload figure.
    m["per_staff"] = (m["items"] / m["staff"]).where(m["staff"] > 0)
    pct = m["per_staff"].where(m["scored"]).groupby(m["month"]).rank(method="average", pct=True)
    m["v_workload"] = 100 * pct
    m["v_on_time"] = (100 * m["on_time"] / m["cases"]).where(m["cases"] > 0)
    m["v_efficiency"] = (m["eff_sum"] / m["eff_n"]).where(m["eff_n"] > 0)
    m["v_satisfaction"] = ((m["rating_sum"] / m["rated"] - 1) / 4 * 100).where(
        m["rated"] >= scheme.min_ratings)
    m["v_evaluation"] = ((m["eval_sum"] / m["evaluations"] - 1) / 4 * 100).where(
        m["evaluations"] >= scheme.min_ratings)
    deduction = (scheme.yellow_deduction * m["yellow"] + scheme.red_deduction * m["red"]) \
        * scheme.per_items / m["items"]
    m["v_cards"] = (100 - deduction).clip(lower=0).where(m["items"] > 0)
    avail = sum(m[f"v_{c}"].notna() * scheme.weights[c] for c in CODES)
    for c in CODES:
        w = (100 * scheme.weights[c] / avail).where(m[f"v_{c}"].notna() & (avail > 0), 0.0)
        m[f"w_{c}"] = w
        m[f"c_{c}"] = (w * m[f"v_{c}"].fillna(0) / 100)
    m["score"] = sum(m[f"c_{c}"] for c in CODES).where(m["scored"] & (avail > 0))
    m.loc[m["score"].isna(), [f"c_{c}" for c in CODES] + [f"w_{c}" for c in CODES]] = np.nan
    return m


def _rank(table: pd.DataFrame, scheme: Scheme) -> pd.DataFrame:
    """Competition ranking on scores rounded to two decimals; equal scores share a rank."""
    t = table.copy()
    t["score"] = t["score"].round(2).where(t["ranked"])
    t = t.sort_values(["ranked", "score", "code"], ascending=[False, False, True])
    ranks, prev, count = [], None, 0
    for sc, ok in zip(t["score"], t["ranked"], strict=True):
        count += 1
        if not ok:
            ranks.append(pd.NA)
            continue
        ranks.append(ranks[-1] if sc == prev else count)
        prev = sc
    t["rank"] = pd.array(ranks, dtype="Int64")
    shared = t[t["ranked"]].groupby("rank")["code"].transform("size")
    t["tie"] = False
    t.loc[shared.index, "tie"] = shared > 1
    t["grade"] = [scheme.grade(sc) if ok else "" for sc, ok in zip(t["score"], t["ranked"],
                                                                 strict=True)]
    return t.reset_index(drop=True)


def compute(session: Session, period: Period | str, level: str = "unit", *,
            as_of: datetime | None = None, scheme: Scheme | None = None) -> Ranking:
    """The live ranking of every entity of a level (no access filter: see `visible`)."""
    period = Period.parse(period) if isinstance(period, str) else period
    if level not in LEVELS:
        raise ScoringError(f"排名层级须为 {'、'.join(LEVELS)} 之一")
    scheme = (scheme or load_scheme(session)).validate()
    as_of = min(as_of or now_utc(), period.end)
    if as_of <= period.start:
        raise ScoringError(f"{period.label}尚未开始，没有可考核的事项")
    ent = _entities(session, level)
    figures = kept_figures(session, period, as_of, level)
    if figures is None:
        figures = _item_figures(judge(_load_items(session, period.start, period.end, as_of),
                                      as_of), level)
    ratings = _load_ratings(session, period.start, period.end, as_of)
    at = type_coerce(Evaluation.at, BigInteger)
    evals = db.frame(session.execute(
        select(Evaluation.unit_id, at, Evaluation.rating)
        .where(at >= _epoch(period.start), at < _epoch(period.end), at <= _epoch(as_of))),
        ["unit_id", "at", "rating"])
    evals["month"] = _month_keys(evals["at"]) if not evals.empty else pd.Series(dtype="int64")
    monthly = _indicators(_aggregate(figures, ratings, evals, level), ent, scheme)
    n_months = sum(1 for y, m in period.months if datetime(y, m, 1, tzinfo=TZ) < as_of)
    table = _summarize(monthly, ent, scheme, n_months)
    return Ranking(period, level, as_of, scheme, _rank(table, scheme),
                   monthly.merge(ent[["key", "code", "name"]], on="key"))


def _summarize(monthly: pd.DataFrame, ent: pd.DataFrame, scheme: Scheme,
               n_months: int) -> pd.DataFrame:
    """The period's row per entity: counts summed over its months; the score, indicators,
    weights and contributions the means of its scored months weighted by their cases (so the
    contributions still add up to the score). Ranked with at least `min_cases` cases."""
    counts = ["items", "cases", "on_time", "red", "yellow", "rated", "evaluations"]
    sums = monthly.groupby("key")[counts].sum()
    scored = monthly[monthly["score"].notna()]
    wt = scored["cases"].astype("float64")
    means = {}
    for col in ["score"] + [f"{p}_{c}" for c in CODES for p in ("v", "w", "c")]:
        present = scored[col].notna()
        num = (scored[col].fillna(0) * wt).groupby(scored["key"]).sum()
        den = wt.where(present, 0.0).groupby(scored["key"]).sum()
        means[col] = (num / den).where(den > 0)
    means = pd.DataFrame(means)
    means["months_scored"] = scored.groupby("key").size()
    table = ent.merge(sums, left_on="key", right_index=True, how="left")
    table = table.merge(means, left_on="key", right_index=True, how="left")
    for c in counts + ["months_scored"]:
        table[c] = table[c].fillna(0).astype(int)
    table["months"] = n_months
    floor = scheme.min_cases
    table["ranked"] = (table["cases"] >= floor) & table["score"].notna()
    reasons = []
    for cases, ranked in zip(table["cases"], table["ranked"], strict=True):
        if ranked:
            reasons.append("")
        elif cases == 0:
            reasons.append("本期没有已办结或已到期的考核事项，不参与排名")
        elif cases < floor:
            reasons.append(f"本期考核事项 {cases} 件，少于 {floor} 件，不参与排名")
        else:
            reasons.append("没有可计分的指标（各项指标权重均为 0），不参与排名")
    table["reason"] = reasons
    return table


# -- the units' monthly figures, kept ------------------------------------------------------------
#
# A finished month's items are judged at its end and never again, so each unit's figures for it
# are kept (`rollup_score_months`) and a ranking reads them instead of the month's items: a
# year's ranking reads 12 rows per unit. Kept exact like the other rollups (lib.rollups): a write
# to an item marks ('s', unit, day of receipt) in its transaction; that unit's months from then on
# are judged live until the sweep (`maintain_months`) recomputes them. Contradictory items due in
# a month but received after its end are not in the kept figures (a ranking as of an earlier
# moment would not see them) and are always read live.

def month_key(dt: datetime) -> int:
    local = dt.astimezone(TZ)
    return local.year * 100 + local.month


def month_bounds(key: int) -> tuple[datetime, datetime]:
    """The first moment of a month (yyyymm) and the first moment after it."""
    return datetime(key // 100, key % 100, 1, tzinfo=TZ), month_end(key // 100, key % 100)


def month_keys(first: int, last: int) -> list[int]:
    out, k = [], first
    while k <= last:
        out.append(k)
        k = k + 1 if k % 100 < 12 else (k // 100 + 1) * 100 + 1
    return out


def _previous_month(key: int) -> int:
    return key - 1 if key % 100 > 1 else (key // 100 - 1) * 100 + 12


def judged_month_figures(session: Session, months: list[int],
                         units: list[int] | None = None, index: str | None = None
                         ) -> MonthFigures:
    """Per (month, unit) and per (month, unit, handler): the figures of the items due that
    month, each judged at the month's end as it stood then (received by then), from the base
    table."""
    if not months:
        return MonthFigures(_no_figures(["month", "key"]), _no_figures(HANDLER_KEYS))
    end = month_bounds(max(months))[1]
    items = _load_items(session, month_bounds(min(months))[0], end, end, units=units,
                        index=index)
    judged = judge(items, end)  # each row judged at its own month's end (before `end`)
    judged = judged[judged["month"].isin(months)
                    & (judged["received"].isna() | (judged["received"] <= judged["t"]))]
    return _month_parts(judged)


def _scanned_month_figures(session: Session, months: list[int]) -> MonthFigures:
    """`judged_month_figures` of many months for every unit, in one pass over the table (read in
    its own order, not through the deadline index: at ten million items the index's lookups cost
    several times the scan) a part at a time; the figures are sums, so the parts add up."""
    scan = MonthScan(months)
    stmt, recv, due, _ = _item_stmt()
    stmt = stmt.where(due > scan.lo, due <= scan.end, or_(recv.is_(None), recv <= scan.end))
    stmt = db.indexed_by(session, stmt, [db.NOT_INDEXED])
    cursor = db.raw_cursor(session, stmt, stream=True)
    while chunk := cursor.fetchmany(SCAN_CHUNK):
        scan.add(db.numbers(chunk), filtered=True)
    cursor.close()
    return scan.figures(session)


class MonthScan:
    """The monthly figures of `months` summed over parts of the items read in any order (rows of
    ITEM_COLUMNS as `db.numbers`, perhaps with more columns after them): each part judged at its
    months' ends, the figures added up at the end. A part not `filtered` in SQL is filtered here
    as `_scanned_month_figures`' WHERE does (due in the months, received by the last one's end),
    so one read of the table can feed this and the month-end snapshots (`rollups.rebuild`)."""

    def __init__(self, months: list[int]):
        self.months = months
        self.end_at = month_bounds(max(months))[1]
        self.end = _epoch(self.end_at)
        self.lo = _epoch(month_bounds(min(months))[0])
        self.parts: list[MonthFigures] = []

    def add(self, a: np.ndarray, *, filtered: bool = False) -> None:
        a = a[:, :len(ITEM_COLUMNS)]
        if not filtered:
            recv, due = a[:, ITEM_COLUMNS.index("received")], a[:, ITEM_COLUMNS.index("deadline")]
            with np.errstate(invalid="ignore"):  # NULL (NaN) compares false, as in SQL
                a = a[(due > self.lo) & (due <= self.end)
                      & (np.isnan(recv) | (recv <= self.end))]
        if not len(a):
            return
        df = pd.DataFrame(a, columns=ITEM_COLUMNS)
        df["cancelled"] = np.nan_to_num(a[:, ITEM_COLUMNS.index("cancelled")]) != 0
        df["verdict"] = df["verdict"].fillna(0).astype("int64")
        for c in ("id", "unit_id", "yellow_pct"):
            df[c] = df[c].astype("int64")
        judged = judge(df, self.end_at)
        judged = judged[judged["month"].isin(self.months)
                        & (judged["received"].isna() | (judged["received"] <= judged["t"]))]
        self.parts.append(_month_parts(judged))
        if len(self.parts) >= FOLD_PARTS:  # the sums so far: memory holds sums only
            self.parts = [self._folded()]

    def _folded(self) -> MonthFigures:
        return MonthFigures(*(_added([p[i] for p in self.parts]) for i in range(2)))

    def figures(self, session: Session) -> MonthFigures:
        if not self.parts:
            return judged_month_figures(session, [])
        return self._folded()


def _added(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Figures of several parts summed per key (the kept figures are sums)."""
    frames = [f for f in frames if not f.empty] or frames[:1]
    out = pd.concat(frames)
    out = out.groupby(level=list(range(out.index.nlevels))).sum() if not out.empty else out
    for c in ITEM_FIGURES[:-1]:
        out[c] = out[c].astype("int64")
    out["eff_sum"] = out["eff_sum"].astype("float64")
    return out


SCAN_CHUNK = 1_000_000
FOLD_PARTS = 8  # parts' figures kept before they are added up into one (a rebuild's memory)


def store_months(session: Session, figures: MonthFigures, months: list[int],
                 units: list[int] | None = None) -> None:
    from sqlalchemy import delete, insert

    from lib.models import ScoreHandlerMonth, ScoreMonth

    for model, frame, keys in ((ScoreMonth, figures.units, ["month", "unit_id"]),
                               (ScoreHandlerMonth, figures.handlers,
                                ["month", "unit_id", "handler_id"])):
        stmt = delete(model).where(model.month.in_(months))
        if units is not None:
            stmt = stmt.where(model.unit_id.in_(units))
        session.execute(stmt)
        cols = [*(frame.index.get_level_values(i) for i in range(len(keys))),
                *[frame[c] for c in ITEM_FIGURES]]
        n = len(keys)
        rows = [{**{k: int(v) for k, v in zip(keys, vals[:n], strict=True)},
                 **{c: int(v) for c, v in zip(ITEM_FIGURES[:-1], vals[n:-1], strict=True)},
                 "eff_sum": float(vals[-1])}
                for vals in zip(*cols, strict=True)]
        for start in range(0, len(rows), 20_000):
            session.execute(insert(model), rows[start:start + 20_000])


def _last_finished(watermark: int) -> int:
    """The last month that ended at or before the watermark."""
    return _previous_month(month_key(datetime.fromtimestamp(watermark, TZ)))


def rebuild_months(session: Session, st, watermark: int) -> int:
    """Every finished month's figures, from the base table, in one pass over it."""
    keys = forget_months(session, st, watermark)
    store_months(session, _scanned_month_figures(session, keys), keys)
    return len(keys)


def forget_months(session: Session, st, watermark: int) -> list[int]:
    """The kept months all deleted, and the months a rebuild keeps (every finished month from
    the first deadline's), recorded in `st`; the caller stores their figures (`store_months`)."""
    from sqlalchemy import delete, func

    from lib.models import ScoreHandlerMonth, ScoreMonth

    session.execute(delete(ScoreMonth))
    session.execute(delete(ScoreHandlerMonth))
    first_due = session.scalar(select(func.min(type_coerce(Item.deadline, BigInteger))))
    keys = months_from(first_due, watermark)
    st.score_from, st.score_until = keys[0], keys[-1]
    return keys


def months_from(first_due: float | None, watermark: int) -> list[int]:
    """The months a rebuild keeps: every finished month (before the watermark's) from the one
    of the first deadline (epoch seconds; None: no item) on."""
    last = _last_finished(watermark)
    first = last if first_due is None else min(
        month_key(datetime.fromtimestamp(int(first_due) - 1, TZ)), last)
    return month_keys(first, last)


MAX_STALE_MONTHS = 5_000  # more stale (unit, month) pairs than this: every month judged again


def _month_of_day(day: int) -> int:
    """The month (yyyymm) of a local day number (lib.rollups' markers)."""
    from lib.rollups import date_of

    d = date_of(day)
    return d.year * 100 + d.month


def _stale_from(marked) -> dict[int, int]:
    """{unit: the first month whose kept figures a write may have made stale}, from the
    receipt markers (unit, day)."""
    out: dict[int, int] = {}
    for unit, day in marked:
        # From the month of the day before: a month is judged at 24:00 of its last day, which
        # is 00:00 of the next month's first, so a time at that very second (a completion, or
        # a receipt with its deadline) still counts in the month before the marker's day.
        month = _month_of_day(day - 1)
        out[unit] = min(out.get(unit, month), month)
    return out


def maintain_months(session: Session, st, marked: list[tuple[int, int]], watermark: int) -> dict:
    """The sweep's part: the (unit, month) pairs a write made stale judged again, and the months
    that have ended since added."""
    if st.score_until is None:
        return {"score_months": rebuild_months(session, st, watermark)}
    first, last = int(st.score_from), int(st.score_until)
    stale: dict[int, set[int]] = {}
    for unit, month in _stale_from(marked).items():
        for key in month_keys(max(month, first), last):
            stale.setdefault(key, set()).add(unit)
    if sum(len(u) for u in stale.values()) > MAX_STALE_MONTHS:
        return {"score_months": rebuild_months(session, st, watermark)}
    if stale:
        # One read of the marked units' items due in the stale months, through the units'
        # index (`ix_items_view`: unit first, the deadline in it), judged at once (every pair recomputed is exact, stale or not).
        months, units = sorted(stale), sorted(set().union(*stale.values()))
        store_months(session, judged_month_figures(session, months, units,
                                                   index="ix_items_view"), months, units)
    added = month_keys(last, _last_finished(watermark))[1:]
    for key in added:
        store_months(session, judged_month_figures(session, [key]), [key])
        st.score_until = key
    return {"score_months_recomputed": sum(len(u) for u in stale.values()),
            "score_months_added": len(added)}


JUDGED_COLUMNS = ("unit_id", "handler_id", "post_id", "received", "deadline", "completed",
                  "cancelled", "yellow_pct", "verdict")  # what `judge` reads of an item


def judged_alike(row: np.ndarray) -> tuple:
    """A row of ITEM_COLUMNS (and more after them) as what `judge` reads of it at the end of
    its deadline's month (NULL as None): a completion after that moment is none (judged open
    either way). Two rows with the same key are judged alike."""
    from lib import rollups

    due = row[ITEM_COLUMNS.index("deadline")]
    end = -2**62  # no deadline: in no month (the scan leaves it out)
    if due == due:
        local = datetime.fromtimestamp(int(due) - 1, TZ)
        try:
            end = _epoch(month_end(local.year, local.month))
        except (OverflowError, ValueError):  # December of the year 9999: keep it as it is
            end = 2**62
    return rollups.alike_key(row, JUDGED_COLUMNS, end)


def changed_months(session: Session, keys: list[int], made: np.ndarray, gone: np.ndarray
                   ) -> tuple[list[int], list[int], MonthFigures] | None:
    """The kept months' figures with logged item versions added (`rollups._apply_changes`):
    `made` and `gone` are rows of ITEM_COLUMNS (and more after them), judged as the rebuild
    judges items, the figures of `made` added and those of `gone` taken away. Returns (the
    months touched, the units touched, every kept row of those months and units as it is to
    be stored), or None if a count would go below zero."""
    from lib.models import ScoreHandlerMonth, ScoreMonth

    if not len(made) and not len(gone):
        return [], [], judged_month_figures(session, [])
    plus, minus = MonthScan(keys), MonthScan(keys)
    plus.add(made)
    minus.add(gone)
    deltas = [_added([p, -m]) for p, m in zip(plus.figures(session), minus.figures(session),
                                                strict=True)]
    # (a completion moved within its month changes the efficiency sum alone)
    deltas = [d[(d[ITEM_FIGURES[:-1]] != 0).any(axis=1) | (d["eff_sum"].abs() > 1e-9)]
              for d in deltas]
    months = sorted({int(k[0]) for d in deltas for k in d.index})
    units = sorted({int(k[1]) for d in deltas for k in d.index})
    if not months:
        return [], [], MonthFigures(*deltas)
    out = []
    for model, delta, keys_ in ((ScoreMonth, deltas[0], ["month", "unit"]),
                                (ScoreHandlerMonth, deltas[1], HANDLER_KEYS)):
        stored = _stored_months(session, model, months)
        stored = stored[stored["unit"].isin(units)].set_index(keys_)
        merged = _added([stored, delta.rename_axis(keys_)])
        if (merged[ITEM_FIGURES[:-1]] < 0).to_numpy().any():
            return None
        # A row whose counts are all zero is left out, as a rebuild leaves it (no efficiency
        # point left: its efficiency sum is zero but for the floats' rounding).
        out.append(merged[(merged[ITEM_FIGURES[:-1]] != 0).any(axis=1)])
    return months, units, MonthFigures(*out)


def verify_months(session: Session, st, dirty: set[tuple]) -> list[str]:
    """Every kept month judged again from the base table and compared, per unit and per
    handler (leaving out the units a write has marked stale). Returns the drift, in words."""
    from lib.models import ScoreHandlerMonth, ScoreMonth

    if st.score_until is None:
        return []
    stale = _stale_from((unit, day) for kind, unit, day in dirty if kind == "s")
    keys = month_keys(int(st.score_from), int(st.score_until))
    kept = [_stored_months(session, ScoreMonth).set_index(["month", "unit"]),
            _stored_months(session, ScoreHandlerMonth).set_index(HANDLER_KEYS)]
    drift = [f"monthly figures {what} of {m}: outside the range kept"
             for what, stored in zip(("per unit", "per handler"), kept, strict=True)
             for m in sorted(set(stored.index.get_level_values(0)) - set(keys))]
    for i in range(0, len(keys), 12):
        part = keys[i:i + 12]
        for what, stored, want in zip(("unit", "handler"), kept,
                                      judged_month_figures(session, part), strict=True):
            have = stored[stored.index.get_level_values(0).isin(part)]
            drift += _drift(what, have, want, stale)
    return drift


def _stored_months(session: Session, model, months: list[int] | None = None) -> pd.DataFrame:
    """The kept rows of `ScoreMonth` (month, unit, figures) or `ScoreHandlerMonth` (month,
    unit, handler, figures), of the months given or all."""
    keys = [model.month, model.unit_id, *([model.handler_id] if hasattr(model, "handler_id")
                                          else [])]
    stmt = select(*keys, *[getattr(model, c) for c in ITEM_FIGURES])
    if months is not None:
        stmt = stmt.where(model.month.in_(months))
    return db.frame(session.execute(stmt), [*HANDLER_KEYS[:len(keys)], *ITEM_FIGURES])


def _drift(what: str, have: pd.DataFrame, want: pd.DataFrame, stale: dict[int, int]
           ) -> list[str]:
    out = []
    for key in sorted(set(want.index) | set(have.index)):
        m, unit = key[0], key[1]
        if unit in stale and stale[unit] <= m:
            continue
        a = tuple(have.loc[key]) if key in have.index else None
        b = tuple(want.loc[key]) if key in want.index else None
        same = a is not None and b is not None and all(
            math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(a, b, strict=True))
        if not same and not (a is None and b is not None and not any(b)):
            who = f"unit {unit}" + (f", handler {key[2]}" if what == "handler" else "")
            out.append(f"monthly figures of {who} in {m} ({', '.join(ITEM_FIGURES)}): "
                       f"kept {a}, base table {b}")
    return out


ODD_CHUNK = 10_000  # contradictory items' ids asked for at a time


def _late_odd_items(session: Session, kept: list[int], stale: dict[int, int],
                    as_of: datetime) -> pd.DataFrame:
    """The contradictory items due in the kept months but received after their month's end
    (never in the kept figures), leaving out the units whose month is judged live anyway. The
    contradictory items are few and have their own partial index: their ids are read through
    it first (asked together with a month's deadlines, PostgreSQL's planner read the month's
    half-million items instead: 0.17 s a month at thirty million)."""
    from lib.models import ODD_SQL

    ids = list(session.scalars(db.indexed_by(
        session, select(Item.id).where(text(f"({ODD_SQL})")), ["ix_items_odd"])))
    start, end = month_bounds(min(kept))[0], month_bounds(max(kept))[1]
    parts = [_load_items(session, start, end, as_of, where=(Item.id.in_(ids[i:i + ODD_CHUNK]),),
                         index=db.PRIMARY_KEY)
             for i in range(0, len(ids), ODD_CHUNK)]
    late = pd.concat(parts, ignore_index=True) if parts else _frame([], 0)
    if late.empty:
        return late
    month = _month_keys(late["deadline"] - 1)
    month_end = month.map(lambda k: float(_epoch(month_bounds(int(k))[1])))
    first_stale = late["unit_id"].map(stale)
    keep = (month.isin(kept) & (late["received"] > month_end)
            & ~(first_stale.notna() & (first_stale <= month)))
    return late[keep.to_numpy()]


def kept_figures(session: Session, period: Period, as_of: datetime,
                 level: str = "unit") -> pd.DataFrame | None:
    """The item figures of a level's entities (units, posts or persons) for the period as of
    `as_of`: finished months from the kept rows (a unit whose month a write made stale, and
    contradictory items received after their month's end, read live), the month under way
    live. None when nothing is kept."""
    from lib import rollups
    from lib.models import RollupDirty

    st = rollups.usable(session, now_utc())
    if st is None or st.score_until is None:
        return None
    kept = [k for y, m in period.months if int(st.score_from) <= (k := y * 100 + m)
            <= int(st.score_until) and month_bounds(k)[1] <= as_of]
    if not kept:
        return None
    stale = _stale_from(session.execute(select(RollupDirty.unit_id, RollupDirty.day)
                                        .where(RollupDirty.kind == "s")).all())
    parts = [_kept_rows(session, kept, stale, level)]
    # The month under way (and the period's later months: items due then, received by T, are
    # counted as items), and months outside the kept range.
    live = [k for y, m in period.months if (k := y * 100 + m) not in kept]
    frames = [_load_items(session, *month_bounds(k), as_of) for k in live]
    # The marked units' kept months, judged live: their items read at once through the units'
    # index (a unit's history), not month by month through the deadlines (every unit's).
    pairs = {(k, u) for k in kept for u, first in stale.items() if first <= k}
    if pairs:
        f = _load_items(session, month_bounds(min(k for k, _ in pairs))[0],
                        month_bounds(max(k for k, _ in pairs))[1], as_of,
                        units=sorted({u for _, u in pairs}), index="ix_items_unit_received")
        months = _month_keys(f["deadline"] - 1) if not f.empty else []
        frames.append(f[[(int(m), int(u)) in pairs
                         for m, u in zip(months, f["unit_id"], strict=True)]])
    if kept:
        frames.append(_late_odd_items(session, kept, stale, as_of))
    frames = [f for f in frames if not f.empty]
    if frames:
        parts.append(_item_figures(judge(pd.concat(frames, ignore_index=True), as_of), level))
    return _added(parts)


def _kept_rows(session: Session, kept: list[int], stale: dict[int, int], level: str
               ) -> pd.DataFrame:
    """The kept figures of the months `kept` per (month, key) of the level, leaving out the
    units whose months are stale from their first stale month on. A post's figures are its
    handlers' summed through the people's current posts (as `_item_stmt` joins them)."""
    from lib.models import ScoreHandlerMonth, ScoreMonth

    stored = _stored_months(session, ScoreMonth if level == "unit" else ScoreHandlerMonth, kept)
    if stored.empty:  # (no items with a handler, say; a mask of no rows selects no columns)
        return _no_figures(["month", "key"])
    stored = stored[np.array([not (u in stale and stale[u] <= m) for m, u in
                              zip(stored["month"], stored["unit"], strict=True)], dtype=bool)]
    if level == "post":
        posts = dict(session.execute(select(Person.id, Person.post_id)
                                     .where(Person.post_id.is_not(None))).all())
        stored = stored.assign(key=stored["handler"].map(posts)).dropna(subset=["key"])
        stored["key"] = stored["key"].astype("int64")
    else:
        stored = stored.assign(key=stored["unit" if level == "unit" else "handler"])
    if stored.empty:
        return _no_figures(["month", "key"])
    return stored.groupby(["month", "key"])[ITEM_FIGURES].sum()


# -- reading a ranking -----------------------------------------------------------------------

ROW_FIELDS = ["code", "name", "unit", "unit_code", "region", "adcode", "staff", "items", "cases",
              "on_time", "red", "yellow", "rated", "evaluations", "months", "months_scored",
              "score", "rank", "tie", "grade", "ranked", "reason"]


def _plain(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else round(float(v), 4)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def table_rows(table: pd.DataFrame) -> list[dict]:
    """A ranking table as plain rows (what a snapshot stores and the pages display)."""
    out = []
    for rec in table.to_dict("records"):
        row = {k: _plain(rec.get(k)) for k in ROW_FIELDS}
        if "post" in rec:
            row["post"] = _plain(rec["post"])
        for p in ("v", "w", "c"):
            row[p] = {c: _plain(rec.get(f"{p}_{c}")) for c in CODES}
        out.append(row)
    return out


def visible(session: Session, rows: list[dict], user: CurrentUser, level: str) -> list[dict]:
    """What this user may see of a ranking: staff their own unit's rows only; staff names
    masked for users who may not read them."""
    scope = unit_scope(user)
    if scope is not None:
        own = session.scalar(select(Unit.code).where(Unit.id == scope))
        rows = [r for r in rows if r["unit_code"] == own]
    if level == "person" and not can(user, "view_staff_names"):
        rows = [r | {"name": mask_name(r["name"])} for r in rows]
    return rows


def compare(rows: list[dict], previous: list[dict] | None) -> list[dict]:
    """Each row with the previous period's rank and score, and the move (+ up, − down)."""
    prev = {r["code"]: r for r in (previous or [])}
    out = []
    for r in rows:
        p = prev.get(r["code"])
        move = None
        if p and p.get("rank") and r.get("rank"):
            move = int(p["rank"]) - int(r["rank"])
        out.append(r | {"prev_rank": p.get("rank") if p else None,
                        "prev_score": p.get("score") if p else None, "move": move})
    return out


def move_text(row: dict) -> str:
    """'▲3', '▼1', '—' (same rank), '新' (not ranked before), '' (not ranked now)."""
    if not row.get("rank"):
        return ""
    if row.get("prev_rank") is None:
        return "新"
    m = row.get("move") or 0
    return f"▲{m}" if m > 0 else (f"▼{-m}" if m < 0 else "—")


def rank_text(row: dict) -> str:
    if not row.get("rank"):
        return "不参与排名"
    return f"{row['rank']}（并列）" if row.get("tie") else str(row["rank"])


def explain(row: dict, scheme: Scheme) -> pd.DataFrame:
    """'Why this score': every indicator's value, effective weight and contribution."""
    lines = []
    for i in INDICATORS:
        v, w, c = row["v"].get(i.code), row["w"].get(i.code), row["c"].get(i.code)
        lines.append({
            "指标": i.label, "计算方法": i.how,
            "指标值": "无数据" if v is None else f"{v:.2f}",
            "设定权重": scheme.weights[i.code],
            "实际权重": "—" if w is None else f"{w:.2f}",
            "得分贡献": "—" if c is None else f"{c:.2f}",
        })
    return pd.DataFrame(lines)


def basis(row: dict, scheme: Scheme) -> list[str]:
    """The counts behind the indicators, in words."""
    out = [f"期限在本期的事项 {row['items']} 件，其中已办结或已到期 {row['cases']} 件，按时 "
           f"{row['on_time']} 件；红牌 {row['red']} 张、黄牌 {row['yellow']} 张；本期收到评价 "
           f"{row['rated']} 条" + (f"；网上测评 {row['evaluations']} 次" if row.get("evaluations")
                                 else "")]
    if row.get("months", 1) > 1:
        out.append(f"得分为有考核事项的各月（{row['months_scored']}/{row['months']} 个月）得分按"
                   "当月考核事项数加权的平均值；指标值、实际权重和得分贡献同样加权平均，"
                   "得分贡献之和即综合得分")
    if row.get("staff") is not None:
        out.append(f"在册人员 {row['staff']} 人" + ("（未登记人员，工作量指标不计）"
                                              if not row["staff"] else ""))
    missing = [INDICATOR_BY_CODE[c].label for c in CODES if row["v"].get(c) is None]
    if missing and row.get("ranked"):
        out.append(f"{'、'.join(missing)}无数据（评价少于 {scheme.min_ratings} 条等），"
                   "其权重按比例分配给其他指标")
    return out


def items_behind(session: Session, user: CurrentUser, period: Period | str, level: str,
                 code: str, as_of: datetime | None = None) -> pd.DataFrame:
    """The items behind an entity's score: those due in the period (month, result, card,
    efficiency points) and those rated in it (the rating and the month it counts in). Staff may
    open only their own unit's."""
    period = Period.parse(period) if isinstance(period, str) else period
    as_of = min(as_of or now_utc(), period.end)
    ent = _entities(session, level)
    match = ent[ent["code"] == code]
    if match.empty:
        raise ScoringError(f"没有代码为 {code} 的{LEVELS.get(level, '')}（可能已被撤销或更名）")
    e = match.iloc[0]
    scope = unit_scope(user)
    if scope is not None and int(e["unit_id"]) != scope:
        from lib.access import PermissionDenied

        raise PermissionDenied("无权查看其他单位的考核明细")
    extra = (Item.external_id, Item.title, Subsystem.name)
    key, value = _entity_key(level), float(e["key"])
    df = judge(_load_items(session, period.start, period.end, as_of, int(e["unit_id"]), extra),
               as_of)
    df = df[df[key] == value]
    rated = _load_ratings(session, period.start, period.end, as_of, int(e["unit_id"]), extra)
    rated = rated[rated[key] == value]
    rated_month = dict(zip(rated["id"], _month_keys(rated["rated_at"]), strict=True))
    only_rated = rated[~rated["id"].isin(df["id"])]

    def when(x):
        return "—" if pd.isna(x) else datetime.fromtimestamp(int(x), TZ).strftime("%Y-%m-%d %H:%M")

    def result(r):
        if r["flag"]:
            if r["cancelled"]:
                return "规则判定的红黄牌（经申诉或核查撤销，不计）"
            return "规则判定红牌" if r["verdict"] == 2 else "规则判定黄牌"
        if not r["judged"]:
            return "在办（未到期）"
        if r["late"] and r["cancelled"]:
            return "超期（红牌经申诉撤销，计为按时）"
        if r["late"]:
            return "超期办结" if r["done"] else "逾期未办结"
        return "按时办结"

    def rating(item_id, value) -> str:
        m = rated_month.get(item_id)
        if m is None or pd.isna(value):
            return "" if pd.isna(value) else f"{int(value)} 分（评价不在本期）"
        return f"{int(value)} 分（计入 {m // 100}-{m % 100:02d}）"

    def month(m) -> str:
        return f"{m // 100}-{m % 100:02d}"

    out = pd.DataFrame({
        "月份": [month(m) for m in df["month"]],
        "事项编号": df["x0"], "事项": df["x1"].fillna(""), "子系统": df["x2"],
        "受理时间": df["received"].map(when), "办理期限": df["deadline"].map(when),
        "办结时间": df["completed"].where(df["done"]).map(when),
        "结果": [result(r) for r in df.to_dict("records")],
        "亮牌": ["■ 红牌" if r else ("▲ 黄牌" if y else "") for r, y in zip(df["red"], df["yellow"],
                                                                      strict=True)],
        "效率得分": df["eff_points"].round(1),
        "评价": [rating(i, v) for i, v in zip(df["id"], df["rating"], strict=True)],
    })
    extra_rows = pd.DataFrame({
        "月份": [month(rated_month[i]) for i in only_rated["id"]],
        "事项编号": only_rated["x0"], "事项": only_rated["x1"].fillna(""),
        "子系统": only_rated["x2"],
        "受理时间": only_rated["received"].map(when), "办理期限": only_rated["deadline"].map(when),
        "办结时间": only_rated["completed"].map(when),
        "结果": "期限不在本期（仅计评价）", "亮牌": "", "效率得分": np.nan,
        "评价": [rating(i, v) for i, v in zip(only_rated["id"], only_rated["rating"],
                                             strict=True)],
    })
    if not extra_rows.empty:
        out = pd.concat([out, extra_rows], ignore_index=True)
    return out.sort_values(["月份", "事项编号"]).reset_index(drop=True)


# -- publication -----------------------------------------------------------------------------

def _canonical(payload) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def snapshot_hash(period: str, level: str, as_of: int, scheme: dict, rows: list[dict]) -> str:
    return hashlib.sha256(_canonical({"period": period, "level": level, "as_of": as_of,
                                      "scheme": scheme, "rows": rows}).encode()).hexdigest()


def published(session: Session, level: str | None = "unit") -> list[RankingSnapshot]:
    """Published snapshots, newest period first."""
    stmt = select(RankingSnapshot).order_by(RankingSnapshot.published_at.desc())
    if level:
        stmt = stmt.where(RankingSnapshot.level == level)
    snaps = list(session.scalars(stmt))
    snaps.sort(key=lambda s: (Period.parse(s.period).end, Period.parse(s.period).kind != "year",
                              Period.parse(s.period).kind != "quarter"), reverse=True)
    return snaps


def get_snapshot(session: Session, period: Period | str, level: str = "unit") -> RankingSnapshot | None:
    code = period.code if isinstance(period, Period) else Period.parse(period).code
    return session.scalar(select(RankingSnapshot).where(RankingSnapshot.period == code,
                                                        RankingSnapshot.level == level))


def snapshot_rows(snap: RankingSnapshot) -> list[dict]:
    return json.loads(snap.rows)


def snapshot_scheme(snap: RankingSnapshot) -> Scheme:
    return Scheme.from_dict(json.loads(snap.scheme))


def verify_snapshot(snap: RankingSnapshot) -> bool:
    """True when the stored rows and scheme still hash to the published hash."""
    return snapshot_hash(snap.period, snap.level, _epoch(snap.as_of), json.loads(snap.scheme),
                         json.loads(snap.rows)) == snap.hash


def publish(session: Session, actor: CurrentUser, period: Period | str, level: str = "unit",
            *, now: datetime | None = None) -> RankingSnapshot:
    """Freeze a finished period's ranking (judged at the period's end) as an immutable snapshot.
    The caller commits."""
    require(actor, "publish_rankings")
    period = Period.parse(period) if isinstance(period, str) else period
    if level not in LEVELS:
        raise ScoringError(f"排名层级须为 {'、'.join(LEVELS)} 之一")
    now = now or now_utc()
    if now < period.end:
        raise ScoringError(f"{period.label}尚未结束（{period.end.astimezone(TZ):%Y-%m-%d} 起方可公布）")
    existing = get_snapshot(session, period, level)
    if existing is not None:
        raise ScoringError(f"{period.label}{LEVELS[level]}排名已于 "
                           f"{existing.published_at.astimezone(TZ):%Y-%m-%d %H:%M} 公布，"
                           "公布后不可更改")
    ranking = compute(session, period, level, as_of=period.end)
    if not ranking.table["ranked"].any():
        raise ScoringError(f"{period.label}没有参与排名的{LEVELS[level]}，无需公布")
    rows = ranking.rows()
    scheme = ranking.scheme.to_dict()
    as_of = _epoch(ranking.as_of)
    digest = snapshot_hash(period.code, level, as_of, scheme, rows)
    snap = RankingSnapshot(period=period.code, level=level, as_of=ranking.as_of,
                           published_at=now, published_by=actor.username,
                           scheme=_canonical(scheme), rows=_canonical(rows), hash=digest)
    session.add(snap)
    try:
        session.flush()  # in the caller's transaction, with the audit row below
    except IntegrityError:  # published by someone else a moment ago
        session.rollback()
        raise ScoringError(f"{period.label}{LEVELS[level]}排名刚刚已由他人公布") from None
    ranked = sum(1 for r in rows if r["ranked"])
    audit.record(session, actor=actor.username, action="ranking.publish", entity="ranking",
                 entity_id=f"{period.code}/{level}",
                 after={"hash": digest, "ranked": ranked, "entities": len(rows), "scheme": scheme})
    return snap


def year_summary(session: Session, year: int) -> pd.DataFrame:
    """Units' published scores in a year, one column per published period, and the year's
    published rank and grade if the year itself is published: the annual assessment's basis."""
    return summarize_year([(x.period, snapshot_rows(x)) for x in published(session, "unit")],
                          year)


QUARTER_MEAN = "已公布季度平均分"


def summarize_year(snapshots: list[tuple[str, list[dict]]], year: int) -> pd.DataFrame:
    """`year_summary` over (period code, rows) pairs of published unit rankings."""
    snaps = [(Period.parse(code), rows) for code, rows in snapshots]
    snaps = [(p, rows) for p, rows in snaps if p.year == year]
    if not snaps:
        return pd.DataFrame()
    order = {"quarter": 0, "month": 1, "year": 2}
    snaps.sort(key=lambda x: (order[x[0].kind], x[0]))
    table: dict[str, dict] = {}
    for p, rows in snaps:
        for r in rows:
            row = table.setdefault(r["code"], {"单位代码": r["code"], "单位": r["name"]})
            row[p.label] = r["score"] if r["ranked"] else None
            if p.kind == "year":
                row["年度名次"] = rank_text(r)
                row["年度等次"] = r["grade"] or "—"
    df = pd.DataFrame(list(table.values()))
    for p, _ in snaps:
        df[p.label] = pd.to_numeric(df[p.label], errors="coerce")
    quarters = [p.label for p, _ in snaps if p.kind == "quarter"]
    if quarters:  # the year so far: the mean of the quarters the unit was ranked in
        df.insert(2, QUARTER_MEAN, df[quarters].mean(axis=1, skipna=True).round(2))
    return df.sort_values("单位代码").reset_index(drop=True)


def frame(rows: list[dict], level: str, *, with_move: bool = False) -> pd.DataFrame:
    """Rows as the table people read (Chinese headers)."""
    out = []
    for r in rows:
        d = {"名次": rank_text(r)}
        if with_move:
            d["较上期"] = move_text(r)
        d["代码" if level != "unit" else "单位代码"] = r["code"]
        if level == "unit":
            d["单位"] = r["name"]
            d["区县"] = r["region"]
        else:
            d["姓名" if level == "person" else "岗位"] = r["name"]
            d["所属单位"] = r["unit"]
        d["得分"] = r["score"]
        d["等次"] = r["grade"] or "—"
        for i in INDICATORS:
            v = r["v"].get(i.code)
            d[i.label] = float("nan") if v is None else round(v, 1)  # blank, not "None"
        d["考核事项"] = r["cases"]
        d["红牌"] = r["red"]
        d["黄牌"] = r["yellow"]
        d["说明"] = r["reason"] or ("并列" if r.get("tie") else "")
        out.append(d)
    return pd.DataFrame(out)


def as_of_text(as_of: datetime) -> str:
    """'2026-09-30 24:00' for the end of a period, else the local time to the minute."""
    local = as_of.astimezone(TZ)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def county_averages(rows: list[dict]) -> dict[str, dict]:
    """Mean score of the ranked units of each county (for the map), keyed by adcode."""
    acc: dict[str, list[float]] = {}
    for r in rows:
        if r["ranked"] and r.get("adcode"):
            acc.setdefault(r["adcode"], []).append(r["score"])
    return {a: {"avg": round(sum(v) / len(v), 2), "units": len(v)} for a, v in acc.items()}
