"""Roles and unit scoping, enforced by the library itself."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from lib import access, db, items, queries
from lib.access import ROLES, SYSTEM, CurrentUser, PermissionDenied
from lib.clock import now_utc
from lib.models import Item, Unit
from tests.conftest import ANCHOR


def user_for(engine, roles, unit_code=None):
    unit_id = None
    if unit_code:
        with db.session_scope(engine) as s:
            unit_id = s.scalar(select(Unit.id).where(Unit.code == unit_code))
    return CurrentUser(id=None, username="t", display_name="测试", roles=frozenset(roles),
                       unit_id=unit_id)


def test_matrix_covers_every_role_and_action():
    assert set(access.MATRIX) == set(ROLES)
    for actions in access.MATRIX.values():
        assert actions <= set(access.ACTIONS)
    frame = access.matrix_frame()
    assert list(frame.columns) == ["权限"] + list(ROLES.values())
    assert len(frame) == len(access.ACTIONS)


def test_only_inspectors_see_reporters_and_reviewers_see_no_names():
    who = {r for r, a in access.MATRIX.items() if "view_reporter_identity" in a}
    assert who == {"inspector"}
    assert not access.can(CurrentUser(None, "r", "r", frozenset({"reviewer"})), "view_staff_names")
    assert access.mask_name("陈伟强") == "陈**"


def test_pages_per_role():
    def keys(role):
        return [p.key for p in access.visible_pages(CurrentUser(None, "x", "x", frozenset({role})))]

    assert keys("admin") == ["cockpit", "items", "key_work", "complaints", "efficiency", "audit",
                             "users", "settings", "account"]
    assert keys("leader") == ["cockpit", "items", "key_work", "complaints", "efficiency",
                              "account"]
    assert keys("inspector") == ["cockpit", "items", "key_work", "complaints", "dispatch",
                                 "supervision", "efficiency", "audit", "account"]
    assert keys("staff") == ["cockpit", "items", "key_work", "inbox", "unit_notices",
                             "efficiency", "account"]
    assert keys("reviewer") == ["cockpit", "items", "key_work", "complaints", "efficiency",
                                "account"]
    assert keys("nobody") == ["account"]
    assert [p.key for p in access.public_pages()] == ["submit", "track", "board", "hot",
                                                      "rankings"]


def test_only_inspectors_and_administrators_publish_rankings():
    who = {r for r, a in access.MATRIX.items() if "publish_rankings" in a}
    assert who == {"inspector", "admin"}


def test_staff_without_a_unit_is_refused():
    with pytest.raises(PermissionDenied, match="未绑定单位"):
        access.unit_scope(CurrentUser(None, "x", "x", frozenset({"staff"})))


def _other_units_item(engine, own_unit_code):
    with db.session_scope(engine) as s:
        own = s.scalar(select(Unit.id).where(Unit.code == own_unit_code))
        row = s.execute(select(Item.id, Item.external_id).where(Item.unit_id != own,
                                                               Item.state == "open")
                        .limit(1)).one()
        mine = s.execute(select(Item.id, Item.external_id).where(Item.unit_id == own,
                                                                Item.state == "open")
                         .limit(1)).one()
    return row, mine


def test_staff_read_only_their_own_unit(demo_engine):
    staff = user_for(demo_engine, {"staff"}, "440823.ZRZY")
    (other_id, other_ext), (mine_id, mine_ext) = _other_units_item(demo_engine, "440823.ZRZY")
    with db.session_scope(demo_engine) as s:
        counts = queries.light_counts(s, user=staff, as_of=ANCHOR)
        assert set(counts["unit_id"]) == {staff.unit_id}
        everything = queries.light_counts(s, user=SYSTEM, as_of=ANCHOR)
        assert everything["total"].sum() > counts["total"].sum() > 0
        listed = queries.list_items(s, user=staff, as_of=ANCHOR, limit=5000)
        assert listed and all(r.unit == "遂溪县自然资源局" for r in listed)
        assert all(r.unit == "遂溪县自然资源局"
                   for r in queries.latest_red(s, user=staff, as_of=ANCHOR, limit=50))
        assert queries.list_items(s, user=staff, as_of=ANCHOR, external_id=other_ext) == []
        with pytest.raises(PermissionDenied, match="其他单位"):
            queries.list_items(s, user=staff, as_of=ANCHOR, unit_id=staff.unit_id + 1)
        with pytest.raises(PermissionDenied, match="其他单位"):
            items.get_item(s, staff, other_id)
        with pytest.raises(PermissionDenied, match="其他单位"):
            items.find_item(s, staff, other_ext)
        with pytest.raises(PermissionDenied):
            items.history(s, staff, other_id)
        assert items.find_item(s, staff, mine_ext).id == mine_id
        lights = queries.item_lights(s, user=staff, as_of=ANCHOR)
        assert mine_ext in {e for e, _, _ in lights} and other_ext not in {e for e, _, _ in lights}


def test_staff_cannot_write_another_units_item(demo_engine):
    staff = user_for(demo_engine, {"staff"}, "440823.ZRZY")
    (other_id, _), _ = _other_units_item(demo_engine, "440823.ZRZY")
    with db.session_scope(demo_engine) as s, pytest.raises(PermissionDenied):
        items.record_completion(s, staff, items.Completion(other_id, now_utc(), "x", None))
    with db.session_scope(demo_engine) as s:
        assert s.get(Item, other_id).state == "open"


@pytest.mark.parametrize("role", ["leader", "reviewer", "inspector", "admin"])
def test_only_staff_record_completions(demo_engine, role):
    _, (mine_id, _) = _other_units_item(demo_engine, "440823.ZRZY")
    with db.session_scope(demo_engine) as s, pytest.raises(PermissionDenied, match="办理登记"):
        items.record_completion(s, user_for(demo_engine, {role}),
                                items.Completion(mine_id, now_utc(), "", None))


def test_completion_rules_and_optimistic_locking(empty_engine):
    from lib.items import upsert_item
    from lib.models import Subsystem
    from lib.workdays import WorkCalendar, parse_limit

    with db.session_scope(empty_engine) as s:
        sub = s.scalar(select(Subsystem).where(Subsystem.code == "FEES"))
        unit = s.scalar(select(Unit).where(Unit.code == "440823.ZRZY"))
        item, _ = upsert_item(s, WorkCalendar(), external_id="C-1", subsystem=sub,
                              unit_id=unit.id, received_at=now_utc() - timedelta(days=1),
                              limit=parse_limit("5wd"), completed_at=None, actor="t")
        item_id, version = item.id, int(item.updated_at.timestamp())
        received = item.received_at
    staff = user_for(empty_engine, {"staff"}, "440823.ZRZY")

    def complete(at, seen=version, note=""):
        with db.session_scope(empty_engine) as s:
            items.record_completion(s, staff, items.Completion(item_id, at, note, seen))

    with pytest.raises(items.ItemError, match="早于受理时间"):
        complete(received - timedelta(minutes=1))
    with pytest.raises(items.ItemError, match="晚于当前时间"):
        complete(now_utc() + timedelta(hours=1))
    with pytest.raises(items.ItemError, match="500"):
        complete(now_utc(), note="长" * 501)
    with pytest.raises(items.ItemError, match="已被他人修改"):
        complete(now_utc(), seen=version - 60)
    complete(now_utc(), note="已办结，文书号 遂自然资〔2026〕12号")
    with pytest.raises(items.ItemError, match="已办结"):
        complete(now_utc())
    with db.session_scope(empty_engine) as s:
        events = items.history(s, staff, item_id)
        assert [e.kind for e in events] == ["created", "completed"]
        assert events[-1].actor == "t" and "文书号" in events[-1].note
