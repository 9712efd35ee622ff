"""信息公开 (lib.domains.disclosure): village obligations by period lit on time / late / missing,
villagers' questions under forced response, 政府信息公开 requests with their statutory clock
(hand-worked on the 2026 calendar), duties, the `disclosures` import, the flags, the demo."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import select

from lib import db, exchange, flags
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.catalog import catalog_rows
from lib.config import TZ
from lib.domains.disclosure import queries as dq
from lib.domains.disclosure import service as ds
from lib.domains.disclosure.models import Disclosure, InfoRequest
from lib.lights import GREEN, RED, YELLOW, light_of
from lib.models import Item, Region, Unit


def t(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def _light(s, item_id: int, at: datetime) -> str:
    item = s.get(Item, item_id)
    return light_of(item, at, item.subsystem.yellow_pct).light


@pytest.fixture
def engine(empty_engine):
    """Two villages of 遂城镇 (遂溪县) and one of 黄略镇, and the towns as units."""
    with db.session_scope(empty_engine) as s:
        towns = {r.name: r for r in s.scalars(select(Region).where(Region.level == "town"))}
        for code, name, town in (("440823100201", "东坡村", "遂城镇"),
                                 ("440823100202", "西岭村", "遂城镇"),
                                 ("440823101201", "南塘村", "黄略镇")):
            s.add(Region(code=code, name=name, level="village", parent_id=towns[town].id))
        s.flush()
        ds.ensure_town_units(s)
    return empty_engine


def _village(s, code: str) -> Region:
    return s.scalar(select(Region).where(Region.code == code))


def _town_staff(s, town_name: str) -> CurrentUser:
    unit = s.scalar(select(Unit).where(Unit.name == town_name))
    return CurrentUser(None, "cunwu", "村务", frozenset({"staff"}), unit.id, unit.name)


# -- periods and due days ------------------------------------------------------------------------

def test_periods_and_due_days_by_hand():
    q3 = ds.parse_period("2026-q3")
    assert (q3.code, q3.start.isoformat(), q3.end.isoformat()) == ("2026-Q3", "2026-07-01", "2026-10-01")
    assert ds.due_on(q3).isoformat() == "2026-10-10"
    assert ds.due_on(ds.parse_period("2026-H1")).isoformat() == "2026-07-10"
    assert ds.due_on(ds.parse_period("2026-12")).isoformat() == "2027-01-10"
    received, deadline, limit = ds.obligation_window(q3)
    # The clock starts on the period's last day; it runs out at 24:00 of 10 October.
    assert received == t(2026, 9, 30, 23, 59) and deadline == t(2026, 10, 11, 0, 0)
    assert str(limit) == "10d"
    # A major matter decided on 14 September: published within 5 days, by 24:00 of the 19th.
    _, deadline, limit = ds.obligation_window(ds.parse_period("2026-09-14"))
    assert deadline == t(2026, 9, 20) and str(limit) == "5d"
    assert [p.code for p in ds.periods_between(t(2026, 1, 1).date(), t(2026, 11, 20).date(), "Q")] \
        == ["2026-Q1", "2026-Q2", "2026-Q3"]
    for bad in ("2026-Q5", "2026-13", "26-09", "2026-02-30", "", "<script>"):
        with pytest.raises(ds.DisclosureError):
            ds.parse_period(bad)
    # A monthly statement fulfils its quarter; a quarter's statement covers its months.
    assert ds.matches(q3, ds.parse_period("2026-09")) and ds.matches(ds.parse_period("2026-09"), q3)
    assert not ds.matches(q3, ds.parse_period("2026-10"))


# -- village obligations ---------------------------------------------------------------------------

def test_obligations_on_time_late_and_missing(engine):
    as_of = t(2026, 10, 15, 12)
    with db.session_scope(engine) as s:
        s.merge(ds.VillageProfile(village_id=_village(s, "440823100201").id, finance_monthly=True))
        s.flush()
        ids = [_village(s, c).id for c in ("440823100201", "440823100202", "440823101201")]
        s.add(ds.AppSetting(key="disclosure.start", value="2026-07-01"))
        s.flush()
        created = ds.ensure_obligations(s, as_of)
        # 东坡村: 村务 Q3 + 财务 Jul, Aug, Sep; the others: 村务 Q3 + 财务 Q3 (党务 H2 not ended).
        assert created == 4 + 2 + 2
        assert ds.ensure_obligations(s, as_of) == 0  # idempotent
        staff = _town_staff(s, "遂溪县遂城镇人民政府")
        ds.publish(s, staff, village_id=ids[0], category="village", period="2026-Q3",
                   title="2026年第三季度村务公开", body="村道硬化", now=t(2026, 10, 9, 16))
        ds.publish(s, staff, village_id=ids[1], category="village", period="2026-09",
                   title="九月村务", now=t(2026, 10, 12, 9))
        ext = ds.obligation_external_id
        items = {e: s.scalar(select(Item.id).where(Item.external_id == e)) for e in (
            ext("440823100201", "village", "2026-Q3"), ext("440823100202", "village", "2026-Q3"),
            ext("440823101201", "village", "2026-Q3"), ext("440823100201", "finance", "2026-09"))}
    with db.read_scope(engine) as s:
        lights = {e: _light(s, i, as_of) for e, i in items.items()}
        assert lights == {
            "VD.440823100201.village.2026-Q3": GREEN,  # on 9 October: on time
            "VD.440823100202.village.2026-Q3": RED,  # on 12 October: late (a monthly one counts)
            "VD.440823101201.village.2026-Q3": RED,  # nothing: missing
            "VD.440823100201.finance.2026-09": RED,  # nothing: missing
        }
        # On 9 October (the last day but one) the missing ones were yellow, not yet red.
        assert _light(s, items["VD.440823101201.village.2026-Q3"], t(2026, 10, 9, 12)) == YELLOW
        counts = dq.village_counts(s, as_of)
        row = counts.set_index("village_code").loc["440823100202"]
        assert (row["due"], row["on_time"], row["late"], row["missing"]) == (2, 0, 1, 1)
        towns = dq.summarize(counts, "town").set_index("town")
        assert towns.loc["遂城镇", "due"] == 6 and towns.loc["遂城镇", "on_time"] == 1
        county = dq.summarize(counts, "county").set_index("adcode").loc["440823"]
        assert county["coverage"] == pytest.approx(2 / 8)
        ev = flags.evaluate(s, domain="DISCLOSURE", as_of=as_of, codes=["DIS-T01"])
    by_subject = {r.subject: r for r in ev.records}
    assert set(by_subject) == {
        "440823100202.village.2026-Q3", "440823101201.village.2026-Q3",
        "440823100201.finance.2026-07", "440823100201.finance.2026-08",
        "440823100201.finance.2026-09", "440823100202.finance.2026-Q3",
        "440823101201.finance.2026-Q3"}
    late = by_subject["440823100202.village.2026-Q3"]
    # The obligation's clock starts at its period's end: named so in the why, not 受理时间.
    assert "period_end" in late.inputs and "received_at" not in late.inputs
    assert late.light == RED and "迟于期限 1天9小时公开" in late.reason and "2026-10-10" in late.reason
    missing = by_subject["440823101201.village.2026-Q3"]
    assert "逾期未公开" in missing.reason and "已逾期 4天12小时）" in missing.reason
    row = late.csv_row()
    assert row[:4] == ["DISCLOSURE", "440823100202.village.2026-Q3", "DIS-T01", "red"]


def test_only_the_villages_town_publishes_and_bad_input_is_refused(engine):
    with db.session_scope(engine) as s:
        v = _village(s, "440823100201").id
        other = _town_staff(s, "遂溪县黄略镇人民政府")
        with pytest.raises(PermissionDenied):
            ds.publish(s, other, village_id=v, category="village", period="2026-Q3",
                       title="村务公开", now=t(2026, 10, 9))
        staff = _town_staff(s, "遂溪县遂城镇人民政府")
        cases = [
            dict(category="village", period="2026-Q3", title="x"),  # title too short
            dict(category="village", period="2026-09-14", title="村务公开"),  # a day is for majors
            dict(category="major", period="2026-Q3", title="重大事项"),  # majors need a day
            dict(category="village", period="2026-11", title="村务公开"),  # before its period
            dict(category="party", period="2026-Q3", title="党务", finance=[{"item": "a",
                                                                          "income": "1"}]),
            dict(category="finance", period="2026-Q3", title="财务",
                 finance=[{"item": "村道", "spending": "-5"}]),
            dict(category="finance", period="2026-Q3", title="财务",
                 finance=[{"item": "", "spending": "5"}]),
            dict(category="secret", period="2026-Q3", title="秘密"),
        ]
        for case in cases:
            with pytest.raises(ds.DisclosureError):
                ds.publish(s, staff, village_id=v, now=t(2026, 10, 9), **case)
        d = ds.publish(s, staff, village_id=v, category="finance", period="2026-Q3",
                       title="<script>alert(1)</script>财务公开", body="<b>粗体</b>",
                       finance=[{"item": "村道维修", "income": "", "spending": "12,000.5"}],
                       now=t(2026, 10, 9))
        assert d.title.startswith("<script>")  # kept as written; the pages escape it
        assert dq.finance_table(d).iloc[0].tolist() == ["村道维修", "0.00", "12000.50"]
        assert d.settled == ["2026年第3季度"]  # the quarter ended: its obligation settled
        with pytest.raises(ds.DisclosureError, match="请勿重复发布"):  # the same, once more
            ds.publish(s, staff, village_id=v, category="finance", period="2026-Q3",
                       title="<script>alert(1)</script>财务公开", body="<b>粗体</b>",
                       finance=[{"item": "村道维修", "income": "", "spending": "12,000.5"}],
                       now=t(2026, 10, 9, 1))
        corrected = ds.publish(s, staff, village_id=v, category="finance", period="2026-Q3",
                               title="财务公开（更正）", body="更正后的明细", now=t(2026, 10, 9, 2))
        early = ds.publish(s, staff, village_id=v, category="village", period="2026-Q4",
                           title="村务公开（第四季度，期中）", now=t(2026, 10, 9, 3))
        assert corrected.settled == ["2026年第3季度"] and early.settled == []
    from lib.ui import esc

    assert "\\<script\\>" in esc(d.title) and "<script>" not in esc(d.title)


def test_views_counted_for_the_disclosure_and_the_village_month(engine):
    with db.session_scope(engine) as s:
        v = _village(s, "440823100201").id
        d = ds.publish(s, SYSTEM, village_id=v, category="party", period="2026-H1",
                       title="上半年党务公开", now=t(2026, 7, 5))
        assert ds.record_view(s, d.id, now=t(2026, 7, 6)) == 1
        assert ds.record_view(s, d.id, now=t(2026, 8, 1)) == 2
        counts = dq.village_counts(s, t(2026, 8, 2))
        assert counts.set_index("village_code").loc["440823100201", "views"] == 2


# -- villagers' questions -----------------------------------------------------------------------------

def test_a_question_unanswered_in_10_days_is_red(engine):
    with db.session_scope(engine) as s:
        v = _village(s, "440823100201").id
        d = ds.publish(s, SYSTEM, village_id=v, category="village", period="2026-09",
                       title="九月村务公开", now=t(2026, 10, 8))
        q = ds.ask(s, d.id, "<script>alert('x')</script>请问村道在哪里？", source="1.2.3.4",
                   now=t(2026, 10, 20, 10))
        item = s.get(Item, q.item_id)
        assert item.deadline == t(2026, 10, 31)  # 24:00 of the 10th day after 20 October
        assert _light(s, q.item_id, t(2026, 10, 30, 12)) == YELLOW
        assert _light(s, q.item_id, t(2026, 11, 1)) == RED
        for bad in ("短", "x" * 1001):
            with pytest.raises(ds.DisclosureError):
                ds.ask(s, d.id, bad, now=t(2026, 10, 20, 11))
        for i in range(4):
            ds.ask(s, d.id, f"第 {i} 个问题是什么", source="1.2.3.4", now=t(2026, 10, 20, 10, 30))
        with pytest.raises(ds.DisclosureError, match="频繁"):
            ds.ask(s, d.id, "第六个问题是什么", source="1.2.3.4", now=t(2026, 10, 20, 10, 45))
        with pytest.raises(PermissionDenied):
            ds.answer_question(s, _town_staff(s, "遂溪县黄略镇人民政府"), q.id, "答复如下内容")
        ev = flags.evaluate(s, domain="DISCLOSURE", as_of=t(2026, 11, 1), codes=["DIS-T02"])
        reasons = [r.reason for r in ev.records if r.subject == item.external_id]
        assert reasons and "逾期未答复 1天（" in reasons[0], reasons
        staff = _town_staff(s, "遂溪县遂城镇人民政府")
        ds.answer_question(s, staff, q.id, "村道位于村东，已公开明细。", now=t(2026, 10, 25))
        assert _light(s, q.item_id, t(2026, 11, 1)) == GREEN
        with pytest.raises(ds.DisclosureError):
            ds.answer_question(s, staff, q.id, "再答一次试试", now=t(2026, 10, 26))
        users = CurrentUser(None, "i", "i", frozenset({"inspector"}))
        waiting = dq.open_questions(s, users, t(2026, 11, 1))
        assert q.id not in {w["id"] for w in waiting} and len(waiting) == 4


# -- 政府信息公开 ------------------------------------------------------------------------------------

def _request(s, unit_code="440823.ZRZY", at=None):
    unit = s.scalar(select(Unit).where(Unit.code == unit_code))
    return ds.submit_request(s, unit_id=unit.id, subject="征地补偿安置方案",
                             body="申请公开某村征地补偿安置方案全文。", name="张三",
                             contact="13800000000", now=at or t(2026, 11, 2, 10))


def _staff(s, unit_code="440823.ZRZY") -> CurrentUser:
    unit = s.scalar(select(Unit).where(Unit.code == unit_code))
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit.id, unit.name)


def test_request_answered_within_20_working_days_and_one_extension(engine):
    with db.session_scope(engine) as s:
        req = _request(s)
        assert req.code.startswith("GK") and len(req.code) == 12
        item = s.get(Item, req.item_id)
        # Received Monday 2 November: 20 working days end on Monday 30 November, 24:00.
        assert item.deadline == t(2026, 12, 1)
        staff = _staff(s)
        for days in (0, 21):
            with pytest.raises(ds.DisclosureError):
                ds.extend(s, staff, req.id, days, "信息公开办主任", "需要调档审查", now=t(2026, 11, 20))
        with pytest.raises(ds.DisclosureError, match="负责人"):
            ds.extend(s, staff, req.id, 20, "", "需要调档审查", now=t(2026, 11, 20))
        with pytest.raises(ds.DisclosureError, match="已过"):
            ds.extend(s, staff, req.id, 20, "信息公开办主任", "需要调档审查", now=t(2026, 12, 1, 8))
        with pytest.raises(PermissionDenied):
            ds.extend(s, _staff(s, "440823.CZ"), req.id, 20, "主任", "需要调档审查",
                      now=t(2026, 11, 20))
        ds.extend(s, staff, req.id, 20, "信息公开办主任", "需要调档审查", now=t(2026, 11, 20))
        # 20 more working days after 30 November: Monday 28 December.
        assert s.get(Item, req.item_id).deadline == t(2026, 12, 29)
        with pytest.raises(ds.DisclosureError, match="一次"):
            ds.extend(s, staff, req.id, 5, "信息公开办主任", "再延一次", now=t(2026, 11, 21))
        with pytest.raises(ds.DisclosureError, match="法定理由"):
            ds.answer_request(s, staff, req.id, "refuse", "不予公开。", "", now=t(2026, 12, 20))
        ds.answer_request(s, staff, req.id, "refuse", "经审查，不予公开。", ds.REFUSAL_GROUNDS[3],
                          now=t(2026, 12, 20))
        assert _light(s, req.item_id, t(2026, 12, 31)) == GREEN
        view = ds.track_request(s, req.code.lower())
        assert (view.status, view.answer_type) == ("已答复", "不予公开")
        assert "张三" not in repr(view) and "138" not in repr(view)
        with pytest.raises(ds.DisclosureError, match="已答复"):
            ds.answer_request(s, staff, req.id, "open", "再答复一次", now=t(2026, 12, 21))


def test_third_party_time_is_not_counted(engine):
    with db.session_scope(engine) as s:
        req = _request(s)
        staff = _staff(s)
        ds.start_pause(s, staff, req.id, "third_party", "某置业公司", now=t(2026, 11, 4, 10))
        # While waiting, the clock allows the third party's 15 working days: 21 December.
        assert s.get(Item, req.item_id).deadline == t(2026, 12, 22)
        with pytest.raises(ds.DisclosureError, match="正在进行"):
            ds.start_pause(s, staff, req.id, "organ", "市财政局", now=t(2026, 11, 5))
        ds.end_pause(s, staff, req.id, now=t(2026, 11, 13, 16))
        # 5 Nov … 13 Nov: 7 working days not counted → 30 November + 7 = 9 December.
        assert s.get(Item, req.item_id).deadline == t(2026, 12, 10)
        assert _light(s, req.item_id, t(2026, 12, 1, 9)) != RED
        assert _light(s, req.item_id, t(2026, 12, 10, 9)) == RED
        ev = flags.evaluate(s, domain="DISCLOSURE", as_of=t(2026, 12, 12), codes=["DIS-T03"])
        assert [r.subject for r in ev.records] == [req.code]
        assert "逾期答复 2天（" in ev.records[0].reason


def test_one_correction_within_7_working_days_restarts_the_clock(engine):
    with db.session_scope(engine) as s:
        late = _request(s)
        staff = _staff(s)
        # The 8th working day after 2 November is Thursday 12 November: too late to correct.
        with pytest.raises(ds.DisclosureError, match="7 个工作日"):
            ds.send_correction(s, staff, late.id, "请补充文号和时间范围", now=t(2026, 11, 12, 9))
        req = _request(s, at=t(2026, 11, 2, 11))
        ds.send_correction(s, staff, req.id, "请补充文号和时间范围", now=t(2026, 11, 9, 9))
        assert _light(s, req.item_id, t(2026, 12, 5)) == GREEN  # waiting for the applicant
        with pytest.raises(ds.DisclosureError, match="一次"):
            ds.send_correction(s, staff, req.id, "再补正一次看看", now=t(2026, 11, 9, 10))
        with pytest.raises(ds.DisclosureError, match="补正后"):
            ds.answer_request(s, staff, req.id, "open", "公开如下。", now=t(2026, 11, 10))
        with pytest.raises(ds.DisclosureError, match="不存在"):
            ds.supply_correction(s, "GKNOPE", "补充内容如下", now=t(2026, 11, 18))
        ds.supply_correction(s, req.code, "文号为湛府〔2025〕1号", now=t(2026, 11, 18, 10))
        item = s.get(Item, req.item_id)
        # The 20 working days start again on Wednesday 18 November: Wednesday 16 December.
        assert (item.received_at, item.deadline, item.state) == (t(2026, 11, 18, 10),
                                                                 t(2026, 12, 17), "open")
        assert "【补正】" in s.get(InfoRequest, req.id).body
        with pytest.raises(ds.DisclosureError, match="不需要补正"):
            ds.supply_correction(s, req.code, "再补正", now=t(2026, 11, 19))
        with pytest.raises(ds.DisclosureError, match="机关"):
            ds.answer_request(s, staff, req.id, "not_ours", "非本机关。", "", now=t(2026, 11, 20))
        ds.answer_request(s, staff, req.id, "not_ours", "请向市自然资源局申请。", "湛江市自然资源局",
                          now=t(2026, 11, 20))


def test_request_input_checked(engine):
    with db.session_scope(engine) as s:
        unit = s.scalar(select(Unit).where(Unit.code == "ZJ.FG"))
        good = dict(unit_id=unit.id, subject="年度部门预算", body="申请公开 2026 年部门预算全文。",
                    name="李四", contact="0759-1234567")
        for change in (dict(subject="预算"), dict(body="太短"), dict(name=""), dict(contact=""),
                       dict(subject="x" * 101), dict(unit_id=999_999)):
            with pytest.raises(ds.DisclosureError):
                ds.submit_request(s, **(good | change), now=t(2026, 11, 2))
        # No agency chosen: said with the other missing fields, in one message.
        with pytest.raises(ds.DisclosureError, match="请选择向哪个机关申请；.*请填写申请人姓名"):
            ds.submit_request(s, **(good | dict(unit_id=None, name="")), now=t(2026, 11, 2))
        for _ in range(ds.REQUEST_RATE):
            ds.submit_request(s, **good, source="5.6.7.8", now=t(2026, 11, 2, 10))
        with pytest.raises(ds.DisclosureError, match="频繁"):
            ds.submit_request(s, **good, source="5.6.7.8", now=t(2026, 11, 2, 10, 30))
        req = ds.submit_request(s, **(good | dict(subject="<script>x</script>预算")),
                                now=t(2026, 11, 2, 11))
        assert req.name_enc and "李四" not in req.name_enc  # personal data encrypted


def test_proactive_disclosure_and_annual_reports(engine):
    with db.session_scope(engine) as s:
        unit = s.scalar(select(Unit).where(Unit.code == "ZJ.FG"))
        item = ds.add_proactive(s, SYSTEM, unit.id, "重大建设项目批准信息", t(2026, 11, 2, 9),
                                now=t(2026, 11, 3))
        assert item.deadline == t(2026, 12, 1)  # 20 working days after Monday 2 November
        with pytest.raises(ds.DisclosureError):
            ds.add_proactive(s, SYSTEM, unit.id, "未来信息", t(2026, 12, 2), now=t(2026, 11, 3))
        assert ds.ensure_annual_reports(s, 2025) == s.scalar(
            select(ds.func.count()).select_from(Unit).where(Unit.level.in_(("municipal", "county"))))
        assert ds.ensure_annual_reports(s, 2025) == 0
        dept = s.scalar(select(Item).where(Item.external_id == "NB.ZJ.FG.2025"))
        gov = s.scalar(select(Item).where(Item.external_id == "NB.440823.ZSJ.2025"))
        assert dept.deadline == t(2026, 2, 1) and gov.deadline == t(2026, 4, 1)
        ds.record_duty_published(s, SYSTEM, dept.id, t(2026, 2, 3, 10), now=t(2026, 11, 3))
        assert _light(s, dept.id, t(2026, 3, 1)) == RED  # two days late
        assert _light(s, gov.id, t(2026, 3, 30)) == YELLOW
        ev = flags.evaluate(s, domain="DISCLOSURE", as_of=t(2026, 4, 2), codes=["DIS-T04"])
        subjects = {r.subject for r in ev.records}
        assert "NB.ZJ.FG.2025" in subjects and "NB.440823.ZSJ.2025" in subjects


def test_the_same_information_is_not_registered_twice(engine):
    with db.session_scope(engine) as s:
        unit = s.scalar(select(Unit).where(Unit.code == "ZJ.FG"))
        first = ds.add_proactive(s, SYSTEM, unit.id, "第四季度土地出让计划", t(2026, 11, 2, 9),
                                 now=t(2026, 11, 3))
        with pytest.raises(ds.DisclosureError, match="尚未公开，请勿重复登记"):
            ds.add_proactive(s, SYSTEM, unit.id, " 第四季度土地出让计划 ", t(2026, 11, 3, 9),
                             now=t(2026, 11, 3, 10))
        ds.record_duty_published(s, SYSTEM, first.id, t(2026, 11, 5, 10), now=t(2026, 11, 6))
        with pytest.raises(ds.DisclosureError, match="2026-11-02 形成或变更"):  # same day
            ds.add_proactive(s, SYSTEM, unit.id, "第四季度土地出让计划", t(2026, 11, 2, 15),
                             now=t(2026, 11, 6))
        # Changed after it was published: registered again, by the day it changed; another
        # unit's information of the same name is its own.
        again = ds.add_proactive(s, SYSTEM, unit.id, "第四季度土地出让计划", t(2026, 11, 20, 9),
                                 now=t(2026, 11, 20, 10))
        other = s.scalar(select(Unit).where(Unit.code == "ZJ.CZ"))
        ds.add_proactive(s, SYSTEM, other.id, "第四季度土地出让计划", t(2026, 11, 2, 9), now=t(2026, 11, 3))
        assert again.external_id != first.external_id
        with pytest.raises(ds.DisclosureError, match="不能晚于当前时间"):
            ds.record_duty_published(s, SYSTEM, again.id, t(2026, 11, 21), now=t(2026, 11, 20, 10))


# -- import, catalog, flags csv -------------------------------------------------------------------------

HEADER = "external_id,village,category,period,published_at,title\n"


def test_import_disclosures_all_rows_or_none(engine, monkeypatch):
    monkeypatch.setattr(ds, "now_utc", lambda: t(2026, 11, 20))
    good = (HEADER + "A-1,440823100201,村务,2026-Q3,2026-10-08T10:00,第三季度村务公开\n"
            "A-2,440823101201,finance,2026-09,2026-10-12 09:00,九月财务公开\n")
    with db.session_scope(engine) as s:
        s.add(ds.AppSetting(key="disclosure.start", value="2026-07-01"))
        s.flush()
        result = exchange.import_bytes(s, "disclosures", good.encode(), filename="d.csv",
                                       actor="t")
        assert (result.created, result.unchanged) == (2, 0)
    with db.session_scope(engine) as s:
        again = exchange.import_bytes(s, "disclosures", good.encode(), filename="d.csv", actor="t")
        assert (again.created, again.unchanged) == (0, 2)
        item = s.scalar(select(Item).where(Item.external_id == "VD.440823101201.finance.2026-Q3"))
        assert item.completed_at == t(2026, 10, 12, 9)  # a monthly statement: late for Q3
        assert _light(s, item.id, t(2026, 11, 1)) == RED
    bad = (HEADER + "B-1,999999999999,村务,2026-Q3,2026-10-08T10:00,村务\n"
           "B-2,440823100201,村务,2026-Q5,2026-10-08T10:00,村务\n"
           "B-3,440823100201,村务,2026-Q3,2026-06-08T10:00,村务\n"
           "B-4,440823100201,秘密,2026-Q3,2026-10-08T10:00,村务\n"
           "A-1,440823100202,村务,2026-Q3,2026-10-08T10:00,村务\n"
           "B-6,440823100201,党务,2026-09-14,2026-10-08T10:00,党务\n")
    with db.session_scope(engine) as s, pytest.raises(exchange.ImportFailed) as exc:
        exchange.import_bytes(s, "disclosures", bad.encode(), filename="d.csv", actor="t")
    message = str(exc.value)
    for line in ("第2行", "第3行", "第4行", "第5行", "第6行", "第7行"):
        assert line in message
    with db.read_scope(engine) as s:
        assert s.scalar(select(ds.func.count()).select_from(Disclosure)) == 2
        exported = list(exchange.load_kinds()["disclosures"].export(s))
        assert {e["external_id"] for e in exported} == {"A-1", "A-2"}


def test_catalog_lists_towns_and_villages(engine):
    with db.read_scope(engine) as s:
        rows = catalog_rows(s)
    kinds = {(r["kind"], r["code"]): r for r in rows}
    assert kinds[("village", "440823100201")]["parent"] == "440823100000"
    assert kinds[("town", "440823100000")]["parent"] == "440823"
    assert kinds[("town", "440823100000")]["name"] == "遂城镇"


def test_flags_csv_on_the_command_line(engine, monkeypatch, capsys):
    from lib.__main__ import main

    with db.session_scope(engine) as s:
        s.add(ds.AppSetting(key="disclosure.start", value="2026-07-01"))
        s.flush()
        ds.ensure_obligations(s, t(2026, 10, 15))
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["flags", "--domain", "DISCLOSURE", "--format", "csv", "--as-of",
                 "2026-10-15"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == flags.CSV_COLUMNS
    assert {r[1] for r in rows[1:]} >= {"440823101201.village.2026-Q3"}
    assert all(r[0] == "DISCLOSURE" and r[2] == "DIS-T01" and r[3] == "red" for r in rows[1:])


# -- the demo --------------------------------------------------------------------------------------

def test_demo_has_every_village_with_its_obligations(demo_engine):
    from tests.conftest import ANCHOR

    with db.read_scope(demo_engine) as s:
        counts = dq.village_counts(s, ANCHOR)
        assert len(counts) == 1503 and (counts["due"] > 0).all()
        county = dq.summarize(counts, "county")
        assert len(county) == 9
        total = county[["on_time", "late", "missing"]].sum()
        assert total["on_time"] > 5 * (total["late"] + total["missing"]) > 0
        towns = dq.summarize(counts, "town")
        assert len(towns) == 88
        ev = flags.evaluate(s, domain="DISCLOSURE", as_of=ANCHOR)
        codes = {r.code for r in ev.records}
        assert codes == {"DIS-T01", "DIS-T02", "DIS-T03", "DIS-T04"}
        assert not ev.warnings()
        assert s.scalar(select(ds.func.count()).select_from(InfoRequest)) > 20


def test_the_sweep_brings_obligations_due_once_switched_on(engine):
    from lib import domains

    with db.session_scope(engine) as s:
        assert domains.run_due(s, t(2026, 10, 15))["DISCLOSURE"] == {"obligations": 0,
                                                                     "annual_reports": 0}
        s.add(ds.AppSetting(key="disclosure.start", value="2026-07-01"))
        s.flush()
        done = domains.run_due(s, t(2026, 10, 15))["DISCLOSURE"]
        assert done["obligations"] == 6 and done["annual_reports"] == 0  # 2025: before the start
        assert domains.run_due(s, t(2026, 10, 15))["DISCLOSURE"]["obligations"] == 0
        # After New Year: the reports on 2026, and the fourth quarter's obligations.
        done = domains.run_due(s, t(2027, 1, 12))["DISCLOSURE"]
        assert done["annual_reports"] > 0 and done["obligations"] == 3 * 2 + 3


# -- the city's monthly totals (migration 0022) --------------------------------------------------

def _sums(s) -> dict:
    from lib.models import VillageDisclosure as V

    return {m: (int(i), int(v)) for m, i, v in s.execute(
        select(V.month, ds.func.sum(V.party_items + V.village_items + V.finance_items),
               ds.func.sum(V.views)).group_by(V.month)).all() if (i, v) != (0, 0)}


def _kept(s) -> dict:
    from lib.models import VillageDisclosureMonth as M

    return {m: (int(i), int(v)) for m, i, v in s.execute(select(M.month, M.items, M.views))
            if (i, v) != (0, 0)}


def test_the_months_totals_follow_every_write(engine):
    """Inserts, views, edits of counts and of the month, deletions — through the service and
    as plain statements, committed or rolled back: the kept totals always equal the villages'
    sums, and the cockpit's figure reads them."""
    import random
    from datetime import date

    from sqlalchemy import delete, update

    from lib import queries, rollups
    from lib.models import VillageDisclosure as V

    rng = random.Random(22)
    with db.session_scope(engine) as s:
        villages = [_village(s, c).id for c in ("440823100201", "440823100202", "440823101201")]
        d = ds.publish(s, SYSTEM, village_id=villages[0], category="party", period="2026-H1",
                       title="上半年党务公开", now=t(2026, 7, 5))
        ds.record_view(s, d.id, now=t(2026, 7, 6))
        ds.record_view(s, d.id, now=t(2026, 8, 1))
    months = [date(2026, m, 1) for m in range(1, 13)]
    for step in range(60):
        with db.session_scope(engine) as s:
            rows = s.execute(select(V.id, V.village_id, V.month)).all()
            kind = rng.choice(["insert", "insert", "update", "month", "delete", "rollback"])
            if kind == "insert":
                free = [(v, m) for v in villages for m in months
                        if (v, m) not in {(r.village_id, r.month) for r in rows}]
                if free:
                    v, m = rng.choice(free)
                    s.add(V(village_id=v, month=m, party_items=rng.randint(0, 9),
                            village_items=rng.randint(0, 9), finance_items=rng.randint(0, 9),
                            views=rng.randint(0, 500)))
            elif kind == "update" and rows:
                r = rng.choice(rows)
                s.execute(update(V).where(V.id == r.id).values(
                    party_items=rng.randint(0, 9), views=V.views + rng.randint(1, 50)))
            elif kind == "month" and rows:
                r = rng.choice(rows)
                taken = {m for _, v, m in rows if v == r.village_id}
                free = [m for m in months if m not in taken]
                if free:
                    s.execute(update(V).where(V.id == r.id).values(month=rng.choice(free)))
            elif kind == "delete" and rows:
                s.execute(delete(V).where(V.id == rng.choice(rows).id))
            elif kind == "rollback" and rows:
                s.execute(update(V).values(views=V.views + 1000))
                s.rollback()
        with db.read_scope(engine) as s:
            assert _kept(s) == _sums(s), (step, kind)
    with db.read_scope(engine) as s:
        sums = _sums(s)
        assert len(sums) >= 3
        assert rollups.disclosure_drift(s) == []
        for day in (date(2026, 3, 15), date(2026, 12, 31)):
            f = queries.source_figures(s, as_of=datetime.combine(day, datetime.min.time(), TZ))
            upto = [v for m, v in sums.items() if m <= day]
            assert (f.disclosed_items, f.disclosure_views) == (sum(i for i, _ in upto),
                                                                sum(v for _, v in upto))
    # A drift is named, and the rebuild mends it.
    from lib.models import VillageDisclosureMonth as M

    with db.session_scope(engine) as s:
        month = min(sums)
        s.execute(update(M).where(M.month == month).values(views=M.views + 7))
    with db.read_scope(engine) as s:
        drift = rollups.disclosure_drift(s)
        assert len(drift) == 1 and str(month) in drift[0]
    with db.session_scope(engine) as s:
        assert rollups.rebuild_disclosure_months(s) >= 3
    with db.read_scope(engine) as s:
        assert rollups.disclosure_drift(s) == [] and _kept(s) == sums


def test_the_demo_keeps_its_months_totals(demo_engine):
    from lib import rollups

    with db.read_scope(demo_engine) as s:
        assert len(_kept(s)) >= 12 and _kept(s) == _sums(s)
        assert rollups.disclosure_drift(s) == []


@pytest.mark.parametrize("typed, words", [("NaN", "不是有效金额"), ("Infinity", "不是有效金额"),
                                          ("abc", "不是有效金额"), ("-3", "不能为负数")])
def test_a_finance_rows_amount_is_refused_in_the_right_words(typed, words):
    with pytest.raises(ds.DisclosureError, match=words):
        ds.finance_rows([{"item": "村道维修", "income": typed, "spending": ""}])


def test_a_cleared_or_added_finance_cell_is_empty_not_the_word_nan():
    nan = float("nan")
    with pytest.raises(ds.DisclosureError, match="第 1 行缺少项目名称"):
        ds.finance_rows([{"item": None, "income": "", "spending": "1200"}])
    with pytest.raises(ds.DisclosureError, match="第 2 行缺少项目名称"):
        ds.finance_rows([{"item": "村道", "income": "1", "spending": ""},
                         {"item": nan, "income": nan, "spending": "5"}])
    assert ds.finance_rows([{"item": "村道", "income": nan, "spending": None},
                            {"item": nan, "income": nan, "spending": nan}]) == [
        {"item": "村道", "income": "0.00", "spending": "0.00"}]
