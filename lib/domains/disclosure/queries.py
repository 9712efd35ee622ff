"""What the 信息公开 page and the portal read: coverage and timeliness county → town → village,
a village's disclosures and history, questions awaiting an answer, requests by unit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import BigInteger, and_, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from lib import db
from lib.access import CurrentUser, require, scoped_unit
from lib.config import TZ
from lib.lights import epoch, light_of
from lib.models import Item, Region, Subsystem, Unit, VillageDisclosure

from .models import Disclosure, DisclosureQuestion, GovinfoDuty, InfoRequest, VillageObligation
from .service import ANSWER_TYPES, CATEGORIES, REQUEST_STATUS, parse_period

STATUS_LABELS = {"on_time": "按时公开", "late": "逾期公开", "missing": "逾期未公开",
                 "pending": "未到期", "future": "—"}
COUNT_COLUMNS = ["due", "on_time", "late", "missing", "pending", "disclosures", "views"]


def status_of(deadline: datetime, completed: datetime | None, as_of: datetime) -> str:
    """An obligation as of a moment: on time, late, missing (past due, nothing published), or
    pending (not yet due)."""
    t = epoch(as_of)
    done = epoch(completed) if completed is not None and epoch(completed) <= t else None
    due = epoch(deadline)
    if done is not None:
        return "on_time" if done <= due else "late"
    return "missing" if t > due else "pending"


def villages(session: Session) -> pd.DataFrame:
    """Every village with its town and county (ids, codes, names)."""
    town, county = aliased(Region), aliased(Region)
    rows = session.execute(
        select(Region.id, Region.code, Region.name, town.id, town.name, county.id, county.code,
               county.name)
        .join(town, town.id == Region.parent_id).join(county, county.id == town.parent_id)
        .where(Region.level == "village").order_by(Region.code)).all()
    return db.frame(rows, ["village_id", "village_code", "village", "town_id", "town",
                           "county_id", "adcode", "county"])


def village_counts(session: Session, as_of: datetime, months: int = 12) -> pd.DataFrame:
    """Per village: obligations due by `as_of` (on time, late, missing), not yet due, the
    readable disclosures published, and the views of the last `months` months."""
    t = epoch(as_of)
    recv = type_coerce(Item.received_at, BigInteger)
    due = type_coerce(Item.deadline, BigInteger)
    completed = type_coerce(Item.completed_at, BigInteger)
    done = and_(completed.is_not(None), completed <= t)
    counts = session.execute(  # counted in SQL: thousands of obligations, a few hundred villages
        select(VillageObligation.village_id, func.count().filter(done, completed <= due),
               func.count().filter(done, completed > due), func.count().filter(~done, due < t),
               func.count().filter(~done, due >= t))
        .join(Item, Item.id == VillageObligation.item_id).where(recv <= t)
        .group_by(VillageObligation.village_id)).all()
    per = db.frame(counts, ["village_id", "on_time", "late", "missing", "pending"])
    per = per.set_index("village_id").astype("int64")
    per.insert(0, "due", per["on_time"] + per["late"] + per["missing"])
    pub = session.execute(
        select(Disclosure.village_id, func.count())
        .where(type_coerce(Disclosure.published_at, BigInteger) <= t)
        .group_by(Disclosure.village_id)).all()
    first = (as_of.astimezone(TZ).date().replace(day=1) - timedelta(days=31 * (months - 1))) \
        .replace(day=1)
    views = session.execute(
        select(VillageDisclosure.village_id, func.sum(VillageDisclosure.views))
        .where(VillageDisclosure.month >= first,
               VillageDisclosure.month <= as_of.astimezone(TZ).date())
        .group_by(VillageDisclosure.village_id)).all()
    out = villages(session).set_index("village_id")
    out = out.join(per, how="left")
    out = out.join(db.frame(pub, ["village_id", "disclosures"]).set_index("village_id"),
                   how="left")
    out = out.join(db.frame(views, ["village_id", "views"]).set_index("village_id"),
                   how="left")
    for c in COUNT_COLUMNS:
        out[c] = out[c].fillna(0).astype("int64")
    return out.reset_index()


def summarize(counts: pd.DataFrame, level: str) -> pd.DataFrame:
    """Counts per county, town or village, with the coverage (published / due) and on-time
    rates, and the number of villages with something missing."""
    keys = {"county": ["county_id", "adcode", "county"],
            "town": ["town_id", "town", "county"],
            "village": ["village_id", "village_code", "village", "town"]}[level]
    df = counts.assign(villages=1, villages_missing=(counts["missing"] > 0).astype(int))
    out = df.groupby(keys, as_index=False)[COUNT_COLUMNS + ["villages", "villages_missing"]].sum()
    published = out["on_time"] + out["late"]
    out["coverage"] = (published / out["due"]).where(out["due"] > 0)
    out["on_time_rate"] = (out["on_time"] / out["due"]).where(out["due"] > 0)
    return out


def grade(row) -> str:
    """A county's, town's or village's light by timeliness: red when more than 10% of what was
    due is missing or late, yellow above 3%, green otherwise; grey with nothing due."""
    if not row["due"]:
        return "grey"
    bad = (row["missing"] + row["late"]) / row["due"]
    return "red" if bad > 0.10 else "yellow" if bad > 0.03 else "green"


def obligations(session: Session, village_id: int, as_of: datetime) -> list[dict]:
    """A village's obligations received by `as_of`, newest first, with their status and light."""
    sub = dict(session.execute(select(Subsystem.id, Subsystem.yellow_pct)).all())
    rows = session.execute(
        select(VillageObligation, Item).join(Item, Item.id == VillageObligation.item_id)
        .where(VillageObligation.village_id == village_id)
        .order_by(Item.deadline.desc())).all()
    out = []
    for ob, item in rows:
        lt = light_of(item, as_of, sub[item.subsystem_id])
        if lt is None:
            continue
        out.append({"item_id": item.id, "category": CATEGORIES[ob.category],
                    "period": parse_period(ob.period).label, "due_on": ob.due_on,
                    "deadline": item.deadline,
                    "published_at": item.completed_at if item.completed_at and
                    item.completed_at <= as_of else None,
                    "status": STATUS_LABELS[status_of(item.deadline, item.completed_at, as_of)],
                    "light": lt.light, "reason": lt.reason})
    return out


def disclosures(session: Session, village_id: int, as_of: datetime | None = None,
                category: str | None = None) -> list[Disclosure]:
    stmt = select(Disclosure).where(Disclosure.village_id == village_id)
    if as_of is not None:
        stmt = stmt.where(Disclosure.published_at <= as_of)
    if category:
        stmt = stmt.where(Disclosure.category == category)
    return list(session.scalars(stmt.order_by(Disclosure.published_at.desc(), Disclosure.id.desc())))


def finance_table(d: Disclosure) -> pd.DataFrame:
    rows = json.loads(d.finance) if d.finance else []
    return pd.DataFrame([{"项目": r["item"], "收入（元）": r["income"], "支出（元）": r["spending"]}
                         for r in rows])


def questions(session: Session, disclosure_id: int, *, answered_only: bool = False) -> list:
    stmt = select(DisclosureQuestion).where(DisclosureQuestion.disclosure_id == disclosure_id)
    if answered_only:
        stmt = stmt.where(DisclosureQuestion.answered_at.is_not(None))
    return list(session.scalars(stmt.order_by(DisclosureQuestion.asked_at.desc())))


def open_questions(session: Session, user: CurrentUser, as_of: datetime,
                   county_id: int | None = None) -> list[dict]:
    """Questions not answered by `as_of` (staff: their town's), the longest waiting first."""
    require(user, "view_items")
    unit_id = scoped_unit(user, None)
    yellow = dict(session.execute(select(Subsystem.id, Subsystem.yellow_pct)).all())
    stmt = (select(DisclosureQuestion, Item, Disclosure, Region.name, Unit.name)
            .join(Item, Item.id == DisclosureQuestion.item_id)
            .join(Disclosure, Disclosure.id == DisclosureQuestion.disclosure_id)
            .join(Region, Region.id == Disclosure.village_id)
            .join(Unit, Unit.id == Item.unit_id)
            .where(DisclosureQuestion.asked_at <= as_of)
            .where((DisclosureQuestion.answered_at.is_(None))
                   | (DisclosureQuestion.answered_at > as_of))
            .order_by(DisclosureQuestion.asked_at))
    if unit_id is not None:
        stmt = stmt.where(Item.unit_id == unit_id)
    if county_id is not None:
        stmt = stmt.where(Item.region_id == county_id)
    out = []
    for q, item, d, village, unit in session.execute(stmt):
        lt = light_of(item, as_of, yellow[item.subsystem_id])
        out.append({"id": q.id, "light": lt.light if lt else "grey", "village": village,
                    "unit": unit, "title": d.title, "question": q.question, "asked_at": q.asked_at,
                    "deadline": item.deadline, "reason": lt.reason if lt else ""})
    return out


def requests(session: Session, user: CurrentUser, as_of: datetime,
             county_id: int | None = None) -> list[dict]:
    """政府信息公开 requests received by `as_of` (staff: their unit's), with their lights."""
    require(user, "view_items")
    unit_id = scoped_unit(user, None)
    yellow = dict(session.execute(select(Subsystem.id, Subsystem.yellow_pct)).all())
    stmt = (select(InfoRequest, Item, Unit.name).join(Item, Item.id == InfoRequest.item_id)
            .join(Unit, Unit.id == InfoRequest.unit_id)
            .where(InfoRequest.received_at <= as_of).order_by(InfoRequest.received_at.desc()))
    if unit_id is not None:
        stmt = stmt.where(InfoRequest.unit_id == unit_id)
    if county_id is not None:
        stmt = stmt.where(Item.region_id == county_id)
    out = []
    for req, item, unit in session.execute(stmt):
        lt = light_of(item, as_of, yellow[item.subsystem_id])
        answered = req.answered_at is not None and req.answered_at <= as_of
        out.append({"id": req.id, "code": req.code, "unit_id": req.unit_id, "unit": unit,
                    "subject": req.subject, "received_at": req.received_at,
                    "deadline": item.deadline,
                    "status": REQUEST_STATUS["answered" if answered else
                                             ("correction" if req.status == "correction"
                                              else "received")],
                    "answer_type": ANSWER_TYPES.get(req.answer_type, "") if answered else "",
                    "extension": req.extension_days or 0,
                    "light": lt.light if lt else "grey", "reason": lt.reason if lt else "",
                    "item_id": item.id, "open": not answered and req.status == "received"})
    return out


def duties(session: Session, user: CurrentUser, as_of: datetime, kind: str,
           county_id: int | None = None) -> list[dict]:
    """Proactive disclosures or annual reports received by `as_of`, with their lights."""
    require(user, "view_items")
    unit_id = scoped_unit(user, None)
    yellow = dict(session.execute(select(Subsystem.id, Subsystem.yellow_pct)).all())
    stmt = (select(GovinfoDuty, Item, Unit.name).join(Item, Item.id == GovinfoDuty.item_id)
            .join(Unit, Unit.id == GovinfoDuty.unit_id).where(GovinfoDuty.kind == kind)
            .where(Item.received_at <= as_of).order_by(Item.deadline.desc(), Unit.code))
    if unit_id is not None:
        stmt = stmt.where(GovinfoDuty.unit_id == unit_id)
    if county_id is not None:
        stmt = stmt.where(Item.region_id == county_id)
    out = []
    for duty, item, unit in session.execute(stmt):
        lt = light_of(item, as_of, yellow[item.subsystem_id])
        done = item.completed_at if item.completed_at and item.completed_at <= as_of else None
        out.append({"item_id": item.id, "unit": unit, "title": duty.title,
                    "formed_at": duty.formed_at, "year": duty.year, "deadline": item.deadline,
                    "published_at": done, "light": lt.light if lt else "grey",
                    "reason": lt.reason if lt else "", "open": done is None})
    return out


def requests_by_unit(rows: list[dict]) -> pd.DataFrame:
    """Requests per unit: received, answered, open, red and yellow."""
    if not rows:
        return pd.DataFrame(columns=["unit", "total", "answered", "open", "red", "yellow"])
    df = pd.DataFrame(rows)
    df["answered"] = df["status"] == REQUEST_STATUS["answered"]
    df["red"] = df["light"] == "red"
    df["yellow"] = df["light"] == "yellow"
    out = df.groupby("unit", as_index=False).agg(
        total=("code", "count"), answered=("answered", "sum"), red=("red", "sum"),
        yellow=("yellow", "sum"))
    out["open"] = out["total"] - out["answered"]
    return out.sort_values(["red", "yellow", "total"], ascending=False)
