"""What the 要素市场 page reads: a tender's drill-down (timeline, bids, step items and their
lights) and the risk per buyer. Read-only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import flags
from lib.lights import light_of
from lib.models import Item, Subsystem, Unit
from lib.workdays import load_calendar

from .models import METHOD_LABELS, Bid, Tender
from .rules import STEPS
from .steps import pay_deadline


@dataclass(frozen=True)
class Event:
    what: str
    at: datetime | None
    due: datetime | None = None
    light: str | None = None
    reason: str = ""


def tender_options(session: Session, as_of: datetime, region_id: int | None = None) -> list[tuple]:
    """(external id, title, buyer) of the tenders published by the moment, newest first."""
    stmt = (select(Tender.external_id, Tender.title, Unit.name)
            .join(Unit, Unit.id == Tender.buyer_id).where(Tender.published_at <= as_of)
            .order_by(Tender.published_at.desc()))
    if region_id is not None:
        stmt = stmt.where(Unit.region_id == region_id)
    return [tuple(r) for r in session.execute(stmt)]


def tender_detail(session: Session, ext: str, as_of: datetime) -> dict | None:
    """A tender as of the moment: its facts, its timeline with the statutory steps' lights, and
    every bid sorted by price with its distance to the lowest and to the winner."""
    t = session.scalar(select(Tender).where(Tender.external_id == ext))
    if t is None or t.published_at > as_of:
        return None
    buyer = session.get(Unit, t.buyer_id)

    def seen(dt):
        return dt if dt is not None and dt <= as_of else None

    steps = {}
    for item, pct in session.execute(
            select(Item, Subsystem.yellow_pct).join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(Item.external_id.in_([f"{ext}.{s}" for s in ("PUB", "CON", "PAY")]))):
        steps[item.external_id.rsplit(".", 1)[1]] = (item, light_of(item, as_of, pct))

    def step(code):
        if code not in steps or steps[code][1] is None:
            return None, None, ""
        item, lt = steps[code]
        return item.deadline, lt.light, lt.reason

    events = [Event("采购公告发布", t.published_at),
              Event("投标（响应）截止", t.bid_deadline if t.bid_deadline else None)]
    awarded = seen(t.awarded_at)
    events.append(Event("确定中标（成交）供应商", awarded))
    due, light, reason = step("PUB")
    events.append(Event(STEPS["PUB"], seen(t.award_published_at), due, light, reason))
    due, light, reason = step("CON")
    events.append(Event(STEPS["CON"], seen(t.contract_signed_at), due, light, reason))
    if t.winner_sme and seen(t.delivered_at):
        events.append(Event("交付", seen(t.delivered_at)))
        if t.acceptance_required:
            events.append(Event("验收合格", seen(t.accepted_at)))
        due, light, reason = step("PAY")
        cal = load_calendar(session)
        events.append(Event(STEPS["PAY"], seen(t.paid_at), due or pay_deadline(cal, t), light,
                            reason))
    bids = list(session.scalars(select(Bid).where(Bid.tender_id == t.id, Bid.received_at <= as_of)
                                .order_by(Bid.price, Bid.supplier)))
    winner = t.winner if awarded else None
    win_price = next((float(b.price) for b in bids if b.supplier == winner), None)
    valid = [float(b.price) for b in bids if not b.disqualified]
    lowest = min(valid) if valid else None
    rows = []
    for rank, b in enumerate(bids, 1):
        price = float(b.price)
        rows.append({
            "rank": rank, "supplier": b.supplier, "name": b.supplier_name,
            "founded": b.supplier_founded, "price": price, "received_at": b.received_at,
            "late": t.bid_deadline is not None and b.received_at > t.bid_deadline,
            "disqualified": bool(b.disqualified), "reason": b.reason or "",
            "winner": b.supplier == winner,
            "vs_lowest": None if lowest is None else (price - lowest) / lowest,
            "vs_winner": None if win_price is None else (price - win_price) / win_price,
        })
    spread = (max(valid) - min(valid)) / min(valid) if len(valid) >= 2 and min(valid) else None
    return {"tender": t, "buyer": buyer.name, "buyer_code": buyer.code,
            "method": METHOD_LABELS[t.method], "events": events, "bids": rows, "spread": spread,
            "winner": winner, "win_price": win_price}


def buyer_risk(session: Session, records, units: dict[int, str],
               weights: dict[str, float] | None = None) -> list[dict]:
    """Per responsible unit: the weighted risk of everything that fired on it (each finding
    counts its rule's weight), red and yellow counts, the rules and the money at stake.
    `weights`: the rules' weights by code when the caller has read them (`flags.weights_of`)."""
    records = list(records)
    if weights is None:
        weights = flags.weights_of(session, (r.code for r in records))
    acc: dict = defaultdict(lambda: {"score": 0.0, "red": 0, "yellow": 0, "codes": set(),
                                     "amount": 0.0})
    for r in records:
        a = acc[r.unit_id]
        a["score"] += weights[r.code]
        a[r.light] += 1
        a["codes"].add(r.code)
        a["amount"] += float(r.amount or 0)
    out = [{"unit_id": uid, "unit": units.get(uid, str(uid)), "score": round(a["score"], 2),
            "red": a["red"], "yellow": a["yellow"], "codes": sorted(a["codes"]),
            "amount": round(a["amount"], 2)} for uid, a in acc.items()]
    out.sort(key=lambda x: (-x["score"], -x["amount"], x["unit"]))
    return out


def winners(session: Session) -> dict[str, tuple[str, str]]:
    """Tender external id -> (winner code, winner name)."""
    rows = session.execute(select(Tender.external_id, Tender.winner, Bid.supplier_name)
                           .join(Bid, (Bid.tender_id == Tender.id)
                                 & (Bid.supplier == Tender.winner)))
    return {ext: (code, name) for ext, code, name in rows}


def supplier_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Bid.supplier, Bid.supplier_name).distinct()).all())
