"""权力运行: approval steps against the law's time rules, hand-worked on the 2026 calendar
(National Day: 1–7 October off, Saturday 10 October a working day; Spring Festival: 15–23
February off, Saturday 14 and 28 February working days), on both databases; the rules of
enforcement, fees and planning; the import kinds; staff's forms."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from lib import audit, db, exchange, flags, queries
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.domains.power import approvals
from lib.domains.power.models import ApprovalCase
from lib.lights import GREEN, RED, YELLOW
from lib.models import AuditLog, Item, Unit
from lib.workdays import WorkCalendar

CAL = WorkCalendar()


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def midnight(day: str) -> datetime:
    return t(day + "T00:00")


def sch(**kw):
    kw.setdefault("external_id", "A")
    kw.setdefault("received_at", t("2026-09-28T10:00"))
    kw.setdefault("promised_days", 10)
    return approvals.schedule(CAL, **kw)


# -- the schedule, by hand ---------------------------------------------------------------------
# Received Monday 28 September 10:00. Working days after it: 29, 30 Sep, 8, 9, 10 (Saturday,
# 调休), 12, 13, 14, 15, 16, 19, 20, 21, 22, 23 Oct …

def test_correction_notice_due_5_working_days_after_receipt_across_national_day():
    s = sch(accepted_at=t("2026-09-29T09:00"))
    # 29, 30 Sep, 8, 9 Oct, Saturday 10 Oct: the fifth working day ends at 24:00 on 10 Oct.
    assert s.correction_due == midnight("2026-10-11")
    assert s.step("accept").completed_at == t("2026-09-29T09:00")


def test_decision_due_promised_working_days_from_acceptance():
    s = sch(accepted_at=t("2026-09-29T09:00"))
    # From 29 Sep: 30 Sep, 8, 9, 10, 12, 13, 14, 15, 16, 19 Oct: due at the end of 19 Oct.
    assert (s.clock_start, s.due) == (t("2026-09-29T09:00"), midnight("2026-10-20"))
    assert not s.deemed and s.extension == "none"


def test_spring_festival_correction_limit():
    s = sch(received_at=t("2026-02-13T15:00"))
    # Saturday 14 Feb works; 16–23 Feb off; then 24, 25, 26, 27 Feb: due at the end of 27 Feb.
    assert s.correction_due == midnight("2026-02-28")


def test_a_pause_moves_the_deadline_by_the_working_days_inside_it():
    four = sch(accepted_at=t("2026-09-29T09:00"),
               pauses=[(date(2026, 10, 13), date(2026, 10, 16))])  # Tue–Fri: 4 working days
    assert four.paused_days == 4 and four.due == midnight("2026-10-24")  # 20, 21, 22, 23 Oct
    weekend = sch(accepted_at=t("2026-09-29T09:00"),
                  pauses=[(date(2026, 10, 16), date(2026, 10, 19))])  # Fri, Sat, Sun, Mon: 2
    assert weekend.paused_days == 2 and weekend.due == midnight("2026-10-22")
    holiday = sch(accepted_at=t("2026-09-29T09:00"),
                  pauses=[(date(2026, 9, 30), date(2026, 10, 9))])  # 30 Sep, 8, 9 Oct: 3
    assert holiday.paused_days == 3 and holiday.due == midnight("2026-10-23")


def test_one_extension_counts_only_if_approved_before_the_deadline():
    base = dict(accepted_at=t("2026-09-29T09:00"), extension_days=10)
    counted = sch(**base, extension_approved_at=t("2026-10-19T16:00"))
    # Due end of 19 Oct; + 10 working days: 20–23, 26–30 Oct, 2 Nov.
    assert counted.extension == "counted" and counted.due == midnight("2026-11-03")
    late = sch(**base, extension_approved_at=t("2026-10-20T09:00"))
    assert late.extension == "too_late" and late.due == midnight("2026-10-20")
    # A pause first (13–16 Oct: due end of 23 Oct), then an extension approved on 21 Oct: in
    # time against the deadline then in force; + 10: 26–30 Oct, 2–6 Nov.
    both = sch(**base, extension_approved_at=t("2026-10-21T10:00"),
               pauses=[(date(2026, 10, 13), date(2026, 10, 16))])
    assert both.extension == "counted" and both.due == midnight("2026-11-07")


def test_late_notice_counts_as_accepted_on_the_day_of_receipt():
    s = sch(correction_notice_at=t("2026-10-12T09:00"), accepted_at=t("2026-10-14T09:00"))
    assert s.deemed and s.clock_start == t("2026-09-28T10:00")
    # From 28 Sep: 29, 30 Sep, 8, 9, 10, 12, 13, 14, 15, 16 Oct.
    assert s.due == midnight("2026-10-17")
    step = s.step("accept")
    assert step.completed_at == t("2026-10-12T09:00") and step.completed_at > step.deadline


def test_notice_in_time_starts_the_clock_at_acceptance():
    s = sch(correction_notice_at=t("2026-09-30T09:00"), accepted_at=t("2026-10-20T10:00"))
    # From 20 Oct: 21, 22, 23, 26, 27, 28, 29, 30 Oct, 2, 3 Nov.
    assert not s.deemed and s.due == midnight("2026-11-04")
    waiting = sch(correction_notice_at=t("2026-09-30T09:00"))
    assert waiting.clock_start is None and [x.code for x in waiting.steps] == ["accept"]


def test_refused_at_the_counter_has_no_decision_step_and_a_grant_a_delivery_step():
    refused = sch(decided_at=t("2026-09-29T11:00"), decision="refuse")
    assert refused.refused_at_acceptance and [x.code for x in refused.steps] == ["accept"]
    granted = sch(accepted_at=t("2026-09-29T09:00"), decided_at=t("2026-10-19T15:00"),
                  decision="grant", delivered_at=t("2026-11-03T10:00"))
    deliver = granted.step("deliver")
    # 10 working days from 19 Oct: 20–23, 26–30 Oct, 2 Nov: due at the end of 2 Nov.
    assert deliver.deadline == midnight("2026-11-03") and deliver.completed_at > deliver.deadline


# -- through the importer, on both databases ---------------------------------------------------

MATTERS = ("code,name,unit,legal_days,promised_days,has_fee\n"
           "M-GH,建设工程规划许可证核发,440823.ZRZY,20,10,0\n"
           "M-DJ,不动产首次登记,440823.ZRZY,30,10,1\n")
APPROVALS = ("external_id,matter,unit,received_at,correction_notice_at,accepted_at,extension_days,"
             "extension_approved_at,decided_at,decision,reason,delivered_at\n")
PAUSES = "external_id,kind,reason,start_date,end_date\n"


def _import(engine, kind, text, actor="测试导入"):
    with db.session_scope(engine) as s:
        return exchange.import_bytes(s, kind, text.encode(), filename=f"{kind}.csv", actor=actor)


@pytest.fixture
def cases(empty_engine):
    _import(empty_engine, "matters", MATTERS)
    _import(empty_engine, "approvals", APPROVALS +
            # on time, paused 13–16 Oct, decided 22 Oct (due end of 23 Oct), delivered in time
            "A1,M-GH,440823.ZRZY,2026-09-28T10:00,,2026-09-29T09:00,,,2026-10-22T10:00,grant,,"
            "2026-10-26T10:00\n"
            # the 受理 step late: notice on 12 Oct; deemed accepted on receipt; decided 16 Oct
            "A2,M-GH,440823.ZRZY,2026-09-28T10:00,2026-10-12T09:00,2026-10-14T09:00,,,"
            "2026-10-16T10:00,grant,,2026-10-19T10:00\n"
            # an extension approved too late: due end of 19 Oct, decided 28 Oct: red
            "A3,M-GH,440823.ZRZY,2026-09-28T10:00,,2026-09-29T09:00,10,2026-10-20T09:00,"
            "2026-10-28T10:00,grant,,2026-10-29T10:00\n"
            # refused at the counter without a reason
            "A4,M-GH,440823.ZRZY,2026-09-28T10:00,,,,,2026-09-29T11:00,refuse,,\n"
            # granted without acceptance, fee on a free matter (charge below)
            "A5,M-GH,440823.ZRZY,2026-09-28T10:00,2026-09-29T09:00,,,,2026-10-09T10:00,grant,,"
            "2026-10-12T10:00\n"
            # still open, nothing recorded
            "A6,M-DJ,440823.ZRZY,2026-10-19T09:00,,,,,,,,\n")
    _import(empty_engine, "pauses", PAUSES + "A1,expert,组织专家评审设计方案,2026-10-13,2026-10-16\n")
    return empty_engine


def _lights(engine, at):
    with db.read_scope(engine) as s:
        return {e: (d, lt) for e, d, lt in queries.item_lights(s, user=SYSTEM, as_of=at)}


def test_imported_steps_carry_the_computed_deadlines(cases):
    lights = _lights(cases, t("2026-11-20T12:00"))
    assert lights["A1"] == (midnight("2026-10-24"), GREEN)  # paused 4 working days
    assert lights["A1.SL"][1] == GREEN and lights["A1.SD"][1] == GREEN
    assert lights["A2.SL"] == (midnight("2026-10-11"), RED)  # 环节超时 although decided in time
    assert lights["A2"] == (midnight("2026-10-17"), GREEN)
    assert lights["A3"] == (midnight("2026-10-20"), RED)  # the late extension changed nothing
    assert "A4" not in lights and lights["A4.SL"][1] == GREEN
    assert lights["A6.SL"][1] == RED and lights["A6"][0] == midnight("2026-11-03")  # deemed
    # Lights with the clock: on 8 Oct A6 was not received; on 26 Oct (its last day to answer:
    # 20, 21, 22, 23, 26 Oct) its 受理 step was open and yellow.
    assert "A6.SL" not in _lights(cases, t("2026-10-08T12:00"))
    assert _lights(cases, t("2026-10-26T12:00"))["A6.SL"][1] == YELLOW


def test_python_and_sql_engines_agree_on_every_step(cases):
    from lib.lights import light_of

    at = t("2026-10-21T12:00")
    sql = _lights(cases, at)
    with db.read_scope(cases) as s:
        for item in s.scalars(select(Item)):
            lt = light_of(item, at, 20)
            if lt is not None:
                assert sql[item.external_id][1] == lt.light, item.external_id


def test_timing_and_verdict_rules_name_the_cases(cases):
    _import(cases, "fee_items", "code,name,basis,standard,valid_from,valid_to\n"
            "ZSGBF,不动产权属证书工本费,发改价格规〔2016〕2559号,10,2017-01-01,\n")
    _import(cases, "fees", "external_id,fee_code,fee_name,unit,charged_at,quantity,amount,case_ref\n"
            "SF-1,ZSGBF,不动产权属证书工本费,440823.ZRZY,2026-10-09T11:00,1,10,A5\n")
    with db.read_scope(cases) as s:
        ev = flags.evaluate(s, domain="POWER", as_of=t("2026-11-20T12:00"))
    got = {(r.code, r.subject): r for r in ev.records}
    assert got[("P-SL", "A2")].light == RED and "受理" in got[("P-SL", "A2")].reason
    assert got[("P-SL", "A6")].light == RED
    assert got[("P-JD", "A3")].light == RED and ("P-JD", "A1") not in got
    assert got[("P-LY", "A4")].light == YELLOW and "不予受理" in got[("P-LY", "A4")].reason
    assert got[("P-LZ", "A5")].light == YELLOW
    fee = got[("P-SF", "A5")]
    assert (fee.light, fee.amount) == (RED, 10.0)
    with db.session_scope(cases) as s:
        flags.refresh(s, domain="POWER", now=t("2026-11-20T12:00"))
    lights = _lights(cases, t("2026-11-20T12:00"))
    assert lights["F.P-SF.A5"][1] == RED and lights["F.P-LY.A4"][1] == YELLOW


def test_import_refuses_impossible_rows_with_row_numbers_and_writes_nothing(cases):
    bad = (APPROVALS +
           "B1,M-XX,440823.ZRZY,2026-10-12T10:00,,,,,,,,\n"
           "B2,M-GH,440823.SCJG,2026-10-12T10:00,,,,,,,,\n"
           "B3,M-GH,440823.ZRZY,2026-10-12T10:00,,2026-10-09T10:00,,,,,,\n"
           "B4,M-GH,440823.ZRZY,2026-10-12T10:00,,2026-10-13T10:00,12,2026-10-14T10:00,,,,\n"
           "B5,M-GH,440823.ZRZY,2026-10-12T10:00,,2026-10-13T10:00,,,2026-10-20T10:00,refuse,,"
           "2026-10-21T10:00\n")
    with pytest.raises(exchange.ImportFailed) as err, db.session_scope(cases) as s:
        exchange.import_bytes(s, "approvals", bad.encode(), filename="x.csv")
    text = "\n".join(err.value.errors)
    assert "第2行" in text and "未知审批事项" in text
    assert "第3行" in text and "不由单位" in text
    assert "第4行" in text and "受理时间早于收件时间" in text
    assert "第5行" in text and "超过事项" in text
    assert "第6行" in text and "只有准予许可" in text
    with pytest.raises(exchange.ImportFailed) as err, db.session_scope(cases) as s:
        exchange.import_bytes(s, "pauses", (PAUSES + "A1,tender,短,2026-10-15,2026-10-20\n"
                                            "ZZ,expert,组织专家评审,2026-10-15,2026-10-20\n").encode())
    text = "\n".join(err.value.errors)
    assert "须写明暂停理由" in text and "重叠" in text and "未知办件" in text
    with db.read_scope(cases) as s:
        assert s.scalar(select(ApprovalCase).where(ApprovalCase.external_id == "B1")) is None


def test_export_imports_back_unchanged(cases):
    for kind in ("matters", "approvals", "pauses"):
        with db.read_scope(cases) as s:
            header, rows = exchange.export_table(s, kind)
        csv_text = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
        result = _import(cases, kind, csv_text)
        assert result.created == result.updated == 0, kind


# -- staff's forms -------------------------------------------------------------------------------

def _staff(engine, code):
    with db.read_scope(engine) as s:
        unit = s.scalar(select(Unit).where(Unit.code == code))
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=unit.id)


def _case_id(engine, ext):
    with db.read_scope(engine) as s:
        return s.scalar(select(ApprovalCase.id).where(ApprovalCase.external_id == ext))


def test_staff_record_steps_on_their_own_unit_only_and_every_write_is_audited(cases):
    own, other = _staff(cases, "440823.ZRZY"), _staff(cases, "440823.SCJG")
    cid = _case_id(cases, "A6")
    with db.session_scope(cases) as s, pytest.raises(PermissionDenied):
        approvals.record_step(s, other, cid, "accept", at=t("2026-10-20T09:00"))
    with db.session_scope(cases) as s:
        approvals.record_step(s, own, cid, "accept", at=t("2026-10-20T09:00"))
    with db.session_scope(cases) as s, pytest.raises(approvals.ApprovalError, match="理由"):
        approvals.record_step(s, own, cid, "pause", kind="hearing", reason="", start=date(2026, 10, 26),
                              end=date(2026, 10, 30))
    with db.session_scope(cases) as s:
        approvals.record_step(s, own, cid, "pause", kind="hearing", reason="申请人要求听证",
                              start=date(2026, 10, 26), end=date(2026, 11, 6))
        approvals.record_step(s, own, cid, "resume", end=date(2026, 10, 28))
        sch = approvals.record_step(s, own, cid, "extend", days=5, reason="案情复杂需现场核查",
                                    at=t("2026-11-02T10:00"))
    # From 20 Oct: 10 working days end 3 Nov; paused 26–28 Oct (3): end 6 Nov; + 5: end 13 Nov.
    assert sch.paused_days == 3 and sch.extension == "counted" and sch.due == midnight("2026-11-14")
    with db.session_scope(cases) as s, pytest.raises(approvals.ApprovalError, match="延期过一次"):
        approvals.record_step(s, own, cid, "extend", days=5, reason="再次延期申请",
                              at=t("2026-11-03T10:00"))
    with db.session_scope(cases) as s, pytest.raises(approvals.ApprovalError, match="说明理由"):
        approvals.record_step(s, own, cid, "decide", decision="refuse", at=t("2026-11-10T10:00"))
    with db.session_scope(cases) as s:
        approvals.record_step(s, own, cid, "decide", decision="grant", at=t("2026-11-10T10:00"))
        approvals.record_step(s, own, cid, "deliver", at=t("2026-11-11T10:00"))
    lights = _lights(cases, t("2026-11-20T12:00"))
    assert lights["A6"] == (midnight("2026-11-14"), GREEN) and lights["A6.SD"][1] == GREEN
    with db.read_scope(cases) as s:
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.entity_id == "A6")
                                 .order_by(AuditLog.id)))
        assert audit.verify(s).ok
    assert [a for a in actions if a.startswith("approval.")] == [
        "approval.accept", "approval.pause", "approval.resume", "approval.extend",
        "approval.decide", "approval.deliver"]


# -- enforcement, fees, planning -----------------------------------------------------------------

def test_enforcement_fee_and_planning_rules(empty_engine):
    _import(empty_engine, "discretion", "code,name,min_amount,max_amount,decision_days\n"
            "WZ,未取得营业执照从事经营活动,5000,50000,\n")
    _import(empty_engine, "enforcement",
            "external_id,violation,unit,filed_at,told_at,hearing_at,decided_at,penalty,reason,closed_at\n"
            "E1,WZ,440823.SCJG,2026-06-01T10:00,,,2026-07-01T10:00,60000,,\n"  # above the band
            "E2,WZ,440823.SCJG,2026-06-01T10:00,,,2026-07-01T10:00,48000,,\n"  # at the edge, no reason
            "E3,WZ,440823.SCJG,2026-06-01T10:00,,,2026-07-01T10:00,48000,拒不改正从重处罚,\n"
            "E4,WZ,440823.SCJG,2026-06-01T10:00,,,,,,2026-07-15T10:00\n"  # closed, no decision
            "E5,WZ,440823.SCJG,2026-06-01T10:00,,,2026-09-01T10:00,20000,,\n")  # decided late
    _import(empty_engine, "fee_items", "code,name,basis,standard,valid_from,valid_to\n"
            "DJ,不动产登记费（住宅）,发改价格规〔2016〕2559号,80,2017-01-01,\n"
            "JD,房屋安全鉴定费,湛价〔2009〕61号,300,2009-03-01,2025-12-31\n")
    _import(empty_engine, "fees", "external_id,fee_code,fee_name,unit,charged_at,quantity,amount,case_ref\n"
            "C1,DJ,不动产登记费（住宅）,440823.ZRZY,2026-10-12T10:00,2,200,\n"  # 40 over
            "C2,JD,房屋安全鉴定费,440823.ZRZY,2026-03-02T10:00,1,300,\n"  # abolished
            "C3,ZX,咨询服务费,440823.ZRZY,2026-03-02T10:00,1,500,\n"  # in no catalogue
            "C4,DJ,不动产登记费（住宅）,440823.ZRZY,2026-10-12T10:00,1,80,\n")
    _import(empty_engine, "plans", "code,name,county,far_max,density_max,green_min,height_max,"
            "changed_on,change_hearing\n"
            "P1,城北片区控规,440823,2.5,30,35,80,2026-09-01,0\n"
            "P2,城南片区控规,440823,2.5,30,35,80,,\n")
    _import(empty_engine, "permits", "external_id,plan,unit,project,issued_at,far,density,green,height\n"
            "G1,P2,440823.ZRZY,城南花园,2026-06-18T10:00,3.0,28,35,70\n"  # beyond the plan
            "G2,P1,440823.ZRZY,城北花园,2026-06-18T10:00,2.4,28,35,70\n"  # plan changed later
            "G3,P2,440823.ZRZY,城南广场,2026-06-18T10:00,2.4,28,36,70\n")
    with db.read_scope(empty_engine) as s:
        ev = flags.evaluate(s, domain="POWER", as_of=t("2026-11-20T12:00"))
    got = {(r.code, r.subject): r for r in ev.records}
    assert got[("E-CL", "E1")].amount == 10000.0 and got[("E-CL", "E1")].light == RED
    assert got[("E-DG", "E2")].light == YELLOW and ("E-DG", "E3") not in got
    assert got[("E-WJ", "E4")].light == YELLOW
    # Filed 1 Jun 10:00 + 90 days: due at the end of 30 Aug; decided 1 Sep: red.
    assert got[("E-JD", "E5")].light == RED and ("E-JD", "E1") not in got
    assert got[("F-CB", "C1")].amount == 40.0 and ("F-CB", "C4") not in got
    assert got[("F-SZ", "C2")].amount == 300.0 and "已于 2025-12-31 后取消" in got[("F-SZ", "C2")].reason
    assert got[("F-SZ", "C3")].light == RED and ("F-SZ", "C4") not in got
    assert "容积率 3" in got[("G-TP", "G1")].reason and ("G-TP", "G3") not in got
    assert got[("G-XG", "G2")].light == RED and ("G-XG", "G1") not in got


def test_the_command_line_imports_cases_and_lists_flags(empty_engine, monkeypatch, capsys, tmp_path):
    import csv
    import io

    from lib.__main__ import main

    monkeypatch.setenv("DATABASE_URL", empty_engine.url.render_as_string(hide_password=False))
    files = {"matters": MATTERS,
             "approvals": APPROVALS + "A2,M-GH,440823.ZRZY,2026-09-28T10:00,2026-10-12T09:00,"
                                      "2026-10-14T09:00,,,2026-10-16T10:00,grant,,2026-10-19T10:00\n"
                                      "A4,M-GH,440823.ZRZY,2026-09-28T10:00,,,,,2026-09-29T11:00,"
                                      "refuse,,\n",
             "pauses": PAUSES + "A2,hearing,申请人要求听证,2026-10-13,2026-10-14\n"}
    for kind, body in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(body, encoding="utf-8")
        assert main(["import", kind, str(path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["catalog", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"kind": "matter", "code": "M-GH", "name": "建设工程规划许可证核发",
            "parent": "440823.ZRZY"} in rows
    assert main(["flags", "--domain", "POWER", "--as-of", "2026-11-20T12:00", "--format", "csv"]) == 0
    out = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert out[0] == ["domain", "subject", "flag", "light", "amount", "reason"]
    assert ["POWER", "A2", "P-SL", "red"] in [r[:4] for r in out]
    assert ["POWER", "A4", "P-LY", "yellow"] in [r[:4] for r in out]
    assert main(["lights", "--as-of", "2026-11-20T12:00"]) == 0
    lights = {r[0]: r[1:] for r in csv.reader(io.StringIO(capsys.readouterr().out))}
    # Deemed accepted on 28 Sep, paused 13–14 Oct (2 working days): 16 Oct + 2 = end of 20 Oct.
    assert lights["A2"] == ["2026-10-21T00:00:00+08:00", "green"]


def test_a_refusal_at_the_counter_removes_the_provisional_decision_step(cases):
    # A6 (received 19 Oct, nothing recorded) has a provisional decision step from receipt.
    assert "A6" in _lights(cases, t("2026-10-20T12:00"))
    with db.session_scope(cases) as s:
        sch = approvals.record_step(s, _staff(cases, "440823.ZRZY"), _case_id(cases, "A6"),
                                    "decide", decision="refuse", reason="不属于本机关职权范围",
                                    at=t("2026-10-21T10:00"))
    assert sch.refused_at_acceptance and [x.code for x in sch.steps] == ["accept"]
    lights = _lights(cases, t("2026-11-20T12:00"))
    assert "A6" not in lights and lights["A6.SL"][1] == GREEN
    with db.read_scope(cases) as s:
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "item.delete",
                                                  AuditLog.entity_id == "A6")) is not None


def test_a_cases_schedule_is_kept_by_everything_it_is_computed_from():
    """The page's schedules are kept by their inputs: the same inputs give the same schedule
    without computing it again; a field recorded, a pause or another calendar gives a new one,
    equal to `schedule`'s."""
    from lib.domains.power import stats

    recv = datetime(2026, 9, 1, 10, 0, tzinfo=TZ)
    times = {k: None for k in stats.SCHEDULE_FIELDS}
    args = ("T-1", recv, tuple(times.values()), 20, 5, 10, ())
    first = stats._schedule(CAL, *args)
    assert stats._schedule(CAL, *args) is first
    accepted = times | {"accepted_at": datetime(2026, 9, 2, 9, 0, tzinfo=TZ)}
    paused = ((date(2026, 9, 7), date(2026, 9, 11)),)
    holiday = WorkCalendar({date(2026, 9, 8): False})
    for cal, t, pauses in ((CAL, accepted, ()), (CAL, accepted, paused), (holiday, accepted, ())):
        got = stats._schedule(cal, "T-1", recv, tuple(t.values()), 20, 5, 10, pauses)
        want = approvals.schedule(cal, external_id="T-1", received_at=recv, pauses=list(pauses),
                                  promised_days=20, correction_days=5, delivery_days=10, **t)
        assert got is not first and got == want
    assert stats._schedule(CAL, "T-1", recv, tuple(accepted.values()), 20, 5, 10, paused).due > \
        stats._schedule(CAL, "T-1", recv, tuple(accepted.values()), 20, 5, 10, ()).due


def test_a_window_leaves_out_only_the_cases_received_and_decided_before_it(demo_engine):
    """The window's rule (received in it, or not decided before it) is applied in SQL: the
    cases shown are those of the whole list that the rule keeps, in the same order."""
    from datetime import timedelta

    from lib.domains.power import stats
    from tests.conftest import ANCHOR

    now = ANCHOR
    with db.session_scope(demo_engine, write=False) as s:
        every = stats.cases_at(s, SYSTEM, now)
        for days in (7, 30, 90):
            start = now - timedelta(days=days)
            want = [c.id for c in every
                    if not (c.schedule.step("accept").received_at < start and c.values["decided_at"] is not None
                            and c.values["decided_at"] < start)]
            got = stats.cases_at(s, SYSTEM, now, window_days=days)
            assert [c.id for c in got] == want and 0 < len(got) < len(every), days


def test_a_case_at_a_past_moment_is_its_record_cut_there(demo_engine):
    """`stats.cases_at` as of several moments: the cases received by then, each with the
    record as known at that moment (a time after it not yet recorded, nor the extension, the
    decision and its reason that came with it), its schedule from those values and its pauses
    started by then, and its steps lit by the one light rule — read from the ORM objects here,
    one case at a time."""
    from datetime import timedelta

    from lib.domains.power import stats
    from lib.domains.power.models import ApprovalPause, Matter
    from lib.lights import clock_light
    from lib.models import Subsystem
    from lib.workdays import load_calendar
    from tests.conftest import ANCHOR

    with db.read_scope(demo_engine) as s:
        cal = load_calendar(s)
        yellow = s.scalar(select(Subsystem.yellow_pct).where(Subsystem.code == "APPROVAL"))
        cases = {c.id: c for c in s.scalars(select(ApprovalCase))}
        matters = {m.id: m for m in s.scalars(select(Matter))}
        pauses: dict[int, list] = {}
        for p in s.scalars(select(ApprovalPause).order_by(ApprovalPause.start_date)):
            pauses.setdefault(p.case_id, []).append(p)
        assert pauses, "the demo has no pause to cut"
        for days in (300, 120, 45, 10, 0):
            when = ANCHOR - timedelta(days=days, hours=5)
            today = approvals.local_day(when)
            got = {c.id: c for c in stats.cases_at(s, SYSTEM, when)}
            assert set(got) == {i for i, c in cases.items() if c.received_at <= when}, days
            cut_any = 0
            for i, view in got.items():
                c, m = cases[i], matters[cases[i].matter_id]
                v = {k: (getattr(c, k) if getattr(c, k) is not None and getattr(c, k) <= when
                         else None) for k in stats.TIME_FIELDS}
                v["extension_days"] = c.extension_days if v["extension_approved_at"] else None
                v["decision"] = c.decision if v["decided_at"] else None
                v["reason"] = c.reason if v["decided_at"] else None
                cut_any += v["decided_at"] is None and c.decided_at is not None
                assert view.values == v, (days, c.external_id)
                ps = [(p.start_date, min(p.end_date, max(today, p.start_date)))
                      for p in pauses.get(i, []) if p.start_date <= today]
                want = approvals.schedule(
                    cal, external_id=c.external_id, received_at=c.received_at, pauses=ps,
                    promised_days=m.promised_days, correction_days=m.correction_days,
                    delivery_days=m.delivery_days,
                    **{k: v[k] for k in stats.SCHEDULE_FIELDS})
                assert view.schedule == want and [(a, b) for _, _, a, b in view.pauses] == ps
                assert view.lights == {
                    st.code: lt for st in want.steps
                    if (lt := clock_light(st.received_at, st.deadline, st.completed_at, when,
                                          yellow)) is not None}, (days, c.external_id)
            assert days == 0 or cut_any, f"no decision after the moment {days} days back"


def test_the_funnel_counts_each_step_and_its_median_working_days(demo_engine):
    """`stats.funnel` over the demo's cases: how many reached each step, and the median of the
    working days each took, counted between the local days of its two moments."""
    import statistics

    from lib.domains.power import stats
    from lib.workdays import load_calendar
    from tests.conftest import ANCHOR

    with db.read_scope(demo_engine) as s:
        cases = stats.cases_at(s, SYSTEM, ANCHOR)
        cal = load_calendar(s)
        got = {r["环节"]: r for r in stats.funnel(s, cases)}

    def wd(a, b):
        return cal.working_days_between(a.astimezone(TZ).date(), b.astimezone(TZ).date())

    def med(xs):
        return round(statistics.median(xs), 1)

    v = [c.values for c in cases]
    accept = [wd(c.schedule.step("accept").received_at, c.values["accepted_at"])
              for c in cases if c.values["accepted_at"] is not None]
    decide = [wd(c.schedule.clock_start, c.values["decided_at"]) for c in cases
              if c.values["decided_at"] is not None and c.schedule.clock_start is not None]
    deliver = [wd(x["decided_at"], x["delivered_at"]) for x in v if x["delivered_at"] is not None]
    assert got["收件"]["办件数"] == len(cases) > 100
    assert got["受理"]["中位用时（工作日）"] == med(accept)
    assert got["决定"]["办件数"] == sum(x["decided_at"] is not None for x in v)
    assert got["决定"]["中位用时（工作日）"] == med(decide)
    assert got["送达"]["办件数"] == len(deliver) > 0
    assert got["送达"]["中位用时（工作日）"] == med(deliver)
