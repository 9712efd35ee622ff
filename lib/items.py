"""Writing supervised items: deadlines from the calendar, state from the completion time,
every change kept in the item's history. Functions never commit: the caller owns the transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib.models import Item, ItemEvent, Subsystem
from lib.workdays import TimeLimit, WorkCalendar


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def limit_of(item: Item, subsystem: Subsystem) -> TimeLimit:
    """The item's own promised limit, else its subsystem's default."""
    if item.limit_value and item.limit_unit:
        return TimeLimit(item.limit_value, item.limit_unit)
    return TimeLimit(subsystem.limit_value, subsystem.limit_unit)


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
) -> tuple[Item, str]:
    """Create the item or update the one with this external id; ('created'|'updated'|'unchanged')."""
    effective = limit or TimeLimit(subsystem.limit_value, subsystem.limit_unit)
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
        return item, "created"

    changed = {}
    for key, value in values.items():
        old = getattr(item, key)
        if _differs(old, value):
            changed[key] = (old, value)
    if not changed:
        return item, "unchanged"
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
    return item, "updated"


def _differs(old, new) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return int(old.timestamp()) != int(new.timestamp())
    return old != new


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
