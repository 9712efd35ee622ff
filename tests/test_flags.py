"""The rule framework (lib.flags): a finding becomes a flag and a card through the one engine,
reaches notices and scores, is withdrawn when the data no longer fires it, and an inspector's
decision sticks. A toy rule stands in for a domain's."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lib import db, flags, notices, queries, scoring
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.importer import import_items
from lib.lights import GREEN, RED, YELLOW
from lib.models import Flag, Item, ItemEvent, Notice, Unit

ROOT = Path(__file__).resolve().parent.parent
HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))
ADMIN = CurrentUser(None, "guanli", "管理", frozenset({"admin"}))
NOW = datetime(2026, 10, 20, 10, 0, tzinfo=TZ)


def _suspicious(ctx: flags.RuleContext):
    """Toy rule: an item whose title carries 可疑 is red, 存疑 yellow; the amount at stake is
    the number after 金额 in the title. Source: this test."""
    rows = ctx.session.execute(select(Item).where(Item.verdict == 0,
                                                  Item.external_id.like("T-%"))).scalars().all()
    ctx.population = len(rows)
    for item in rows:
        title = item.title or ""
        if "可疑" in title or "存疑" in title:
            amount = float(title.split("金额")[1]) if "金额" in title else None
            yield ctx.flag(subject=item.external_id, light=RED if "可疑" in title else YELLOW,
                           reason=f"标题含“{'可疑' if '可疑' in title else '存疑'}”（阈值 {ctx.t['limit']}）",
                           unit_id=item.unit_id, at=item.received_at, subsystem="PROCURE",
                           amount=amount, inputs={"title": title})


@pytest.fixture
def toy_rule():
    flags.load_rules()
    flags.RULES["T-001"] = flags.Rule("TEST", "T-001", "可疑标题", _suspicious, False,
                                      {"limit": 3}, {"limit": "阈值"}, 2.0)
    yield flags.RULES["T-001"]
    flags.RULES.pop("T-001", None)


@pytest.fixture
def engine(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + "T-1,PROCURE,ZJ.CZ,2026-10-01T09:00,30d,2026-10-02T09:00\n"
                     "T-2,PROCURE,ZJ.CZ,2026-10-03T09:00,30d,2026-10-04T09:00\n"
                     "T-3,PROCURE,440823.CZ,2026-10-05T09:00,30d,2026-10-06T09:00\n", actor="t")
        titles = {"T-1": "可疑采购 金额1200.5", "T-2": "存疑采购", "T-3": "正常采购"}
        for item in s.scalars(select(Item)):
            item.title = titles[item.external_id]
    return empty_engine


def _lights(engine, at=NOW):
    with db.read_scope(engine) as s:
        return {e: lt for e, _, lt in queries.item_lights(s, user=SYSTEM, as_of=at)}


def test_a_finding_becomes_a_flag_and_a_card(engine, toy_rule):
    with db.session_scope(engine) as s:
        result = flags.refresh(s, domain="TEST", now=NOW)
    assert (result.new, result.updated, result.withdrawn) == (2, 0, 0)
    lights = _lights(engine)
    assert lights["F.T-001.T-1"] == RED and lights["F.T-001.T-2"] == YELLOW
    with db.read_scope(engine) as s:
        f = s.scalar(select(Flag).where(Flag.subject == "T-1"))
        assert (f.status, f.light, float(f.amount), f.domain) == ("open", "red", 1200.5, "TEST")
        assert '"limit": 3' in f.thresholds and "可疑采购" in f.inputs
        view = flags.listing(s, INSPECTOR, domain="TEST")
        assert {v.subject for v in view} == {"T-1", "T-2"}
        # The card is red from the moment the line was crossed, not before.
        assert "F.T-001.T-1" not in _lights(engine, datetime(2026, 9, 30, tzinfo=TZ))
        counts = queries.light_counts(s, user=SYSTEM, as_of=NOW)
        assert counts["red"].sum() == 1 and counts["yellow"].sum() == 1
        reds = queries.latest_red(s, user=SYSTEM, as_of=NOW)
        assert [r.external_id for r in reds] == ["F.T-001.T-1"]
        assert "触发红线规则" in reds[0].reason and "可疑标题" in reds[0].reason
        # The card's item is known as a finding (the item page says so instead of a time
        # limit it never had); the source items are not.
        card = s.scalar(select(Item.id).where(Item.external_id == "F.T-001.T-1"))
        source = s.scalar(select(Item.id).where(Item.external_id == "T-1"))
        assert flags.finding_of_item(s, card) == ("T-001", flags.RULES["T-001"].name)
        assert flags.finding_of_item(s, source) is None


def test_refresh_is_idempotent_and_follows_the_data(engine, toy_rule):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
    with db.session_scope(engine) as s:
        again = flags.refresh(s, domain="TEST", now=NOW + timedelta(minutes=1))
    assert (again.new, again.updated, again.withdrawn) == (0, 0, 0)
    with db.session_scope(engine) as s:  # corrected data: T-2 no longer doubtful
        s.scalar(select(Item).where(Item.external_id == "T-2")).title = "正常采购"
        s.scalar(select(Item).where(Item.external_id == "T-1")).title = "可疑采购 金额99"
        result = flags.refresh(s, domain="TEST", now=NOW + timedelta(minutes=2))
    assert (result.new, result.updated, result.withdrawn) == (0, 1, 1)
    assert _lights(engine)["F.T-001.T-2"] == GREEN
    with db.read_scope(engine) as s:
        assert s.scalar(select(Flag.status).where(Flag.subject == "T-2")) == "withdrawn"
        assert float(s.scalar(select(Flag.amount).where(Flag.subject == "T-1"))) == 99.0
        kinds = [e.kind for e in s.scalars(select(ItemEvent).join(Item).where(
            Item.external_id == "F.T-001.T-2").order_by(ItemEvent.id))]
    assert kinds == ["flagged", "withdrawn"]
    with db.session_scope(engine) as s:
        s.scalar(select(Item).where(Item.external_id == "T-2")).title = "存疑采购"
        result = flags.refresh(s, domain="TEST", now=NOW + timedelta(minutes=3))
    assert result.reopened == 1 and _lights(engine)["F.T-001.T-2"] == YELLOW


def test_a_red_flag_gets_one_notice_and_counts_as_a_card_not_a_case(engine, toy_rule):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        first = notices.sweep(s, NOW)
        second = notices.sweep(s, NOW + timedelta(minutes=5))
    assert first.issued == 1 and second.issued == 0
    with db.read_scope(engine) as s:
        notice = s.scalar(select(Notice))
        assert "触发红线规则" in notice.matter and "F.T-001.T-1" in notice.matter
        ranking = scoring.compute(s, "2026-10", "unit", as_of=NOW)
    cz = next(r for r in ranking.rows() if r["code"] == "ZJ.CZ")
    # One case due in October (T-1; T-2 is due in November); the flags, given in October, are
    # a red and a yellow card on the unit, not cases.
    assert (cz["items"], cz["red"], cz["yellow"]) == (1, 1, 1)


def test_an_inspector_confirms_or_dismisses(engine, toy_rule):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        ids = dict(s.execute(select(Flag.subject, Flag.id)).all())
    staff = CurrentUser(None, "jb", "经办", frozenset({"staff"}), unit_id=1)
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        flags.decide(s, staff, ids["T-1"], confirm=False, note="不属实的情况说明")
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match="至少 5 个字"):
        flags.decide(s, INSPECTOR, ids["T-1"], confirm=False, note="否")
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match="追回金额无效"):
        flags.decide(s, INSPECTOR, ids["T-1"], confirm=True, note="", recovered="abc")
    with db.session_scope(engine) as s:
        flags.decide(s, INSPECTOR, ids["T-1"], confirm=True, note="属实", recovered="1200.50")
        flags.decide(s, INSPECTOR, ids["T-2"], confirm=False, note="经核实为录入错误，非异常")
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match="不能再次核查"):
        flags.decide(s, INSPECTOR, ids["T-2"], confirm=True, note="")
    lights = _lights(engine)
    assert lights["F.T-001.T-1"] == RED and lights["F.T-001.T-2"] == GREEN
    with db.session_scope(engine) as s:  # a refresh keeps the decisions
        flags.refresh(s, domain="TEST", now=NOW + timedelta(hours=1))
        statuses = dict(s.execute(select(Flag.subject, Flag.status)).all())
        assert float(s.scalar(select(Flag.recovered).where(Flag.subject == "T-1"))) == 1200.5
    assert statuses == {"T-1": "confirmed", "T-2": "dismissed"}
    assert _lights(engine)["F.T-001.T-2"] == GREEN



@pytest.mark.parametrize("typed, words", [
    ("NaN", "追回金额无效"), ("Infinity", "追回金额无效"), ("1e3", "追回金额无效"), ("12元5", "追回金额无效"),
    ("-5", "不能为负数"), ("-0", "不能为负数"), ("1.234", "最多两位小数"),
    ("1200.51", "超过该条发现涉及金额 1,200.50 元"),
    ("99999999999", "超过该条发现涉及金额")])
def test_a_recovered_amount_is_a_plain_amount_within_the_findings(engine, toy_rule, typed, words):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        fid = s.scalar(select(Flag.id).where(Flag.subject == "T-1"))  # 1,200.50 at stake
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match=words):
        flags.decide(s, INSPECTOR, fid, confirm=True, note="属实", recovered=typed)
    with db.read_scope(engine) as s:  # nothing written
        assert s.scalar(select(Flag.status).where(Flag.id == fid)) == "open"


def test_a_recovered_amount_may_be_typed_as_people_write_it(engine, toy_rule):
    assert flags.recovered_amount("1,200.50", 1200.5) == Decimal("1200.50")
    assert flags.recovered_amount(" １２００ 元", 1200.5) == Decimal("1200.00")  # full-width
    assert flags.recovered_amount("5000000") == Decimal("5000000.00")  # no amount at stake
    assert flags.recovered_amount("¥.5", 1200.5) == Decimal("0.50")
    with pytest.raises(flags.FlagError, match="超出可登记范围"):
        flags.recovered_amount("2000000000000")
    with pytest.raises(flags.FlagError, match="超出可登记范围"):
        flags.recovered_amount("2000000000000", 5, beyond_ok=True)
    # Beyond the finding's amount once checked (a rule's amount may be the part above a
    # standard, the whole payment recovered); an amount of 0 at stake sets no bound.
    assert flags.recovered_amount("5000", 1200.5, beyond_ok=True) == Decimal("5000.00")
    assert flags.recovered_amount("100", 0) == Decimal("100.00")


def test_a_conclusion_beyond_the_amount_once_checked_and_blank_amounts(engine, toy_rule):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        ids = dict(s.execute(select(Flag.subject, Flag.id)).all())
    with db.session_scope(engine) as s:
        flags.decide(s, INSPECTOR, ids["T-1"], confirm=True, note="整笔追回", recovered="2,000",
                     beyond_ok=True)
        flags.decide(s, INSPECTOR, ids["T-2"], confirm=True, note="属实", recovered="   ")
    with db.read_scope(engine) as s:
        got = dict(s.execute(select(Flag.subject, Flag.recovered)).all())
    assert float(got["T-1"]) == 2000.0 and got["T-2"] is None
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match="不能再次核查"):
        flags.decide(s, INSPECTOR, ids["T-1"], confirm=False, note="重复提交的核查")


def test_a_finding_whose_card_was_cancelled_on_appeal_waits_for_no_check(engine, toy_rule):
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        fid, item_id = s.execute(select(Flag.id, Flag.item_id).where(Flag.subject == "T-1")).one()
        s.get(Item, item_id).card_cancelled = True
    with db.session_scope(engine) as s, pytest.raises(flags.FlagError, match="申诉撤销"):
        flags.decide(s, INSPECTOR, fid, confirm=True, note="属实")
    with db.read_scope(engine) as s:
        view = next(v for v in flags.listing(s, INSPECTOR, domain="TEST") if v.id == fid)
    assert view.stands == "cancelled"

def test_thresholds_are_configurable_and_audited(engine, toy_rule):
    with db.session_scope(engine) as s:
        with pytest.raises(PermissionDenied):
            flags.set_threshold(s, INSPECTOR, "T-001", "limit", 5)
        with pytest.raises(flags.FlagError, match="没有参数"):
            flags.set_threshold(s, ADMIN, "T-001", "nope", 5)
        with pytest.raises(flags.FlagError, match="必须是整数"):
            flags.set_threshold(s, ADMIN, "T-001", "limit", 2.5)
        with pytest.raises(flags.FlagError, match="必须是数字"):
            flags.set_threshold(s, ADMIN, "T-001", "limit", "三")
        flags.set_threshold(s, ADMIN, "T-001", "limit", 7)
        flags.set_threshold(s, ADMIN, "T-001", "weight", 0.5)
    with db.read_scope(engine) as s:
        t = flags.thresholds(s, toy_rule)
        assert t == {"limit": 7, "weight": 0.5}
        ev = flags.evaluate(s, domain="TEST", as_of=NOW)
        assert ev.records[0].thresholds == {"limit": 7}
        assert "阈值 7" in ev.records[0].reason
        queue = flags.risk_queue(s, ev.records)
    assert [(q.subject, q.score) for q in queue] == [("T-1", 0.5), ("T-2", 0.5)]


def test_the_warning_for_an_implausible_share(toy_rule):
    rec = [flags.FlagRecord("TEST", "T-001", f"S-{i}", RED, "x", 1, NOW, "PROCURE")
           for i in range(6)]
    assert flags.Evaluation(rec, {"T-001": 20}).warnings()  # 6 of 20 = 30 %
    assert not flags.Evaluation(rec, {"T-001": 40}).warnings()  # 15 %
    assert not flags.Evaluation(rec[:3], {"T-001": 5}).warnings()  # too few to judge


def test_flags_command_prints_the_csv(engine, toy_rule):
    """The command line lists what fires; the toy rule is registered only in this process, so
    the subprocess sees the registered domains' rules (none fire on this data)."""
    url = engine.url.render_as_string(hide_password=False)
    out = subprocess.run([sys.executable, "-m", "lib", "flags", "--as-of", "2026-10-20T10:00"],
                         cwd=ROOT, env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "domain,subject,flag,light,amount,reason"
    bad = subprocess.run([sys.executable, "-m", "lib", "flags", "--domain", "NOPE"], cwd=ROOT,
                         env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "没有规则" in bad.stderr
    with db.read_scope(engine) as s:
        rows = flags.evaluate(s, domain="TEST", as_of=NOW).records
        assert [r.csv_row() for r in rows] == [
            ["TEST", "T-1", "T-001", "red", "1200.50", "标题含“可疑”（阈值 3）"],
            ["TEST", "T-2", "T-001", "yellow", "", "标题含“存疑”（阈值 3）"]]
        assert s.scalar(select(func.count()).select_from(Unit)) > 0


def test_every_rules_definition_is_written_in_chinese():
    """A rule's definition is its docstring, shown on the screen under 为什么亮牌: written in
    Chinese (an English source's title may be cited in it). 信息公开's four were English."""
    import re

    from lib import domains

    domains.packages()
    for code, r in flags.load_rules().items():
        text = r.definition
        chinese = len(re.findall(r"[\u4e00-\u9fff]", text))
        latin = len(re.findall(r"[A-Za-z]", text))
        assert chinese >= 20 and chinese >= 0.3 * latin, (code, text[:80])
    # The docstring's lines joined without a space inside a Chinese phrase (both phrases break
    # across a line in the source).
    rules = flags.load_rules()
    assert "在决定后规定天数内" in rules["DIS-T01"].definition
    assert "追加与合同标的相同的货物" in rules["MKT-AMEND"].definition


def test_a_rules_definition_is_shown_with_its_thresholds_values():
    """The screen shows 至少 3 名, not 至少 payees 名: every registered rule's definition with
    its thresholds in force names none of them; a setting changes the number shown."""
    import re

    from lib import domains  # noqa: F401 - registers every domain's rules

    r02 = flags.RULES["FND-R02"]
    assert "payees" in r02.definition
    assert "至少 3 名" in r02.definition_with() and "payees" not in r02.definition_with()
    assert "至少 5 名" in r02.definition_with({"payees": 5, "weight": 2.0})
    assert "10 至 30 个百分点" in flags.RULES["FND-E01"].definition_with()
    assert "Q1 − 1.5·IQR" in flags.RULES["MKT-R024"].definition_with()
    for rule in flags.RULES.values():
        shown = rule.definition_with()
        for name in rule.defaults:
            assert not re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", shown), \
                (rule.code, name)
        assert not re.search(r"[a-z]+_[a-z_]+", shown), rule.code  # no other code name either


def test_a_threshold_that_is_a_fraction_of_one_is_shown_in_percent():
    """成交价不低于基准地价的比例 reads 70%, not 0.7; counts, days and weights stay numbers."""
    from lib import domains  # noqa: F401 - registers every domain's rules

    land = flags.RULES["MKT-LAND"]
    assert land.value_text("min_ratio", 0.7) == "70%"
    assert flags.RULES["MKT-PROP"].value_text("min_ratio", 0.9) == "90%"
    assert flags.RULES["MKT-AMEND"].value_text("max_share", 0.125) == "12.5%"
    assert land.value_text("weight", 3.0) == "3"
    assert flags.RULES["FND-R02"].value_text("payees", 3) == "3"
    assert flags.RULES["FND-R04"].value_text("tolerance_pct", 0.0) == "0"
    for rule in flags.RULES.values():  # every ratio threshold in range shows as a percent
        for name, value in rule.defaults.items():
            if name.endswith(flags.RATIO_SUFFIXES):
                assert 0 < float(value) <= 1 and rule.value_text(name, value).endswith("%")


def test_of_two_conclusions_at_once_the_second_is_refused(engine, toy_rule):
    """The second inspector read the finding open; by the time it writes, the first has
    concluded: its write changes nothing and says so."""
    from sqlalchemy import text

    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        fid = s.scalar(select(Flag.id).where(Flag.subject == "T-1"))
    with db.session_scope(engine) as s:
        seen = s.get(Flag, fid)  # read as the form was drawn (kept: the session holds it)
        assert seen.status == "open"
        s.execute(text("UPDATE flags SET status = 'confirmed', decided_by = 'other' "
                       "WHERE id = :id"), {"id": fid})  # the other inspector, meanwhile
        with pytest.raises(flags.FlagError, match="刚由他人核查"):
            flags.decide(s, INSPECTOR, fid, confirm=False, note="经核实为录入错误，非异常")
    with db.read_scope(engine) as s:
        assert s.scalar(select(Flag.decided_by).where(Flag.id == fid)) == "other"


def test_a_conclusions_words_are_withheld_from_the_reviewer_in_the_items_record(engine, toy_rule):
    from lib import items

    with db.session_scope(engine) as s:
        flags.refresh(s, domain="TEST", now=NOW)
        fid = s.scalar(select(Flag.id).where(Flag.subject == "T-1"))
        flags.decide(s, INSPECTOR, fid, confirm=True, note="经核实，收款人王某某重复领取属实")
    reviewer = CurrentUser(None, "reviewer", "省级检查", frozenset({"reviewer"}))
    with db.read_scope(engine) as s:
        event = s.scalar(select(ItemEvent).where(ItemEvent.kind == "flag_confirmed"))
        assert "王某某" in items.event_note(INSPECTOR, event)
        assert items.event_note(reviewer, event) == "核查属实（核查意见不予显示）"
