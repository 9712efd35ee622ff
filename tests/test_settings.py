"""Administrators' settings: units, thresholds and default limits, calendar overrides."""

from datetime import date, datetime

import pytest
from sqlalchemy import select

from lib import db, settings
from lib.access import CurrentUser, PermissionDenied
from lib.config import TZ
from lib.importer import import_items
from lib.models import Item, Subsystem, Unit

ADMIN = CurrentUser(id=None, username="admin", display_name="管理员", roles=frozenset({"admin"}))
HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"


def deadline(engine, ext):
    with db.session_scope(engine) as s:
        return s.scalar(select(Item.deadline).where(Item.external_id == ext)).astimezone(TZ)


@pytest.fixture
def two_items(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + "OPEN,FEES,ZJ.CZ,2026-09-30T10:00,,\n"
                     "DONE,FEES,ZJ.CZ,2026-09-30T10:00,,2026-10-09T09:00\n"
                     "OWN,FEES,ZJ.CZ,2026-09-30T10:00,3wd,\n", actor="t")
    return empty_engine


def test_calendar_override_moves_open_deadlines_only(two_items):
    assert deadline(two_items, "OPEN") == datetime(2026, 10, 14, tzinfo=TZ)  # 5 working days
    with db.session_scope(two_items) as s:
        moved = settings.set_override(s, ADMIN, date(2026, 10, 12), False, "台风停工")
    # OPEN moves; OWN (3 working days) ends before the 12th; DONE is closed and keeps its
    # deadline, so its light never changes.
    assert moved == 1
    assert deadline(two_items, "OPEN") == datetime(2026, 10, 15, tzinfo=TZ)
    assert deadline(two_items, "DONE") == datetime(2026, 10, 14, tzinfo=TZ)
    with db.session_scope(two_items) as s:
        assert settings.remove_override(s, ADMIN, date(2026, 10, 12)) == 1
    assert deadline(two_items, "OPEN") == datetime(2026, 10, 14, tzinfo=TZ)


@pytest.mark.parametrize("day,workday,note,expected", [
    (date(2026, 10, 12), False, "", "请填写调整原因"),
    (date(2026, 10, 12), True, "x", "本就是工作日"),
    (date(2026, 10, 1), False, "x", "本就是休息日"),
    (date(1990, 1, 1), False, "x", "年之间"),
])
def test_override_validation(empty_engine, day, workday, note, expected):
    with db.session_scope(empty_engine) as s, pytest.raises(settings.SettingsError, match=expected):
        settings.set_override(s, ADMIN, day, workday, note)


def test_subsystem_default_limit_and_threshold(two_items):
    with db.session_scope(two_items) as s:
        sub = s.scalar(select(Subsystem.id).where(Subsystem.code == "FEES"))
        moved = settings.update_subsystem(s, ADMIN, sub, yellow_pct=35, limit="10wd")
    assert moved == 1  # OPEN uses the default; OWN has its own promise; DONE is closed
    assert deadline(two_items, "OPEN") == datetime(2026, 10, 21, tzinfo=TZ)
    assert deadline(two_items, "OWN") == datetime(2026, 10, 11, tzinfo=TZ)
    for pct, limit, expected in ((101, "5wd", "0–100"), (20, "5 weeks", "时限格式无效")):
        with db.session_scope(two_items) as s, pytest.raises(settings.SettingsError, match=expected):
            settings.update_subsystem(s, ADMIN, sub, yellow_pct=pct, limit=limit)


def test_units(empty_engine):
    with db.session_scope(empty_engine) as s:
        unit = settings.create_unit(s, ADMIN, code="ZJ.TJ", name="湛江市统计局", level="municipal",
                                    region_id=None)
        with pytest.raises(settings.SettingsError, match="已存在"):
            settings.create_unit(s, ADMIN, code="ZJ.TJ", name="x", level="municipal", region_id=None)
        with pytest.raises(settings.SettingsError, match="县级单位须属"):
            settings.create_unit(s, ADMIN, code="X.1", name="y", level="county", region_id=None)
        settings.rename_unit(s, ADMIN, unit.id, "湛江市统计局（更名）")
        # A township's government: a town unit in a town region (and only there).
        from lib.models import Region

        town = s.scalar(select(Region).where(Region.level == "town").order_by(Region.code))
        county = s.scalar(select(Region).where(Region.level == "county").order_by(Region.code))
        assert town is not None  # the catalogue's towns
        assert (town.id, s.get(Region, town.parent_id).name, town.name) in settings.town_choices(s)
        made = settings.create_unit(s, ADMIN, code=f"{town.code}.ZF", name=f"{town.name}人民政府X",
                                    level="town", region_id=town.id)
        assert made.level == "town"
        with pytest.raises(settings.SettingsError, match="乡镇（街道）单位须属某个乡镇"):
            settings.create_unit(s, ADMIN, code="T.1", name="某镇", level="town",
                                 region_id=county.id)
        with pytest.raises(settings.SettingsError, match="单位层级无效"):
            settings.create_unit(s, ADMIN, code="T.2", name="某村", level="village",
                                 region_id=county.id)
    with db.session_scope(empty_engine) as s:
        assert s.scalar(select(Unit.name).where(Unit.code == "ZJ.TJ")) == "湛江市统计局（更名）"


def test_settings_need_the_right_role(empty_engine):
    leader = CurrentUser(id=None, username="l", display_name="l", roles=frozenset({"leader"}))
    with db.session_scope(empty_engine) as s:
        with pytest.raises(PermissionDenied):
            settings.set_override(s, leader, date(2026, 10, 12), False, "x")
        with pytest.raises(PermissionDenied):
            settings.create_unit(s, leader, code="A", name="B", level="municipal", region_id=None)
