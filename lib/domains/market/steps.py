"""The statutory steps of a tender, land transfer or property transfer as supervised items
(lib.items): created when the step's clock starts, completed when the step is done; the one
light engine lights them with the clock."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lib.items import upsert_item
from lib.models import Item, ItemEvent, Subsystem, Unit
from lib.workdays import TimeLimit, WorkCalendar

from .data import subsystem_of
from .models import LandTransfer, PropertyTransfer, Tender

PUBLISH = TimeLimit(2, "wd")  # 政府采购法实施条例 第四十三条
CONTRACT = TimeLimit(30, "d")  # 政府采购法 第四十六条
PAY = TimeLimit(30, "d")  # 保障中小企业款项支付条例 第八条
PAY_CAP_DAYS = 60  # ibid.: never more than 60 days after delivery
LAND_PUBLISH = TimeLimit(10, "wd")  # 招标拍卖挂牌出让国有建设用地使用权规定 第二十条
PROPERTY_PAY = TimeLimit(5, "wd")  # 企业国有资产交易监督管理办法 第二十八条


class Steps:
    """Writes the step items; subsystems and regions looked up once."""

    def __init__(self, session: Session, cal: WorkCalendar, actor: str, *, bulk: bool = False):
        """`bulk`: new records only (the demo), items written at once by `flush`."""
        self.session, self.cal, self.actor, self.bulk = session, cal, actor, bulk
        self.subs = {s.code: s for s in session.scalars(select(Subsystem))}
        self.regions = dict(session.execute(select(Unit.id, Unit.region_id)).all())
        self.rows: list[dict] = []

    def _item(self, ext, sub, unit_id, received, limit, done, title, region=None, deadline=None):
        region = region or self.regions.get(unit_id)
        if self.bulk:
            due = deadline or self.cal.deadline(received, limit)
            self.rows.append({
                "external_id": ext, "subsystem_id": self.subs[sub].id, "unit_id": unit_id,
                "region_id": region, "title": title[:200], "received_at": received,
                "limit_value": limit.value, "limit_unit": limit.unit, "deadline": due,
                "completed_at": done, "state": "completed" if done else "open",
                "updated_at": done or received})
            return None
        return upsert_item(self.session, self.cal, external_id=ext, subsystem=self.subs[sub],
                           unit_id=unit_id, received_at=received, limit=limit,
                           completed_at=done, actor=self.actor, title=title[:200],
                           region_id=region, deadline=deadline)

    def flush(self) -> int:
        """Bulk mode: insert the items gathered, each with its 'created' event."""
        if not self.rows:
            return 0
        self.session.execute(insert(Item), self.rows)
        ids = dict(self.session.execute(select(Item.external_id, Item.id).where(
            Item.external_id.in_([r["external_id"] for r in self.rows]))).all())
        self.session.execute(insert(ItemEvent), [
            {"item_id": ids[r["external_id"]], "at": r["received_at"], "kind": "created",
             "from_state": None, "to_state": "open", "actor": self.actor, "note": "法定时限事项"}
            for r in self.rows])
        done = [r for r in self.rows if r["completed_at"] is not None]
        if done:
            self.session.execute(insert(ItemEvent), [
                {"item_id": ids[r["external_id"]], "at": r["completed_at"], "kind": "completed",
                 "from_state": "open", "to_state": "completed", "actor": self.actor,
                 "note": None} for r in done])
        n = len(self.rows)
        self.rows = []
        return n

    def tender(self, t: Tender) -> int:
        """The result's publication, the contract and an SME's payment; returns items written."""
        sub = subsystem_of(t.category)
        name = t.title or t.external_id
        n = 0
        if t.awarded_at is not None:
            self._item(f"{t.external_id}.PUB", sub, t.buyer_id, t.awarded_at, PUBLISH,
                       t.award_published_at, f"{name}·中标（成交）结果公告")
            n += 1
        notice = t.award_published_at
        if notice is not None:
            self._item(f"{t.external_id}.CON", sub, t.buyer_id, notice, CONTRACT,
                       t.contract_signed_at, f"{name}·签订采购合同")
            n += 1
        if t.winner_sme and t.delivered_at is not None:
            start = t.accepted_at if t.acceptance_required and t.accepted_at else t.delivered_at
            due = min(self.cal.deadline(start, PAY),
                      self.cal.deadline(t.delivered_at, TimeLimit(PAY_CAP_DAYS, "d")))
            if t.acceptance_required and t.accepted_at is None:
                due = self.cal.deadline(t.delivered_at, TimeLimit(PAY_CAP_DAYS, "d"))
            self._item(f"{t.external_id}.PAY", sub, t.buyer_id, start, PAY, t.paid_at,
                       f"{name}·向中小企业支付款项", deadline=due)
            n += 1
        return n

    def land(self, x: LandTransfer) -> int:
        if x.method == "agreement":
            return 0
        self._item(f"{x.external_id}.LPUB", "LAND", x.unit_id, x.concluded_at, LAND_PUBLISH,
                   x.result_published_at, f"{x.parcel}·出让结果公布", region=x.region_id)
        return 1

    def property(self, x: PropertyTransfer) -> int:
        self._item(f"{x.external_id}.PPAY", "PROPERTY", x.unit_id, x.contract_at, PROPERTY_PAY,
                   x.paid_at, f"{x.asset}·交易价款结清", region=x.region_id)
        return 1


def pay_deadline(cal: WorkCalendar, t: Tender):
    """The SME payment's due moment (for the drill-down)."""
    start = t.accepted_at if t.acceptance_required and t.accepted_at else t.delivered_at
    if start is None:
        return None
    cap = cal.deadline(t.delivered_at, TimeLimit(PAY_CAP_DAYS, "d"))
    return min(cal.deadline(start, PAY), cap) if t.accepted_at or not t.acceptance_required \
        else cap

