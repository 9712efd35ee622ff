"""The 权力运行 page through AppTest: every role that may opens it without an error; staff
record a decision on their own unit's case through the form, audited; a refusal without a reason
is refused by the form; staff record a fee charged (over the standard: saved and flagged) and an
enforcement decision (at the top of the band: refused without a reason) through their forms."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lib import db
from lib.clock import now_utc
from lib.domains.power.models import ApprovalCase, DiscretionStandard, EnforcementCase, FeeCharge
from lib.models import AuditLog, Flag, Item, Unit
from tests.apptest_helpers import app, copy_sqlite, errors, login


@pytest.fixture
def url(sqlite_demo_url, tmp_path, monkeypatch):
    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


TABS = ["环节漏斗与超时", "事前 · 事中 · 事后", "规则发现（按单位）", "行政执法", "收费与规划",
        "办件时间线与登记"]


def _open(role, tab=None):
    """The page as `role` sees it, on the given tab (only the selected tab runs)."""
    at = login(app(), role)
    at.switch_page("pages/power.py")
    if tab is not None:
        at.session_state["power_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def _show(at, tab):
    at.session_state["power_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("role", ["leader", "inspector", "reviewer"])
def test_the_page_opens_with_its_panels(url, role):
    at = _open(role)
    assert not errors(at)
    assert any("审批环节漏斗" in m.value for m in at.markdown)
    # The other tabs did not run: no rule's finding, no fee, no case form.
    assert not any("各单位的规则发现" in m.value or "对照收费目录" in m.value for m in at.markdown)
    assert len(at.dataframe) >= 3  # lights by unit, funnel, overdue steps
    seen = {}
    for tab in TABS:
        _show(at, tab)
        assert not errors(at), (tab, errors(at))
        seen[tab] = [m.value for m in at.markdown]
        assert not [b for b in at.button if b.label in ("提交", "登记收费", "登记处罚决定")]  # no forms
    assert not any("审批环节漏斗" in m for m in seen["规则发现（按单位）"])
    assert any("各单位的规则发现" in m for m in seen["规则发现（按单位）"])
    assert any("对照收费目录" in m for m in seen["收费与规划"])
    assert any("规划许可" in m for m in seen["收费与规划"])
    assert at.selectbox(key="power_case").options


def test_a_choice_made_in_a_tab_is_kept_while_another_tab_is_open(url):
    """Only the open tab runs; the case chosen on the timeline and the stage chosen are still
    chosen after the reader has looked at other tabs, with no warning about the widgets."""
    at = _open("leader", "办件时间线与登记")
    options = at.selectbox(key="power_case").options
    assert len(options) > 3
    second = at.selectbox(key="power_case").options[2]
    at.selectbox(key="power_case").select(second).run()
    chosen = at.selectbox(key="power_case").value
    _show(at, "事前 · 事中 · 事后")
    assert at.button_group(key="power_stage").value == "during"  # the first value
    at.button_group(key="power_stage").set_value("after").run()
    for tab in ("环节漏斗与超时", "办件时间线与登记"):
        _show(at, tab)
    assert at.selectbox(key="power_case").value == chosen
    _show(at, "事前 · 事中 · 事后")
    assert at.button_group(key="power_stage").value == "after"
    assert any("已作出决定的办件" in c.value for c in at.caption)
    assert not [w.value for w in at.warning if "Session State" in w.value]
    assert not errors(at)


def _open_case(url):
    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        return s.scalar(select(ApprovalCase).where(
            ApprovalCase.unit_id == unit, ApprovalCase.decided_at.is_(None),
            ApprovalCase.accepted_at.is_not(None)).order_by(ApprovalCase.id))


def test_staff_decide_their_own_case_through_the_form(url):
    case = _open_case(url)
    at = _open("staff", "办件时间线与登记")
    assert not errors(at)
    at.selectbox(key="power_case").set_value(case.id).run()
    at.selectbox(key="power_action").set_value("decide").run()
    at.radio(key="power_decision").set_value("refuse")
    next(b for b in at.button if b.label == "提交").click().run()
    assert any("不予许可须说明理由" in e for e in errors(at)), (errors(at), [x.value for x in at.success],
                                                          at.selectbox(key="power_action").value)
    at.radio(key="power_decision").set_value("grant")
    next(b for b in at.button if b.label == "提交").click().run()
    assert not errors(at), errors(at)
    assert any("已登记：作出决定" in s.value for s in at.success)
    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        saved = s.get(ApprovalCase, case.id)
        assert saved.decision == "grant" and saved.decided_at is not None
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "approval.decide",
                                                     AuditLog.entity_id == case.external_id)) == "staff"


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_staff_record_a_fee_charge_through_the_form_and_the_rule_reports_it(url):
    at = _open("staff", "收费与规划")
    assert not errors(at)
    assert any("登记收费" in m.value for m in at.markdown)
    at.selectbox(key="power_fee_item").set_value("BDCDJ")
    at.number_input(key="power_fee_qty").set_value(2)
    at.number_input(key="power_fee_amount").set_value(0.0)
    at.text_input(key="power_fee_payer").input("某置业有限公司（住宅首次登记）")
    _button(at, "登记收费").click().run()
    assert any("未保存：" in e and "收费金额须大于 0" in e for e in errors(at)), errors(at)
    at.number_input(key="power_fee_amount").set_value(200.0)
    _button(at, "登记收费").click().run()
    assert not errors(at), errors(at)
    assert any("已登记收费" in s.value for s in at.success)
    assert any("F-CB" in w.value and "多收 40.00 元" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        staff_unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        charge = s.scalar(select(FeeCharge).where(FeeCharge.unit_id == staff_unit)
                          .order_by(FeeCharge.id.desc()).limit(1))
        assert (charge.fee_code, charge.quantity, charge.amount) == ("BDCDJ", 2, Decimal("200.00"))
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "fee.charge",
                                                     AuditLog.entity_id == charge.external_id)) == "staff"
        assert s.scalar(select(Flag.status).where(Flag.code == "F-CB",
                                                  Flag.subject == charge.external_id)) == "open"


def test_staff_record_a_penalty_decision_through_the_form(url):
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:  # an open case of the staff account's unit
        unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        std = s.scalar(select(DiscretionStandard).where(DiscretionStandard.code == "SCJG-WZJY"))
        case = EnforcementCase(external_id="ZF-TEST-000001", standard_id=std.id, unit_id=unit,
                               filed_at=now_utc() - timedelta(days=30))
        s.add(case)
        s.flush()
        case_id = case.id
    at = _open("staff", "行政执法")
    assert not errors(at)
    at.selectbox(key="power_enf_case").set_value(case_id).run()
    at.number_input(key="power_penalty_amount").set_value(50000.0)
    _button(at, "登记处罚决定").click().run()
    assert any("未保存：" in e and "上端（从重处罚），须说明理由" in e for e in errors(at)), errors(at)
    with db.read_scope(engine) as s:
        assert s.get(EnforcementCase, case_id).decided_at is None
    at.text_area(key="power_penalty_reason").input("拒不改正，违法情节严重，依法从重处罚")
    at.checkbox(key="power_penalty_close").check()
    _button(at, "登记处罚决定").click().run()
    assert not errors(at), errors(at)
    assert any("已登记处罚决定：ZF-TEST-000001" in s.value for s in at.success)
    with db.read_scope(engine) as s:
        saved = s.get(EnforcementCase, case_id)
        assert saved.penalty == Decimal("50000.00") and saved.reason.startswith("拒不改正")
        assert saved.decided_at is not None and saved.closed_at is not None
        item = s.scalar(select(Item).where(Item.external_id == "ZF-TEST-000001"))
        assert item.completed_at == saved.decided_at
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "enforcement.decide",
                                                     AuditLog.entity_id == "ZF-TEST-000001")) == "staff"
