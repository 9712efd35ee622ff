"""The demo reproduces the source's figures, read through the same query the cockpit uses."""

from sqlalchemy import func, select

from lib import db, demo, queries
from lib.access import SYSTEM
from lib.models import Domain, Item, Region, Subsystem
from tests.conftest import ANCHOR


def figures(engine, as_of=ANCHOR):
    with db.session_scope(engine) as s:
        return queries.source_figures(s, as_of=as_of)


def test_key_work_2794_tasks_97_percent_on_time(demo_engine):
    f = figures(demo_engine)
    assert f.key_tasks_completed == 2794
    assert round(f.key_task_on_time_rate * 100) == 97


def test_53_key_projects_22_completed_nodes_86_percent(demo_engine):
    f = figures(demo_engine)
    assert (f.projects, f.projects_completed) == (53, 22)
    assert round(f.node_on_time_rate * 100) == 86


def test_7_units_criticized_9_officials_accountable(demo_engine):
    f = figures(demo_engine)
    assert f.units_criticized == 7
    assert f.officials_accountable == 9


def test_88_towns_1503_villages_and_disclosure_totals(demo_engine):
    f = figures(demo_engine)
    assert (f.towns, f.villages) == (88, 1503)
    assert f.disclosed_items > 900_000
    assert f.disclosure_views > 8_000_000


def test_figures_hold_later_too_and_shrink_in_the_past(demo_engine):
    later = figures(demo_engine, ANCHOR.replace(year=ANCHOR.year + 1))
    assert later.key_tasks_completed == 2794  # completed tasks stay completed
    earlier = figures(demo_engine, ANCHOR.replace(year=ANCHOR.year - 1))
    assert earlier.key_tasks_completed < 2794
    assert earlier.projects_completed < 22


def test_items_in_all_six_domains(demo_engine):
    with db.session_scope(demo_engine) as s:
        per_domain = dict(s.execute(
            select(Domain.code, func.count(Item.id))
            .join(Subsystem, Subsystem.domain_id == Domain.id)
            .join(Item, Item.subsystem_id == Subsystem.id).group_by(Domain.code)).all())
        counties = s.scalar(select(func.count()).select_from(Region).where(Region.level == "county"))
    assert set(per_domain) == {"POWER", "MARKET", "FUNDS", "COMPLAINT", "EFFICIENCY", "DISCLOSURE"}
    assert all(n > 100 for n in per_domain.values())
    assert counties == 9


def test_demo_is_deterministic(tmp_path, tmp_path_factory):
    """A second build at the same anchor gives every item the same light as the session's."""
    from tests.conftest import demo_url

    outputs = []
    for url in (demo_url("sqlite", tmp_path_factory), f"sqlite:///{tmp_path / 'again.db'}"):
        engine = db.get_engine(url)
        db.migrate(engine)
        with db.session_scope(engine) as s:
            if not demo.is_loaded(s):
                demo.load_demo(s, anchor=ANCHOR)
        with db.session_scope(engine) as s:
            outputs.append(queries.item_lights(s, user=SYSTEM, as_of=ANCHOR))
    assert len(outputs[0]) > 10_000
    assert outputs[0] == outputs[1]


def test_demo_refuses_a_database_with_items(demo_engine):
    import pytest

    with db.session_scope(demo_engine) as s:
        with pytest.raises(ValueError, match="空库"):
            demo.load_demo(s, anchor=ANCHOR)


def test_the_7_and_9_rest_on_notices_and_items(demo_engine):
    from lib.models import AccountabilityRecord, Item, Notice

    with db.session_scope(demo_engine) as s:
        rows = s.execute(select(AccountabilityRecord, Notice, Item)
                         .join(Notice, Notice.id == AccountabilityRecord.notice_id)
                         .join(Item, Item.id == AccountabilityRecord.item_id)).all()
    assert len(rows) == 16
    for record, notice, item in rows:
        assert notice.item_id == item.id and notice.unit_id == record.unit_id
        assert item.completed_at > item.deadline  # the task was late
        assert notice.issued_at < item.completed_at  # the notice came while it was overdue
        assert notice.closed_at.astimezone(ANCHOR.tzinfo).date() <= record.decided_on


# -- a demo that has lived: the sweep through its own history ------------------------------------

def test_notices_were_issued_the_day_each_item_went_red(demo_engine):
    from datetime import timedelta

    from lib import demo_history
    from lib.models import Notice

    go_live = demo_history._sweep_time(ANCHOR - timedelta(days=demo_history.LIVE_DAYS))
    with db.session_scope(demo_engine) as s:
        rows = s.execute(select(Notice.crossing, Notice.issued_at)).all()
    assert len(rows) > 300
    days = {issued.astimezone(ANCHOR.tzinfo).date() for _, issued in rows}
    assert len(days) > 150  # not all in one minute: a year of sweeps
    for crossing, issued in rows:
        assert go_live <= issued <= ANCHOR
        if crossing >= go_live.timestamp():
            # The first sweep after the deadline (00:01), or today's sweep.
            late = issued.timestamp() - crossing
            assert 0 < late <= 86400 + 60 or issued == ANCHOR, (crossing, issued)


def test_notices_went_every_way_a_notice_goes(demo_engine):
    from lib.models import Appeal, Notice, NoticeEvent

    with db.session_scope(demo_engine) as s:
        status = dict(s.execute(select(Notice.status, func.count()).group_by(Notice.status)).all())
        levels = set(s.scalars(select(Notice.level).distinct()))
        actions = dict(s.execute(select(NoticeEvent.action, func.count())
                                 .group_by(NoticeEvent.action)).all())
        appeals = dict(s.execute(select(Appeal.status, func.count()).group_by(Appeal.status)).all())
        last_event = s.scalar(select(func.max(NoticeEvent.at)))
        steps = {}
        for nid, action, at in s.execute(select(NoticeEvent.notice_id, NoticeEvent.action,
                                                NoticeEvent.at).order_by(NoticeEvent.id)):
            steps.setdefault(nid, []).append((action, at))
        cancelled = s.scalar(select(func.count()).select_from(Item).where(Item.card_cancelled))
    assert set(status) >= {"issued", "acknowledged", "rectified", "closed"}
    assert status["closed"] > status["acknowledged"] > status["rectified"]
    assert levels == {1, 2, 3}
    assert actions["escalated"] > 50 and actions["returned"] > 10
    assert set(appeals) >= {"upheld", "cancelled"} and cancelled == appeals["cancelled"]
    assert last_event <= ANCHOR  # nothing happens after the present
    for history in steps.values():
        times = [at for _, at in history]
        assert times == sorted(times)
        assert history[0][0] == "issued"
        names = [a for a, _ in history]
        if "closed" in names:
            assert names.index("acknowledged") < names.index("rectified") < names.index("closed")


def test_every_action_in_the_demo_audit_log_reads_in_chinese(demo_engine):
    from lib import audit
    from lib.models import AuditLog

    with db.session_scope(demo_engine) as s:
        actions = set(s.scalars(select(AuditLog.action).distinct()))
    assert len(actions) > 20
    assert [a for a in sorted(actions) if audit.action_label(a) == a] == []
