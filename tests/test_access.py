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

    domains = ["power", "market", "funds", "disclosure"]
    assert keys("admin") == ["cockpit", "items", "key_work", *domains, "complaints", "efficiency",
                             "moderation", "data", "audit", "users", "settings", "account"]
    assert keys("leader") == ["cockpit", "items", "key_work", *domains, "complaints",
                              "efficiency", "account"]
    assert keys("inspector") == ["cockpit", "items", "key_work", *domains, "complaints",
                                 "dispatch", "supervision", "efficiency", "moderation", "data",
                                 "audit", "account"]
    # Staff see their own unit's records; the market's tenders are read across buyers.
    assert keys("staff") == ["cockpit", "items", "key_work", "power", "funds", "disclosure",
                             "inbox", "unit_notices", "efficiency", "account"]
    assert keys("reviewer") == ["cockpit", "items", "key_work", *domains, "complaints",
                                "dispatch", "supervision", "efficiency", "moderation", "data",
                                "audit", "account"]
    assert keys("nobody") == ["account"]
    assert [p.key for p in access.public_pages()] == ["submit", "track", "board", "hot",
                                                      "rankings", "villages", "govinfo",
                                                      "public_funds", "forum", "polls"]


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
        listed = queries.list_items(s, user=staff, as_of=ANCHOR)
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


# -- the provincial reviewer: every inspector's and leader's page, read-only, no personal data ---

REVIEWER = CurrentUser(id=7, username="reviewer", display_name="省级检查组", roles=frozenset({"reviewer"}))


def test_the_reviewer_opens_every_page_an_inspector_or_a_leader_opens():
    def keys(role):
        return {p.key for p in access.visible_pages(CurrentUser(None, "x", "x", frozenset({role})))}

    assert keys("reviewer") == keys("inspector") | keys("leader")
    # …and may do nothing but look: every action of the role is a "view", and not the two
    # that show personal data.
    reviewer = access.MATRIX["reviewer"]
    assert all(a.startswith("view_") for a in reviewer)
    assert not reviewer & {"view_staff_names", "view_reporter_identity"}


def test_actors_are_masked_for_whoever_may_not_see_names():
    leader = CurrentUser(None, "l", "l", frozenset({"leader"}))
    assert access.actor_for(leader, "zhou_qiang") == "zhou_qiang"
    assert access.actor_for(REVIEWER, "zhou_qiang") == "z*********"
    assert access.actor_for(REVIEWER, "reviewer") == "reviewer"  # oneself
    for system in ("系统（自动督办）", "演示经办人", "群众", "", None):
        assert access.actor_for(REVIEWER, system) == (system or "")
    assert access.actor_for(REVIEWER, "system") == access.actor_for(leader, "system") == "系统"


def _writes():
    """Every write a page can ask of the library, with arguments that would otherwise get past
    the permission check (the check comes first)."""
    from lib import appeals, auth, forum, notices, polls, projects, scoring, settings
    from lib import submissions as subs

    return {
        "notice.issue": lambda s: notices.issue_manual(s, REVIEWER, [1], requirements=""),
        "notice.verify": lambda s: notices.verify(s, REVIEWER, 1, True),
        "notice.acknowledge": lambda s: notices.acknowledge(s, REVIEWER, 1),
        "notice.report": lambda s: notices.report(s, REVIEWER, 1, "整改报告" * 5),
        "appeal.file": lambda s: appeals.file(s, REVIEWER, 1, "理由" * 10),
        "appeal.decide": lambda s: appeals.decide(s, REVIEWER, 1, True, "撤销红牌"),
        "accountability": lambda s: appeals.record_accountability(
            s, REVIEWER, kind="criticism", unit_id=1, person_id=None, item_id=None,
            notice_id=None, measure="通报批评", reason="重点工作推进不力"),
        "submission.dispatch": lambda s: subs.dispatch(s, REVIEWER, 1, 1),
        "submission.review": lambda s: subs.review(s, REVIEWER, 1, True),
        "submission.rework": lambda s: subs.send_back_for_rework(s, REVIEWER, 1, "请重新办理"),
        "submission.publish": lambda s: subs.publish(s, REVIEWER, 1, "问题", "答复"),
        "submission.identity": lambda s: subs.reveal_identity(s, REVIEWER, 1),
        "submission.rule": lambda s: subs.add_rule(s, REVIEWER, priority=1, kind=None,
                                                   keyword="", region_id=None, unit_id=1),
        "submission.acknowledge": lambda s: subs.acknowledge(s, REVIEWER, 1),
        "extension.decide": lambda s: subs.decide_extension(s, REVIEWER, 1, True, ""),
        "item.complete": lambda s: items.record_completion(
            s, REVIEWER, items.Completion(1, now_utc(), "", None)),
        "node.update": lambda s: projects.update_node(s, REVIEWER, 1, 50, ""),
        "ranking.publish": lambda s: scoring.publish(s, REVIEWER, "2026-09"),
        "calendar.set": lambda s: settings.set_override(s, REVIEWER, now_utc().date(), False, "x"),
        "password.change": lambda s: auth.change_password(s, REVIEWER, "Shencha@2026",
                                                          "Another#2027", "Another#2027"),
        "forum.moderate": lambda s: forum.moderate(s, REVIEWER, 1, "approve"),
        "forum.dismiss": lambda s: forum.dismiss_reports(s, REVIEWER, 1),
        "forum.word": lambda s: forum.add_word(s, REVIEWER, "词语"),
        "forum.word_remove": lambda s: forum.remove_word(s, REVIEWER, 1),
        "poll.create": lambda s: polls.create(s, REVIEWER, subject="policy", title="一项政策评价",
                                              description="", options=["好", "不好"],
                                              closes_at=now_utc() + timedelta(days=3)),
        "poll.close": lambda s: polls.close(s, REVIEWER, 1),
    }


@pytest.mark.parametrize("write", sorted(_writes()))
def test_the_library_refuses_the_reviewer_every_write(sqlite_demo_url, write):
    engine = db.get_engine(sqlite_demo_url)
    with db.read_scope(engine) as s, pytest.raises(PermissionDenied):
        _writes()[write](s)


def test_the_reviewer_reads_the_supervision_queues_and_the_audit_log(sqlite_demo_url):
    from lib import audit, notices
    from lib import submissions as subs

    engine = db.get_engine(sqlite_demo_url)
    with db.read_scope(engine) as s:
        assert notices.listing(s, REVIEWER)
        assert subs.queue(s, REVIEWER, ("answered", "closed"))
        subs.pending_extensions(s, REVIEWER)
        assert subs.routing_rules(s, REVIEWER)
        assert audit.search(s, REVIEWER, limit=5)
