"""Writing supervised items: deadlines from the calendar, state from the completion time,
every change kept in the item's history. Functions never commit: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit
from lib.access import CurrentUser, can, check_unit, mask_name, require
from lib.clock import now_utc
from lib.models import Item, ItemEvent, Person, Subsystem
from lib.workdays import TimeLimit, WorkCalendar


class ItemError(ValueError):
    """A refused change to an item; the message is for the user, in Chinese."""


def snapshot(item: Item) -> dict:
    """What the audit trail keeps of an item before and after a change."""
    return {"external_id": item.external_id, "subsystem_id": item.subsystem_id,
            "unit_id": item.unit_id, "received_at": item.received_at,
            "limit": f"{item.limit_value}{item.limit_unit}" if item.limit_value else None,
            "deadline": item.deadline, "completed_at": item.completed_at, "state": item.state}


def limit_of(item: Item, subsystem: Subsystem) -> TimeLimit:
    """The item's own promised limit, else its subsystem's default."""
    if item.limit_value and item.limit_unit:
        return TimeLimit(item.limit_value, item.limit_unit)
    return TimeLimit(subsystem.limit_value, subsystem.limit_unit)


# What each kind of history row (ItemEvent.kind) is called on the screen.
EVENT_LABELS = {
    "created": "受理", "updated": "信息更新", "completed": "办结", "reopened": "重新办理",
    "progress": "进度填报", "appealed": "提出申诉", "card_cancelled": "申诉成立，撤销亮牌",
    "appeal_upheld": "申诉不成立，维持亮牌", "flagged": "规则预警", "withdrawn": "预警撤回",
    "flag_confirmed": "预警核实属实", "flag_dismissed": "预警核实排除",
}


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind)


_DECISION_EVENTS = {"flag_confirmed": "核查属实", "flag_dismissed": "核查排除"}


def event_note(user: CurrentUser, event) -> str:
    """An event's note as this user may read it: an inspector's conclusion on a finding keeps
    its words ("核查属实：经核实，收款人王某某…") from users who may not see staff names (the
    provincial reviewer), as the finding's own page and the audit log do."""
    note = event.note or ""
    if event.kind in _DECISION_EVENTS and note and not can(user, "view_staff_names"):
        return f"{_DECISION_EVENTS[event.kind]}（核查意见不予显示）"
    return note


def state_for(completed_at: datetime | None) -> str:
    return "completed" if completed_at is not None else "open"


def upsert_item(
    session: Session,
    cal: WorkCalendar,
    *,
    external_id: str,
    subsystem: Subsystem,
    unit_id: int,
    received_at: datetime,
    limit: TimeLimit | None,
    completed_at: datetime | None,
    actor: str,
    title: str | None = None,
    region_id: int | None = None,
    note: str | None = None,
    deadline: datetime | None = None,
) -> tuple[Item, str]:
    """Create the item or update the one with this external id; ('created'|'updated'|'unchanged').

    The deadline is the calendar's (receipt + limit) unless the caller gives one: a domain whose
    law moves it (a paused clock, an approved extension) computes it and passes it here."""
    effective = limit or TimeLimit(subsystem.limit_value, subsystem.limit_unit)
    if deadline is None:
        deadline = cal.deadline(received_at, effective)
    values = {
        "subsystem_id": subsystem.id,
        "unit_id": unit_id,
        "received_at": received_at,
        "limit_value": limit.value if limit else None,
        "limit_unit": limit.unit if limit else None,
        "deadline": deadline,
        "completed_at": completed_at,
        "state": state_for(completed_at),
    }
    if title is not None:
        values["title"] = title
    if region_id is not None:
        values["region_id"] = region_id
    at = now_utc()
    item = session.scalar(select(Item).where(Item.external_id == external_id))
    if item is None:
        item = Item(external_id=external_id, updated_at=at, **values)
        session.add(item)
        session.flush()
        session.add(ItemEvent(item_id=item.id, at=at, kind="created", from_state=None,
                              to_state=item.state, actor=actor, note=note))
        audit.record(session, actor=actor, action="item.create", entity="item",
                     entity_id=external_id, after=snapshot(item))
        return item, "created"

    changed = {}
    for key, value in values.items():
        old = getattr(item, key)
        if _differs(old, value):
            changed[key] = (old, value)
    if not changed:
        return item, "unchanged"
    before_snapshot = snapshot(item)
    before = item.state
    for key, (_, value) in changed.items():
        setattr(item, key, value)
    item.updated_at = at
    kind = "updated"
    if before != item.state:
        kind = "completed" if item.state == "completed" else "reopened"
    fields = "、".join(sorted(changed))
    session.add(ItemEvent(item_id=item.id, at=at, kind=kind, from_state=before,
                          to_state=item.state, actor=actor,
                          note=(note + "；" if note else "") + f"更新字段：{fields}"))
    audit.record(session, actor=actor, action="item.update", entity="item",
                 entity_id=external_id, before=before_snapshot, after=snapshot(item))
    return item, "updated"


def _differs(old, new) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return int(old.timestamp()) != int(new.timestamp())
    return old != new


def get_item(session: Session, user: CurrentUser, item_id: int) -> Item:
    """The item, if the user may read it (staff: only their own unit's)."""
    require(user, "view_items")
    item = session.get(Item, item_id)
    if item is None:
        raise ItemError("事项不存在")
    check_unit(user, item.unit_id)
    return item


def find_item(session: Session, user: CurrentUser, external_id: str) -> Item:
    """The item with this external id, if the user may read it."""
    require(user, "view_items")
    item = session.scalar(select(Item).where(Item.external_id == (external_id or "").strip()))
    if item is None:
        raise ItemError(f"未找到事项“{external_id}”")
    check_unit(user, item.unit_id)
    return item


def handler_name(session: Session, user: CurrentUser, item: Item) -> str | None:
    """The handler's name; masked (陈**) for users who may not see staff names."""
    if item.handler_id is None:
        return None
    name = session.scalar(select(Person.name).where(Person.id == item.handler_id))
    return name if can(user, "view_staff_names") else mask_name(name)


def history(session: Session, user: CurrentUser, item_id: int) -> list[ItemEvent]:
    get_item(session, user, item_id)
    return list(session.scalars(
        select(ItemEvent).where(ItemEvent.item_id == item_id).order_by(ItemEvent.at, ItemEvent.id)))


@dataclass(frozen=True)
class Completion:
    item_id: int
    completed_at: datetime
    note: str
    # Optimistic locking: the version the user saw (the item's updated_at, epoch seconds).
    seen_version: int | None


def record_completion(session: Session, user: CurrentUser, c: Completion) -> Item:
    """Staff record that their unit finished an item (办结登记). Refused for another unit's item,
    a closed item, an impossible time, or an item someone changed since the user looked."""
    require(user, "update_items")
    item = get_item(session, user, c.item_id)
    if item.state != "open":
        raise ItemError("该事项已办结，不能重复登记")
    version = int(item.updated_at.timestamp()) if item.updated_at else None
    if c.seen_version is not None and version != c.seen_version:
        raise ItemError("该事项已被他人修改，请刷新页面查看最新情况后再提交")
    note = (c.note or "").strip()
    if len(note) > 500:
        raise ItemError("办理说明不能超过 500 字")
    if item.received_at and c.completed_at < item.received_at:
        raise ItemError("办结时间不能早于受理时间")
    if c.completed_at > now_utc():
        raise ItemError("办结时间不能晚于当前时间")
    before = snapshot(item)
    item.completed_at = c.completed_at
    item.state = "completed"
    item.updated_at = max(now_utc(), item.updated_at) if item.updated_at else now_utc()
    if version is not None and int(item.updated_at.timestamp()) <= version:
        item.updated_at = datetime.fromtimestamp(version + 1, tz=item.updated_at.tzinfo)
    session.add(ItemEvent(item_id=item.id, at=now_utc(), kind="completed", from_state="open",
                          to_state="completed", actor=user.username,
                          note=note or "办结登记"))
    audit.record(session, actor=user.username, action="item.complete", entity="item",
                 entity_id=item.external_id, before=before, after=snapshot(item))
    return item


def recompute_open_deadlines(session: Session, cal: WorkCalendar) -> int:
    """After a calendar change, recompute the deadlines of open items. Closed items keep theirs:
    their lights never change again."""
    subsystems = {s.id: s for s in session.scalars(select(Subsystem))}
    changed = 0
    for item in session.scalars(select(Item).where(Item.state == "open")):
        if item.received_at is None:
            continue
        due = cal.deadline(item.received_at, limit_of(item, subsystems[item.subsystem_id]))
        if item.deadline is None or int(due.timestamp()) != int(item.deadline.timestamp()):
            item.deadline = due
            changed += 1
    return changed
