"""Appeals against red cards (申诉) and accountability records (通报批评、问责).

A unit may appeal a red card with its reasons and evidence; an inspector upholds or cancels it.
A cancelled card leaves the unit's score and the cockpit (`items.card_cancelled`, read by the
light engine); the appeal and the decision stay in the history. Functions never commit.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit
from lib.access import CurrentUser, PermissionDenied, check_unit, require
from lib.clock import now_utc
from lib.config import TZ
from lib.items import snapshot
from lib.lights import RED, light_of
from lib.models import AccountabilityRecord, Appeal, Item, ItemEvent, Notice, Person, Subsystem

STATUS = {"pending": "待审理", "upheld": "维持红牌", "cancelled": "撤销红牌"}
MEASURES = ["通报批评", "诫勉谈话", "责令书面检查", "批评教育", "警告处分", "记过处分", "调整工作岗位"]


class AppealError(ValueError):
    """A refused appeal or record; the message is for the user, in Chinese."""


def _text(value: str, what: str, lo: int, hi: int) -> str:
    value = (value or "").strip()
    if len(value) < lo:
        raise AppealError(f"请填写{what}（至少 {lo} 个字）")
    if len(value) > hi:
        raise AppealError(f"{what}不能超过 {hi} 字")
    return value


def file(session: Session, user: CurrentUser, item_id: int, reason: str, evidence: str = "",
         now: datetime | None = None) -> Appeal:
    """A unit appeals one of its red cards."""
    require(user, "update_items")
    now = now or now_utc()
    item = session.get(Item, item_id)
    if item is None:
        raise AppealError("事项不存在")
    check_unit(user, item.unit_id)
    if user.unit_id != item.unit_id:
        raise PermissionDenied("只能对本单位的红牌提出申诉")
    pct = session.scalar(select(Subsystem.yellow_pct).where(Subsystem.id == item.subsystem_id))
    lt = light_of(item, now, pct)
    if lt is None or lt.light != RED:
        raise AppealError("该事项目前不是红牌，无需申诉")
    if session.scalar(select(Appeal.id).where(Appeal.item_id == item.id, Appeal.status == "pending")):
        raise AppealError("该红牌已有申诉待审理")
    appeal = Appeal(item_id=item.id, unit_id=item.unit_id,
                    reason=_text(reason, "申诉理由", 10, 1000),
                    evidence=(evidence or "").strip()[:2000] or None, status="pending",
                    filed_by=user.username, filed_at=now)
    session.add(appeal)
    session.flush()
    session.add(ItemEvent(item_id=item.id, at=now, kind="appealed", from_state=item.state,
                          to_state=item.state, actor=user.username, note=appeal.reason[:200]))
    audit.record(session, actor=user.username, action="appeal.file", entity="item",
                 entity_id=item.external_id, after={"appeal_id": appeal.id})
    return appeal


def decide(session: Session, user: CurrentUser, appeal_id: int, cancel: bool, note: str,
           now: datetime | None = None) -> Appeal:
    """An inspector upholds the card, or cancels it (it then leaves scores and the cockpit)."""
    require(user, "dispatch_submissions")
    now = now or now_utc()
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.status != "pending":
        raise AppealError("该申诉不存在或已审理")
    note = _text(note, "审理意见", 4, 1000)  # checked before anything changes
    appeal.status = "cancelled" if cancel else "upheld"
    appeal.decided_by, appeal.decided_at, appeal.decision_note = user.username, now, note
    item = session.get(Item, appeal.item_id)
    if cancel:
        before = snapshot(item) | {"card_cancelled": item.card_cancelled}
        item.card_cancelled = True
        audit.record(session, actor=user.username, action="item.card_cancel", entity="item",
                     entity_id=item.external_id, before=before,
                     after=snapshot(item) | {"card_cancelled": True})
    session.add(ItemEvent(item_id=item.id, at=now, kind="card_cancelled" if cancel else "appeal_upheld",
                          from_state=item.state, to_state=item.state, actor=user.username,
                          note=appeal.decision_note[:200]))
    audit.record(session, actor=user.username, action="appeal.decide", entity="item",
                 entity_id=item.external_id, after={"appeal_id": appeal.id, "cancelled": cancel})
    return appeal


def listing(session: Session, user: CurrentUser, statuses: tuple[str, ...] | None = None):
    """Appeals with their item's external id; staff see their unit's."""
    require(user, "view_items")
    from lib.access import unit_scope

    stmt = (select(Appeal, Item.external_id, Item.title).join(Item, Item.id == Appeal.item_id)
            .order_by(Appeal.filed_at.desc()).limit(500))
    scope = unit_scope(user)
    if scope is not None:
        stmt = stmt.where(Appeal.unit_id == scope)
    if statuses:
        stmt = stmt.where(Appeal.status.in_(statuses))
    return list(session.execute(stmt))


def record_accountability(session: Session, user: CurrentUser, *, kind: str, unit_id: int,
                          person_id: int | None, item_id: int | None, notice_id: int | None,
                          measure: str, reason: str, decided_on: date | None = None
                          ) -> AccountabilityRecord:
    """通报批评 (a unit) or 问责 (an official, with the measure), linked to what lies behind it."""
    require(user, "dispatch_submissions")
    if kind not in ("criticism", "accountability"):
        raise AppealError("类别须为通报批评或问责")
    decided_on = decided_on or now_utc().astimezone(TZ).date()
    if decided_on > now_utc().astimezone(TZ).date():
        raise AppealError("决定日期不能晚于今天")
    if kind == "accountability":
        person = session.get(Person, person_id) if person_id else None
        if person is None or person.unit_id != unit_id:
            raise AppealError("问责须选择该单位的一名干部")
    if measure not in MEASURES:
        raise AppealError("请选择处理措施")
    if notice_id is not None:
        notice = session.get(Notice, notice_id)
        if notice is None or notice.unit_id != unit_id:
            raise AppealError("关联的督办通知不属于该单位")
        item_id = item_id or notice.item_id
    row = AccountabilityRecord(kind=kind, unit_id=unit_id,
                               person_id=person_id if kind == "accountability" else None,
                               item_id=item_id, notice_id=notice_id, decided_on=decided_on,
                               measure=measure, reason=_text(reason, "事由", 6, 1000))
    session.add(row)
    session.flush()
    audit.record(session, actor=user.username, action="accountability.record",
                 entity="accountability", entity_id=row.id,
                 after={"kind": kind, "unit_id": unit_id, "measure": measure,
                        "item_id": item_id, "notice_id": notice_id})
    return row


def accountability_rows(session: Session, user: CurrentUser) -> list[dict]:
    require(user, "view_items")
    from lib.access import can, mask_name
    from lib.models import Unit

    rows = session.execute(
        select(AccountabilityRecord, Unit.name, Person.name, Person.rank, Item.external_id)
        .join(Unit, Unit.id == AccountabilityRecord.unit_id)
        .outerjoin(Person, Person.id == AccountabilityRecord.person_id)
        .outerjoin(Item, Item.id == AccountabilityRecord.item_id)
        .order_by(AccountabilityRecord.decided_on.desc())).all()
    names = can(user, "view_staff_names")
    return [{"类别": "通报批评" if r.kind == "criticism" else "问责", "单位": unit,
             "干部": (name if names else mask_name(name)) if name else "", "职级": rank or "",
             "措施": r.measure, "决定日期": r.decided_on.isoformat(), "事项": ext or "",
             "督办通知": r.notice_id or "", "事由": r.reason}
            for r, unit, name, rank, ext in rows]


def people_of_units(session: Session, user: CurrentUser) -> list[tuple[int, str, int, str]]:
    """(id, name, unit id, rank) of the cadres (处级、科级) who may be held accountable."""
    require(user, "dispatch_submissions")
    return [tuple(r) for r in session.execute(
        select(Person.id, Person.name, Person.unit_id, Person.rank)
        .where(Person.rank.in_(("处级", "科级"))).order_by(Person.unit_id, Person.id))]
