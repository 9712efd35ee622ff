"""权力运行: staff's forms for fees (登记收费) and enforcement decisions (登记处罚决定), on both
databases: who may write, what is refused (and then nothing is written), the audit chain, the
decision step's item, and the fee and penalty rules reporting what was recorded at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lib import audit, db, queries
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.domains.power import forms
from lib.domains.power.models import EnforcementCase, FeeCharge
from lib.lights import GREEN, RED
from lib.models import AuditLog, Flag, Unit
from tests.test_power import APPROVALS, MATTERS, _import, t

NOW = t("2026-11-20T12:00")


@pytest.fixture
def power(empty_engine):
    _import(empty_engine, "matters", MATTERS)  # M-GH free, M-DJ with a fee
    _import(empty_engine, "approvals", APPROVALS +
            "A1,M-GH,440823.ZRZY,2026-10-12T10:00,,2026-10-12T11:00,,,,,,\n"
            "A2,M-DJ,440823.ZRZY,2026-10-12T10:00,,2026-10-12T11:00,,,,,,\n")
    _import(empty_engine, "fee_items", "code,name,basis,standard,valid_from,valid_to\n"
            "DJ,不动产登记费（住宅）,发改价格规〔2016〕2559号,80,2017-01-01,\n"
            "JD,房屋安全鉴定费,湛价〔2009〕61号,300,2009-03-01,2025-12-31\n")
    _import(empty_engine, "discretion", "code,name,min_amount,max_amount,decision_days\n"
            "WZ,未取得营业执照从事经营活动,5000,50000,\n")
    _import(empty_engine, "enforcement",
            "external_id,violation,unit,filed_at,told_at,hearing_at,decided_at,penalty,reason,closed_at\n"
            "E1,WZ,440823.SCJG,2026-10-01T10:00,2026-11-02T10:00,,,,,\n"
            "E2,WZ,440823.SCJG,2026-10-01T10:00,,,,,,\n"
            "E3,WZ,440823.SCJG,2026-06-01T10:00,,,,,,\n"  # due end of 30 Aug: decided late
            "E4,WZ,440823.SCJG,2026-10-01T10:00,,,,,,\n"
            "E9,WZ,440823.ZRZY,2026-10-01T10:00,,,,,,\n")
    return empty_engine


def _staff(engine, code):
    with db.read_scope(engine) as s:
        unit = s.scalar(select(Unit.id).where(Unit.code == code))
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=unit)


INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))


def _enf_id(engine, ext):
    with db.read_scope(engine) as s:
        return s.scalar(select(EnforcementCase.id).where(EnforcementCase.external_id == ext))


def _counts(engine):
    with db.read_scope(engine) as s:
        return (s.scalar(select(func.count()).select_from(FeeCharge)),
                s.scalar(select(func.count()).select_from(AuditLog)))


def _lights(engine, at=NOW):
    with db.read_scope(engine) as s:
        return {e: (d, lt) for e, d, lt in queries.item_lights(s, user=SYSTEM, as_of=at)}


# -- 登记收费 ------------------------------------------------------------------------------------

def charge(engine, user, **kw):
    kw.setdefault("fee_code", "DJ")
    kw.setdefault("amount", "80")
    kw.setdefault("charged_at", t("2026-11-02T10:00"))
    kw.setdefault("payer", "某置业有限公司（住宅首次登记）")
    with db.session_scope(engine) as s:
        return forms.record_charge(s, user, now=NOW, **kw)


def test_a_charge_is_recorded_for_the_users_own_unit_audited_and_checked(power):
    own = _staff(power, "440823.ZRZY")
    saved = charge(power, own, quantity=1, case_ref="A2")
    assert saved.findings == [] and saved.external_id == "SF-440823.ZRZY-20261102-001"
    assert charge(power, own).external_id == "SF-440823.ZRZY-20261102-002"
    assert charge(power, own, receipt_no="PJ-0001").external_id == "PJ-0001"
    with db.read_scope(power) as s:
        c = s.scalar(select(FeeCharge).where(FeeCharge.external_id == saved.external_id))
        assert (c.fee_name, c.amount, c.case_ref, c.unit_id) == (
            "不动产登记费（住宅）", Decimal("80.00"), "A2", own.unit_id)
        row = s.scalar(select(AuditLog).where(AuditLog.action == "fee.charge",
                                              AuditLog.entity_id == saved.external_id))
        assert row.actor == "jingban" and "某置业有限公司" in row.after
        assert audit.verify(s).ok


def test_charges_saved_at_once_take_numbers_of_their_own(power):
    """Several staff of one unit save charges at the same moment (through the app's retrying
    write): every charge is saved once, each with its own number."""
    from concurrent.futures import ThreadPoolExecutor

    own = _staff(power, "440823.ZRZY")

    def save(_):
        return db.transact(lambda s: forms.record_charge(
            s, own, fee_code="DJ", amount="80", charged_at=t("2026-11-02T10:00"),
            payer="并发登记测试", now=NOW).external_id, power)

    with ThreadPoolExecutor(6) as pool:
        numbers = list(pool.map(save, range(12)))
    assert len(set(numbers)) == 12
    assert _counts(power)[0] == 12
    with db.read_scope(power) as s:
        assert audit.verify(s).ok


def test_a_charge_over_the_standard_or_of_an_abolished_item_is_saved_and_flagged_at_once(power):
    own = _staff(power, "440823.ZRZY")
    over = charge(power, own, quantity=2, amount="200")
    assert [(f.code, f.light, f.amount) for f in over.findings] == [("F-CB", RED, 40.0)]
    abolished = charge(power, own, fee_code="JD", amount="300")
    assert [f.code for f in abolished.findings] == ["F-SZ"]
    assert "已于 2025-12-31 后取消" in abolished.findings[0].reason
    free = charge(power, own, case_ref="A1", charged_at=t("2026-11-03T10:00"))
    assert [(f.code, f.light) for f in free.findings] == [("P-SF", RED)]  # A1's matter is free
    lights = _lights(power)
    assert lights[f"F.F-CB.{over.external_id}"][1] == RED
    assert lights[f"F.F-SZ.{abolished.external_id}"][1] == RED
    assert lights["F.P-SF.A1"][1] == RED
    with db.read_scope(power) as s:
        assert s.scalar(select(func.count()).select_from(Flag).where(Flag.status == "open")) == 3


def test_a_bad_charge_is_refused_in_chinese_and_writes_nothing(power):
    own = _staff(power, "440823.ZRZY")
    before = _counts(power)
    for kw, message in (
        ({"fee_code": "ZX"}, "请从收费目录中选择收费项目"),
        ({"amount": "0"}, "收费金额须大于 0"),
        ({"amount": "-5"}, "收费金额须大于 0"),
        ({"amount": "80.001"}, "最多保留两位小数"),
        ({"amount": "abc"}, "不是有效的数字"),
        ({"quantity": 0}, "数量须为"),
        ({"charged_at": t("2026-11-21T10:00")}, "收费时间晚于当前时间"),
        ({"payer": " "}, "须填写缴费人说明"),
        ({"payer": "张三 440802199001011234"}, "不能填写身份证号等个人信息"),
        ({"payer": "李四440802900101123"}, "不能填写身份证号等个人信息"),  # an old 15-digit card
        ({"payer": "王五 13812345678 代缴"}, "不能填写手机号等个人信息"),
        ({"quantity": 10001}, "数量须为 1～10000 的整数"),
        ({"case_ref": "A9"}, "审批办件“A9”不存在"),
        ({"case_ref": "A2", "charged_at": t("2026-10-12T09:00")}, "收费时间早于办件收件时间"),
    ):
        with pytest.raises(forms.FormError, match=message):
            charge(power, own, **kw)
    charge(power, own, receipt_no="PJ-1")
    with pytest.raises(forms.FormError, match="已登记过"):
        charge(power, own, receipt_no="PJ-1")
    other = _staff(power, "440823.SCJG")
    with pytest.raises(forms.FormError, match="不是本单位的办件"):
        charge(power, other, case_ref="A2")
    with pytest.raises(PermissionDenied):
        charge(power, INSPECTOR)
    count, logs = _counts(power)
    assert count == before[0] + 1  # only PJ-1


# -- 登记处罚决定 ---------------------------------------------------------------------------------

def decide(engine, user, ext, **kw):
    kw.setdefault("decided_at", t("2026-11-10T10:00"))
    kw.setdefault("penalty", "20000")
    with db.session_scope(engine) as s:
        return forms.record_penalty(s, user, _enf_id(engine, ext), now=NOW, **kw)


def test_a_decision_is_recorded_on_the_units_own_case_closes_its_step_and_is_audited(power):
    own = _staff(power, "440823.SCJG")
    with db.read_scope(power) as s:
        assert [c.external_id for c, _ in forms.open_cases(s, own)] == ["E3", "E1", "E2", "E4"]
    assert _lights(power)["E1"][1] == GREEN and _lights(power)["E1"][0] == t("2026-12-31T00:00")
    saved = decide(power, own, "E1", reason="依裁量基准，综合违法情节作出处罚",
                   closed_at=t("2026-11-15T10:00"))
    assert saved.findings == []
    with db.read_scope(power) as s:
        case = s.get(EnforcementCase, _enf_id(power, "E1"))
        assert (case.penalty, case.closed_at) == (Decimal("20000.00"), t("2026-11-15T10:00"))
        assert [c.external_id for c, _ in forms.open_cases(s, own)] == ["E3", "E2", "E4"]
        row = s.scalar(select(AuditLog).where(AuditLog.action == "enforcement.decide",
                                              AuditLog.entity_id == "E1"))
        assert row.actor == "jingban" and '"penalty": null' in row.before
        assert audit.verify(s).ok
    with pytest.raises(forms.FormError, match="已于 .* 作出处理决定"):
        decide(power, own, "E1")
    # The decision step's item is completed with the decision: late for E3 (due end of 30 Aug).
    decide(power, own, "E3", penalty="10000")
    lights = _lights(power)
    assert lights["E1"][1] == GREEN and lights["E3"][1] == RED


def test_penalties_outside_the_band_are_saved_with_their_reason_and_flagged(power):
    own = _staff(power, "440823.SCJG")
    high = decide(power, own, "E2", penalty="60000", reason="违法所得巨大，依法从重处罚")
    assert [(f.code, f.light, f.amount) for f in high.findings] == [("E-CL", RED, 10000.0)]
    edge = decide(power, own, "E4", penalty="48000", reason="拒不改正，依法从重处罚")
    assert edge.findings == []  # the reason given: 顶格处罚 is not flagged
    assert _lights(power)["F.E-CL.E2"][1] == RED


def test_a_bad_decision_is_refused_in_chinese_and_writes_nothing(power):
    own = _staff(power, "440823.SCJG")
    before = _counts(power)
    for kw, message in (
        ({"decided_at": t("2026-09-30T10:00")}, "决定时间早于立案时间"),
        ({"decided_at": t("2026-10-20T10:00")}, "决定时间早于告知时间"),
        ({"decided_at": t("2026-11-21T10:00")}, "决定时间晚于当前时间"),
        ({"penalty": "-1"}, "罚款金额不能为负数"),
        ({"penalty": "48000"}, "上端（从重处罚），须说明理由"),
        ({"penalty": "60000", "reason": "从重"}, "高于裁量基准上限，须说明理由"),
        ({"penalty": "0"}, "低于裁量基准下限"),
        ({"penalty": None}, "不予处罚须说明理由"),
        ({"closed_at": t("2026-11-09T10:00")}, "结案时间早于决定时间"),
    ):
        with pytest.raises(forms.FormError, match=message):
            decide(power, own, "E1", **kw)
    with pytest.raises(PermissionDenied):
        decide(power, _staff(power, "440823.ZRZY"), "E1")
    with pytest.raises(PermissionDenied):
        decide(power, INSPECTOR, "E1")
    assert _counts(power) == before
    with db.read_scope(power) as s:
        assert s.get(EnforcementCase, _enf_id(power, "E1")).decided_at is None
    # A decision not to penalize, with its reason, is no penalty out of the band.
    saved = decide(power, own, "E1", penalty=None, reason="违法行为轻微并及时改正，依法不予处罚")
    assert saved.findings == []


# -- what the page lists -------------------------------------------------------------------------

def test_fee_and_permit_rows_carry_the_rules_findings_urgent_first(power):
    from lib import flags
    from lib.domains.power import stats

    own = _staff(power, "440823.ZRZY")
    ok = charge(power, own, charged_at=t("2026-11-05T10:00"))
    over = charge(power, own, quantity=2, amount="200")
    _import(power, "plans", "code,name,county,far_max,density_max,green_min,height_max,"
            "changed_on,change_hearing\nP1,城南片区控规,440823,2.5,30,35,80,,\n")
    _import(power, "permits", "external_id,plan,unit,project,issued_at,far,density,green,height\n"
            "G1,P1,440823.ZRZY,城南花园,2026-06-18T10:00,3.0,28,35,70\n"
            "G2,P1,440823.ZRZY,城南广场,2026-07-18T10:00,2.4,28,36,70\n")
    with db.read_scope(power) as s:
        records = flags.evaluate(s, domain="POWER", as_of=NOW).records
        fees = stats.fee_rows(s, own, NOW, records)
        permits = stats.permit_rows(s, own, NOW, records)
        assert stats.fee_rows(s, _staff(power, "440823.SCJG"), NOW, records) == []
    assert [r["external_id"] for r in fees] == [over.external_id, ok.external_id]
    assert fees[0]["light"] == RED and fees[0]["over"] == Decimal("40.00")
    assert fees[0]["at_stake"] == 40.0 and "多收 40.00 元" in fees[0]["reason"]
    assert (fees[1]["light"], fees[1]["listed"], fees[1]["over"]) == ("green", "目录内", None)
    assert [r["external_id"] for r in permits] == ["G1", "G2"]
    assert permits[0]["light"] == RED and permits[0]["容积率"] == "3 / ≤2.5 ✗"
    assert permits[1]["light"] == "green" and permits[1]["绿地率(%)"] == "36 / ≥35"
