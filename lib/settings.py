"""What administrators configure: units, light thresholds and default limits per subsystem, and
the working-day calendar's overrides. Each change is audited; the caller commits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from lib import audit, rollups
from lib.access import CurrentUser, require
from lib.items import recompute_open_deadlines
from lib.models import CalendarOverride, Region, Subsystem, Unit
from lib.workdays import FIRST_YEAR, LAST_YEAR, load_calendar, parse_limit, statutory_is_workday


class SettingsError(ValueError):
    """A refused setting; the message is for the user, in Chinese."""


# -- units -----------------------------------------------------------------------------------

UNIT_REGION_LEVEL = {"municipal": "city", "county": "county", "town": "town"}  # unit → region


def create_unit(session: Session, actor: CurrentUser, *, code: str, name: str, level: str,
                region_id: int | None) -> Unit:
    """A new unit; `region_id` None means the city itself (a municipal department). Its level
    goes with its region: municipal in the city, county in a county, town (乡镇（街道）, such as
    a township's government) in a town."""
    require(actor, "manage_units")
    if region_id is None:
        region_id = session.scalar(select(Region.id).where(Region.level == "city"))
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > 16:
        raise SettingsError("单位代码不能为空，且不超过 16 个字符")
    if not name or len(name) > 64:
        raise SettingsError("单位名称不能为空，且不超过 64 个字符")
    if level not in UNIT_REGION_LEVEL:
        raise SettingsError("单位层级无效")
    region = session.get(Region, region_id) if region_id is not None else None
    if region is None or region.level not in UNIT_REGION_LEVEL.values():
        raise SettingsError("所属区域须为市、县（市、区）或乡镇（街道）")
    if UNIT_REGION_LEVEL[level] != region.level:
        raise SettingsError("市直单位须属湛江市，县级单位须属某个县（市、区），"
                            "乡镇（街道）单位须属某个乡镇（街道）")
    if session.scalar(select(func.count()).select_from(Unit).where(
            (Unit.code == code) | (Unit.name == name))):
        raise SettingsError("单位代码或名称已存在")
    unit = Unit(code=code, name=name, level=level, region_id=region_id)
    session.add(unit)
    session.flush()
    audit.record(session, actor=actor.username, action="unit.create", entity="unit",
                 entity_id=code, after={"code": code, "name": name, "level": level,
                                        "region": region.name})
    return unit


def town_choices(session: Session) -> list[tuple[int, str, str]]:
    """(region id, county, town) of every town, by county and town code, for a new unit."""
    county = aliased(Region)
    return [tuple(r) for r in session.execute(
        select(Region.id, county.name, Region.name).join(county, county.id == Region.parent_id)
        .where(Region.level == "town").order_by(county.code, Region.code))]


def rename_unit(session: Session, actor: CurrentUser, unit_id: int, name: str) -> Unit:
    require(actor, "manage_units")
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise SettingsError("单位不存在")
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise SettingsError("单位名称不能为空，且不超过 64 个字符")
    if name == unit.name:
        return unit
    if session.scalar(select(func.count()).select_from(Unit).where(Unit.name == name)):
        raise SettingsError(f"单位名称“{name}”已存在")
    before = unit.name
    unit.name = name
    audit.record(session, actor=actor.username, action="unit.rename", entity="unit",
                 entity_id=unit.code, before={"name": before}, after={"name": name})
    return unit


# -- light thresholds and default limits --------------------------------------------------------

def update_subsystem(session: Session, actor: CurrentUser, subsystem_id: int, *,
                     yellow_pct: int, limit: str) -> int:
    """Set a subsystem's yellow threshold and default limit. Open items that use the default
    get new deadlines; returns how many changed."""
    require(actor, "manage_settings")
    sub = session.get(Subsystem, subsystem_id)
    if sub is None:
        raise SettingsError("子系统不存在")
    if not isinstance(yellow_pct, int) or not 0 <= yellow_pct <= 100:
        raise SettingsError(f"{sub.name}：黄牌阈值须为 0–100 的整数")
    try:
        parsed = parse_limit(limit)
    except ValueError as exc:
        raise SettingsError(f"{sub.name}：{exc}") from exc
    before = {"yellow_pct": sub.yellow_pct, "limit": f"{sub.limit_value}{sub.limit_unit}"}
    after = {"yellow_pct": yellow_pct, "limit": str(parsed)}
    if before == after:
        return 0
    limit_changed = before["limit"] != after["limit"]
    sub.yellow_pct, sub.limit_value, sub.limit_unit = yellow_pct, parsed.value, parsed.unit
    session.flush()
    changed = recompute_open_deadlines(session, load_calendar(session)) if limit_changed else 0
    if before["yellow_pct"] != yellow_pct:
        # Every yellow light of the subsystem, kept in the rollups, may have changed.
        rollups.forget(session)
    audit.record(session, actor=actor.username, action="subsystem.update", entity="subsystem",
                 entity_id=sub.code, before=before, after=after | {"deadlines_changed": changed})
    return changed


# -- calendar overrides --------------------------------------------------------------------------

def set_override(session: Session, actor: CurrentUser, day: date, is_workday: bool,
                 note: str) -> int:
    """Declare a day a working day or not, overriding the holiday table. Returns the number of
    open items whose deadline moved."""
    require(actor, "manage_settings")
    if not (FIRST_YEAR <= day.year < LAST_YEAR):
        raise SettingsError(f"日期须在 {FIRST_YEAR}–{LAST_YEAR - 1} 年之间")
    note = (note or "").strip()
    if not note:
        raise SettingsError("请填写调整原因（如：台风停工、临时调休）")
    if len(note) > 200:
        raise SettingsError("调整原因不能超过 200 字")
    if statutory_is_workday(day) == is_workday and session.get(CalendarOverride, day) is None:
        kind = "工作日" if is_workday else "休息日"
        raise SettingsError(f"{day} 按节假日表本就是{kind}，无需调整")
    row = session.get(CalendarOverride, day)
    before = {"is_workday": row.is_workday, "note": row.note} if row else None
    if row is None:
        row = CalendarOverride(day=day, is_workday=is_workday, note=note)
        session.add(row)
    else:
        row.is_workday, row.note = is_workday, note
    session.flush()
    changed = recompute_open_deadlines(session, load_calendar(session))
    audit.record(session, actor=actor.username, action="calendar.set", entity="calendar",
                 entity_id=day.isoformat(), before=before,
                 after={"is_workday": is_workday, "note": note, "deadlines_changed": changed})
    return changed


def remove_override(session: Session, actor: CurrentUser, day: date) -> int:
    require(actor, "manage_settings")
    row = session.get(CalendarOverride, day)
    if row is None:
        raise SettingsError(f"{day} 没有人工调整")
    before = {"is_workday": row.is_workday, "note": row.note}
    session.delete(row)
    session.flush()
    changed = recompute_open_deadlines(session, load_calendar(session))
    audit.record(session, actor=actor.username, action="calendar.remove", entity="calendar",
                 entity_id=day.isoformat(), before=before, after={"deadlines_changed": changed})
    return changed


def subsystem_rows(session: Session) -> list[dict]:
    """Subsystems with their thresholds and default limits, for the settings page."""
    from lib.models import Domain

    rows = session.execute(select(Subsystem, Domain.name).join(Domain, Domain.id == Subsystem.domain_id)
                           .order_by(Subsystem.sort_order)).all()
    return [{"id": sub.id, "code": sub.code, "name": sub.name, "domain": domain,
             "yellow_pct": sub.yellow_pct, "limit": f"{sub.limit_value}{sub.limit_unit}"}
            for sub, domain in rows]


def override_rows(session: Session) -> list[dict]:
    return [{"day": o.day, "is_workday": o.is_workday, "note": o.note or ""}
            for o in session.scalars(select(CalendarOverride).order_by(CalendarOverride.day))]
