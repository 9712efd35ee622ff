"""Key projects: the published node rules, behind schedule, progress reports."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from lib import db, projects
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.lights import GREEN, RED, YELLOW, light_for
from lib.models import KeyProject, ProjectNode, Unit
from tests.conftest import ANCHOR

START, END = date(2026, 1, 1), date(2026, 11, 27)  # 330 days


def rule(percent, today, node="进度", previous=None, completed=None):
    received = datetime(2026, 1, 1, 9, tzinfo=TZ)
    deadline = datetime(2026, 11, 28, tzinfo=TZ)
    lt = light_for(received_at=received, deadline=deadline, completed_at=completed,
                   as_of=datetime.combine(today, datetime.min.time(), tzinfo=TZ) + timedelta(hours=12))
    return projects.node_light(node_type=node, planned_start=START, planned_end=END,
                               percent_done=percent, item_light=lt, today=today, yellow_pp=10,
                               red_pp=30, previous=previous)


def test_behind_plan_bands():
    today = date(2026, 6, 29)  # 179 of 330 days: plan 54 %
    assert projects.planned_percent(START, END, today) == 54
    assert rule(45, today).light == GREEN  # 9 points behind
    assert rule(44, today).light == YELLOW  # exactly 10
    assert rule(24, today).light == YELLOW  # exactly 30
    assert rule(23, today).light == RED  # 31
    assert "31 个百分点" in rule(23, today).reason


def test_two_yellows_in_a_row_are_red():
    today = date(2026, 6, 29)
    assert rule(40, today, previous=GREEN).light == YELLOW
    second = rule(40, today, previous=YELLOW)
    assert second.light == RED and "连续两次黄灯" in second.reason


def test_funds_paid_late_are_red():
    after = date(2026, 11, 28)
    assert rule(95, after, node="资金拨付").light == RED
    assert "资金拨付逾期" in rule(95, after, node="资金拨付").reason
    assert rule(95, date(2026, 11, 20), node="资金拨付").light == GREEN


def test_completed_nodes_follow_the_item_engine():
    done_on_time = datetime(2026, 11, 1, tzinfo=TZ)
    assert rule(100, date(2026, 12, 5), completed=done_on_time).light == GREEN
    done_late = datetime(2026, 12, 1, tzinfo=TZ)
    assert rule(100, date(2026, 12, 5), completed=done_late).light == RED


def test_behind_schedule_formula():
    assert projects.behind_schedule(START, END, 50, date(2026, 6, 29))  # 165 days < 179
    assert not projects.behind_schedule(START, END, 60, date(2026, 6, 29))


def test_demo_projects_and_a_progress_report(demo_engine, tmp_path):
    with db.session_scope(demo_engine) as s:
        rows = projects.projects(s, SYSTEM, ANCHOR)
    assert len(rows) == 53 and sum(r["completed"] for r in rows) == 22
    assert {r["light"] for r in rows} >= {GREEN, RED}


def test_progress_reports_are_checked(sqlite_demo_url, tmp_path):
    from tests.apptest_helpers import copy_sqlite

    url = copy_sqlite(sqlite_demo_url, tmp_path / "p.db")
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        node = s.execute(select(ProjectNode, KeyProject.unit_id)
                         .join(KeyProject, KeyProject.id == ProjectNode.project_id)
                         .where(ProjectNode.percent_done.between(10, 85))).first()
        node_id, unit_id, before = node[0].item_id, node[1], node[0].percent_done
        other = s.scalar(select(Unit.id).where(Unit.id != unit_id))
    staff = CurrentUser(None, "s", "s", frozenset({"staff"}), unit_id=unit_id)
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        projects.update_node(s, CurrentUser(None, "o", "o", frozenset({"staff"}), unit_id=other),
                             node_id, 90, "")
    with db.session_scope(engine) as s, pytest.raises(projects.ProjectError, match="0–100"):
        projects.update_node(s, staff, node_id, 120, "")
    with db.session_scope(engine) as s, pytest.raises(projects.ProjectError, match="须说明原因"):
        projects.update_node(s, staff, node_id, before - 5, "")
    with db.session_scope(engine) as s:
        update = projects.update_node(s, staff, node_id, 100, "竣工验收完成")
        assert update.light in (GREEN, RED)
    with db.session_scope(engine) as s, pytest.raises(projects.ProjectError, match="已完成"):
        projects.update_node(s, staff, node_id, 100, "")


def test_thresholds_are_configurable(empty_engine):
    admin = CurrentUser(None, "admin", "管理员", frozenset({"admin"}))
    with db.session_scope(empty_engine) as s:
        assert projects.thresholds(s) == (10, 30)
        for bad in ((30, 10), (0, 30), (10, 101)):
            with pytest.raises(projects.ProjectError, match="红灯起点"):
                projects.set_thresholds(s, admin, *bad)
        with pytest.raises(PermissionDenied):
            projects.set_thresholds(s, CurrentUser(None, "l", "l", frozenset({"leader"})), 5, 20)
        projects.set_thresholds(s, admin, 5, 20)
    with db.session_scope(empty_engine) as s:
        assert projects.thresholds(s) == (5, 20)
