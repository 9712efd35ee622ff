"""The market's records as they stood at a moment, read once per evaluation, and the
distribution fences (Q1 − k·IQR, Q3 + k·IQR) some rules compare against.

A rule sees a tender published by the moment, the bids received by then, and the award,
publication and contract only once they happened; so a rule's finding as of a past day is what
the data then showed."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from lib.lights import epoch
from lib.models import Unit

from .models import METHOD_LABELS, Bid, LandTransfer, PropertyTransfer, Tender

CENTRE_UNIT = "ZJ.GGZY"  # 湛江市公共资源交易中心: answers for supplier-level findings
_CACHE_KEY = "market_snapshot"


@dataclass
class BidRow:
    supplier: str
    name: str
    founded: date | None
    price: float
    received_at: datetime
    disqualified: bool
    reason: str | None


@dataclass
class TenderRow:
    id: int
    ext: str
    title: str
    buyer_id: int
    buyer_code: str
    buyer_name: str
    region_id: int | None
    method: str
    category: str
    estimate: float
    published_at: datetime
    bid_deadline: datetime | None
    awarded_at: datetime | None
    award_published_at: datetime | None
    contract_signed_at: datetime | None
    contract_value: float | None
    winner: str | None
    amendments_value: float | None
    bids: list[BidRow] = field(default_factory=list)

    @property
    def subsystem(self) -> str:
        return subsystem_of(self.category)

    @property
    def method_label(self) -> str:
        return METHOD_LABELS[self.method]

    @property
    def valid_bids(self) -> list[BidRow]:
        return sorted((b for b in self.bids if not b.disqualified), key=lambda b: b.price)

    @property
    def winning_bid(self) -> BidRow | None:
        if self.winner is None:
            return None
        return next((b for b in self.bids if b.supplier == self.winner), None)

    @property
    def value(self) -> float:
        return self.contract_value if self.contract_value is not None else self.estimate


def subsystem_of(category: str) -> str:
    """工程 (construction) goes to 工程招投标, goods and services to 政府采购."""
    return "BIDDING" if (category or "").startswith("工程") else "PROCURE"


@dataclass
class Snapshot:
    as_of: datetime
    tenders: list[TenderRow]
    land: list[LandTransfer]
    property: list[PropertyTransfer]
    units: dict[int, tuple[str, str, int]]  # id -> (code, name, region_id)

    def unit_id(self, code: str) -> int | None:
        return next((uid for uid, (c, _, _) in self.units.items() if c == code), None)


def _seen(dt: datetime | None, as_of: int) -> datetime | None:
    return dt if dt is not None and epoch(dt) <= as_of else None


def snapshot(session: Session, as_of: datetime) -> Snapshot:
    """The records as of the moment; kept for the session until it writes anything."""
    cache = session.info.setdefault(_CACHE_KEY, {})
    if session.new or session.dirty or session.deleted:
        session.flush()  # clears the cache through the flush hook
        cache = session.info.setdefault(_CACHE_KEY, {})
    key = epoch(as_of)
    if key not in cache:
        cache.clear()
        cache[key] = _load(session, as_of)
    return cache[key]


def _load(session: Session, as_of: datetime) -> Snapshot:
    t = epoch(as_of)
    units = {uid: (code, name, region) for uid, code, name, region in session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.region_id))}
    tenders: dict[int, TenderRow] = {}
    for x in session.scalars(select(Tender).where(Tender.published_at <= as_of)
                             .order_by(Tender.published_at, Tender.id)):
        awarded = _seen(x.awarded_at, t)
        code, name, region = units[x.buyer_id]
        tenders[x.id] = TenderRow(
            x.id, x.external_id, x.title or x.external_id, x.buyer_id, code, name, region,
            x.method, x.category, float(x.estimate), x.published_at, x.bid_deadline, awarded,
            _seen(x.award_published_at, t), _seen(x.contract_signed_at, t),
            float(x.contract_value) if x.contract_value is not None and awarded else None,
            x.winner if awarded else None,
            float(x.amendments_value) if x.amendments_value is not None
            and _seen(x.contract_signed_at, t) else None)
    for b in session.scalars(select(Bid).where(Bid.received_at <= as_of).order_by(Bid.id)):
        row = tenders.get(b.tender_id)
        if row is not None:
            row.bids.append(BidRow(b.supplier, b.supplier_name, b.supplier_founded,
                                   float(b.price), b.received_at, bool(b.disqualified), b.reason))
    land = list(session.scalars(select(LandTransfer).where(LandTransfer.concluded_at <= as_of)
                                .order_by(LandTransfer.concluded_at)))
    prop = list(session.scalars(select(PropertyTransfer)
                                .where(PropertyTransfer.contract_at <= as_of)
                                .order_by(PropertyTransfer.contract_at)))
    return Snapshot(as_of, list(tenders.values()), land, prop, units)


def _forget(session, *args) -> None:
    session.info.pop(_CACHE_KEY, None)


def _forget_on_write(orm_execute_state) -> None:
    if not orm_execute_state.is_select:
        orm_execute_state.session.info.pop(_CACHE_KEY, None)


event.listen(Session, "after_flush", _forget)
event.listen(Session, "after_transaction_end", _forget)
event.listen(Session, "do_orm_execute", _forget_on_write)


# -- fences --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fence:
    """Quartiles of a distribution and its fences; `ready` when the sample is big enough."""

    n: int
    min_sample: int
    k: float
    q1: float | None = None
    q3: float | None = None

    @property
    def ready(self) -> bool:
        return self.n >= self.min_sample and self.q1 is not None

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None else self.q3 - self.q1

    @property
    def lower(self) -> float | None:
        return None if self.q1 is None else self.q1 - self.k * self.iqr

    @property
    def upper(self) -> float | None:
        return None if self.q1 is None else self.q3 + self.k * self.iqr

    def inputs(self, side: str) -> dict:
        """What a finding shows of the fence it crossed."""
        return {"样本数": self.n, "Q1": _r(self.q1), "Q3": _r(self.q3), "IQR": _r(self.iqr),
                ("下围栏" if side == "lower" else "上围栏"):
                    _r(self.lower if side == "lower" else self.upper)}


def _r(x):
    return None if x is None else round(x, 4)


def fence(values, *, k: float, min_sample: int) -> Fence:
    """The fences of a distribution (quartiles by linear interpolation between the order
    statistics, as numpy's default); computed only from a sample of at least `min_sample`."""
    data = sorted(float(v) for v in values)
    n = len(data)
    if n < max(min_sample, 2):
        return Fence(n, min_sample, k)
    q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    return Fence(n, min_sample, k, q1, q3)
