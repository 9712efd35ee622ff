"""专项资金: import kinds, each rule (fires, and just past its threshold does not), cards and
conclusions, and the privacy of identity numbers and accounts in every output; both databases."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select, text

from lib import db, exchange, flags
from lib.access import CurrentUser, PermissionDenied
from lib.config import TZ
from lib.domains.funds import ids, store
from lib.domains.funds.models import FundPayee, FundPayment, FundResident
from lib.models import Region

INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))
LEADER = CurrentUser(None, "lingdao", "领导", frozenset({"leader"}))
REVIEWER = CurrentUser(None, "shencha", "审查", frozenset({"reviewer"}))
ADMIN = CurrentUser(None, "guanli", "管理", frozenset({"admin"}))
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=TZ)

PROGRAM_HEADER = "code,name,fund_line,unit,year,budget,standard_amount,monthly_cap,pay_within_days\n"
PAYMENT_HEADER = "external_id,program,unit,payee_id,payee_name,village,amount,approved_at,paid_at,account\n"


def person(n: int) -> str:
    first = f"440823{1960 + n % 40}0101{n % 1000:03d}"
    return first + ids.check_digit(first)


def account(n: int) -> str:
    return f"6217{n:015d}"


FIRM = "91440800MA4UL2KX3P"


def load(engine, kind: str, body: str):
    with db.session_scope(engine) as s:
        return exchange.import_bytes(s, kind, body.encode(), filename=f"{kind}.csv", actor="t")


def programs(engine, *rows: str) -> None:
    load(engine, "programs", PROGRAM_HEADER + "".join(r + "\n" for r in rows))


def pays(engine, *rows: tuple) -> None:
    """rows: (ext, program, payee n, amount, approved, paid, account n[, village])."""
    lines = []
    for r in rows:
        ext, prog, who, amount, approved, paid_at, acct = r[:7]
        village = r[7] if len(r) > 7 else ""
        pid = who if isinstance(who, str) else person(who)
        lines.append(f"{ext},{prog},440823.NY,{pid},{'陈' + str(who)[-2:]},{village},{amount},"
                     f"{approved},{paid_at},{account(acct)}\n")
    load(engine, "payments", PAYMENT_HEADER + "".join(lines))


def found(engine, code: str, as_of: datetime = AS_OF) -> list[flags.FlagRecord]:
    with db.read_scope(engine) as s:
        return [r for r in flags.evaluate(s, domain="FUNDS", as_of=as_of, codes=[code]).records]


@pytest.fixture
def engine(empty_engine):
    programs(empty_engine,
             "P-Y,年度补贴,FARMSUB,440823.NY,2026,1000000,3000,,30",
             "P-M,低保金,RELIEF,440823.NY,2026,1000000,,850,10")
    return empty_engine


# -- imports and privacy ---------------------------------------------------------------------------

def test_import_keeps_no_identity_number_or_account_in_clear(engine, backend):
    pays(engine, ("A-1", "P-Y", 1, "1200.50", "2026-03-02T09:00", "2026-03-10T10:00", 1))
    load(engine, "deaths", f"payee_id,died_on\n{person(7)},2026-05-01\n{FIRM},2026-01-02\n")
    with db.read_scope(engine) as s:
        p = s.scalar(select(FundPayment))
        assert float(p.amount) == 1200.5 and p.paid_at is not None
        payee = s.get(FundPayee, p.payee_id)
        assert payee.kind == "person" and payee.id_hash == ids.Hasher().payee(person(1))
        # Nowhere in the database: every text column of every table.
        dump = []
        for table in ("fund_payees", "fund_accounts", "fund_payments", "fund_register", "items",
                      "item_events", "audit_log", "import_runs", "fund_programs"):
            dump += [str(v) for row in s.execute(text(f"select * from {table}")) for v in row]
    blob = "\n".join(dump)
    for secret in (person(1), account(1), person(7), FIRM):
        assert secret not in blob
    with db.session_scope(engine) as s:
        header, rows = exchange.export_table(s, "payments")
    out = "\n".join(",".join(r) for r in rows)
    assert person(1) not in out and account(1) not in out and "陈*" in out
    # The export imports back unchanged (identity number and account left as they are).
    buf = io.StringIO()
    exchange.write_csv(header, rows, buf)
    result = load(engine, "payments", buf.getvalue())
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)


def test_bad_rows_are_refused_without_repeating_the_number(engine):
    bad_id = person(3)[:-1] + ("0" if person(3)[-1] != "0" else "1")
    body = (PAYMENT_HEADER
            + f"B-1,P-Y,440823.NY,{bad_id},张三,,100,2026-03-02,2026-03-03,{account(2)}\n"
            + f"B-2,P-Y,440823.NY,{person(4)},李四,,100,2026-03-02,2026-03-01,12AB\n"
            + f"B-3,NOPE,440823.NY,,王五,,100,2026-03-02,,{account(5)}\n")
    with pytest.raises(exchange.ImportFailed) as exc, db.session_scope(engine) as s:
        exchange.import_bytes(s, "payments", body.encode())
    message = "\n".join(exc.value.errors)
    assert "第2行" in message and "格式不符" in message
    assert "第3行" in message and "发放时间早于审批时间" in message and "12–30 位数字" in message
    assert "第4行" in message and "未知项目" in message and "须填写收款人证件号" in message
    assert bad_id not in message and "12AB" not in message
    with db.read_scope(engine) as s:
        assert s.scalar(select(FundPayment.id)) is None


# -- the rules ---------------------------------------------------------------------------------------

def test_duplicate_payment(engine):
    pays(engine,
         ("D-1", "P-Y", 1, "900", "2026-03-02", "2026-03-05", 1),
         ("D-2", "P-Y", 1, "900", "2026-05-02", "2026-05-05", 1),  # same year, same amount
         ("D-3", "P-Y", 2, "900", "2026-03-02", "2026-03-05", 2),
         ("D-4", "P-Y", 2, "901", "2026-05-02", "2026-05-05", 2),  # a different amount
         ("D-5", "P-M", 3, "500", "2026-01-20", "2026-01-31T10:00", 3),
         ("D-6", "P-M", 3, "500", "2026-01-25", "2026-02-01T10:00", 3),  # next month
         ("D-7", "P-M", 3, "500", "2026-02-02", "2026-02-03T10:00", 3))  # again in February
    got = {r.subject: r for r in found(engine, "FND-R01")}
    assert set(got) == {"D-2", "D-7"}
    assert got["D-2"].amount == 900 and "2026年度" in got["D-2"].reason
    assert "2026年2月" in got["D-7"].reason


def test_one_account_for_several_payees(engine):
    pays(engine,
         ("S-1", "P-Y", 1, "100", "2026-03-02", "2026-03-05", 9),
         ("S-2", "P-Y", 2, "200", "2026-03-02", "2026-03-06", 9),  # two payees: allowed
         ("S-3", "P-Y", 3, "300", "2026-03-02", "2026-03-07", 8),
         ("S-4", "P-Y", 4, "400", "2026-03-02", "2026-03-08", 8),
         ("S-5", "P-Y", 5, "500", "2026-03-02", "2026-03-09", 8))
    got = found(engine, "FND-R02")
    assert [r.subject for r in got] == ["S-5"]
    assert got[0].amount == 900 and "3 名不同收款人" in got[0].reason
    assert account(8) not in got[0].reason + str(got[0].inputs)
    # An administrator's threshold reaches the rule when the whole domain is evaluated (every
    # rule's settings read at once).
    with db.session_scope(engine) as s:
        flags.set_threshold(s, ADMIN, "FND-R02", "payees", 2)
    with db.read_scope(engine) as s:
        records = flags.evaluate(s, domain="FUNDS", as_of=AS_OF).records
    got = [r for r in records if r.code == "FND-R02"]
    assert sorted(r.subject for r in got) == ["S-2", "S-4"]
    assert {r.thresholds["payees"] for r in got} == {2}


def test_paid_after_death_or_closure(engine):
    pays(engine,
         ("X-1", "P-M", 1, "500", "2026-04-01", "2026-04-10T10:00", 1),  # paid on the day of death
         ("X-2", "P-M", 2, "500", "2026-04-01", "2026-04-11T10:00", 2),  # the day after
         ("X-3", "P-Y", FIRM, "5000", "2026-04-01", "2026-04-03T10:00", 3))
    assert found(engine, "FND-R03") == []
    load(engine, "deaths", f"payee_id,died_on\n{person(1)},2026-04-10\n{person(2)},2026-04-10\n"
                           f"{FIRM},2026-03-31\n")
    got = {r.subject: r for r in found(engine, "FND-R03")}
    assert set(got) == {"X-2", "X-3"}
    assert "死亡" in got["X-2"].reason and "注销" in got["X-3"].reason and got["X-3"].amount == 5000


def test_above_standard(engine):
    pays(engine, ("T-1", "P-Y", 1, "3000", "2026-03-02", "2026-03-05", 1),
         ("T-2", "P-Y", 2, "3000.01", "2026-03-02", "2026-03-05", 2))
    got = found(engine, "FND-R04")
    assert [r.subject for r in got] == ["T-2"] and got[0].amount == 0.01


def test_far_above_own_history(engine):
    history = [(f"H-{m}", "P-M", 1, "400", f"2026-{m:02d}-02", f"2026-{m:02d}-05", 1)
               for m in range(1, 6)]
    pays(engine, *history, ("H-6", "P-M", 1, "800", "2026-06-02", "2026-06-05", 1))
    assert found(engine, "FND-R05") == []  # five earlier payments: too short a history
    pays(engine, ("H-6", "P-M", 1, "400", "2026-06-02", "2026-06-05", 1),
         ("H-7", "P-M", 1, "800", "2026-07-02", "2026-07-05", 1),
         ("G-1", "P-M", 2, "400", "2026-01-02", "2026-01-05", 2),
         *[(f"G-{m}", "P-M", 2, "400" if m % 2 else "420", f"2026-{m:02d}-02", f"2026-{m:02d}-05", 2)
           for m in range(2, 7)],
         ("G-7", "P-M", 2, "479", "2026-07-02", "2026-07-05", 2))  # below mean + 20 %
    got = found(engine, "FND-R05")
    assert [r.subject for r in got] == ["H-7"] and got[0].light == "yellow" and got[0].amount == 400


def test_monthly_cap(engine):
    pays(engine, ("C-1", "P-M", 1, "500", "2026-03-02", "2026-03-05", 1),
         ("C-2", "P-M", 1, "350", "2026-03-12", "2026-03-15", 1),  # 850: at the cap
         ("C-3", "P-M", 2, "500", "2026-03-02", "2026-03-05", 2),
         ("C-4", "P-M", 2, "350.01", "2026-03-12", "2026-03-15", 2))
    got = found(engine, "FND-R06")
    assert [r.subject for r in got] == ["C-4"] and got[0].amount == 0.01


def _oracle(rows: list[tuple], as_of: datetime) -> dict[tuple, tuple]:
    """FND-R01, R02 (3 payees), R04, R05 and R06 with their default thresholds, each read from
    its definition payment by payment (quadratic, plain Python): {(code, subject): (light,
    amount)}. rows: (ext, program, payee, amount, paid local datetime, account), in the order
    paid."""
    import statistics

    rows = [r for r in rows if r[4] <= as_of]
    out = {}
    period = {"P-Y": lambda t: t.year, "P-M": lambda t: (t.year, t.month)}
    for i, (ext, prog, who, amount, t, _acct) in enumerate(rows):
        before = rows[:i]
        if any(q[1] == prog and q[2] == who and q[3] == amount
               and period[prog](q[4]) == period[prog](t) for q in before):
            out[("FND-R01", ext)] = ("red", amount)
        if prog == "P-Y" and amount > 3000:
            out[("FND-R04", ext)] = ("red", amount - 3000)
        history = [q[3] for q in before if q[1] == prog and q[2] == who]
        if len(history) >= 6:
            mean, sd = statistics.fmean(history), statistics.stdev(history)
            if amount > mean + 3 * sd + 1e-9 and amount > mean * 1.2 + 1e-9:
                out[("FND-R05", ext)] = ("yellow", amount - mean)
        month = [q for q in before if q[1] == "P-M" == prog and q[2] == who
                 and (q[4].year, q[4].month) == (t.year, t.month)]
        month_total = sum(q[3] for q in rows if q[1] == "P-M" == prog and q[2] == who
                          and (q[4].year, q[4].month) == (t.year, t.month))
        if prog == "P-M" and sum(q[3] for q in month) <= 850 < sum(q[3] for q in month) + amount:
            out[("FND-R06", ext)] = ("red", month_total - 850)
    for acct in {r[5] for r in rows}:
        paid_in = [r for r in rows if r[5] == acct]
        payees = list(dict.fromkeys(r[2] for r in paid_in))
        if len(payees) >= 3:
            crossing = next(r for r in paid_in if r[2] == payees[2])
            out[("FND-R02", crossing[0])] = ("red", sum(r[3] for r in paid_in
                                                          if r[2] != payees[0]))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_payment_rules_match_their_definitions_on_random_payments(engine, seed):
    """The rules group and compare payments as columns: on random payments (repeated amounts,
    shared accounts, months over the cap, histories with an outlier), their findings at two
    moments equal each definition read payment by payment."""
    import random

    rng = random.Random(seed)
    rows, when = [], datetime(2026, 1, 1, 9, 0, tzinfo=TZ)
    for n in range(240):
        when += timedelta(hours=rng.randint(1, 30), minutes=rng.randint(1, 59))
        prog = rng.choice(["P-Y", "P-M", "P-M"])
        who = rng.randint(1, 9)
        amount = rng.choice([900, 900, 3000, 3000.01, 2000] if prog == "P-Y"
                            else [400, 400, 420, 500, 850, 300, 1300])
        acct = 50 if who >= 7 and rng.random() < 0.6 else who
        rows.append((f"R-{n:03d}", prog, who, amount, when, acct))
    pays(engine, *[(ext, prog, who, f"{amount:.2f}", (t - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M"), t.strftime("%Y-%m-%dT%H:%M"), acct)
        for ext, prog, who, amount, t, acct in rows])
    codes = ["FND-R01", "FND-R02", "FND-R04", "FND-R05", "FND-R06"]
    for as_of in (datetime(2026, 6, 15, 12, 0, tzinfo=TZ), when + timedelta(days=1)):
        with db.read_scope(engine) as s:
            records = flags.evaluate(s, domain="FUNDS", as_of=as_of, codes=codes).records
        got = {(r.code, r.subject): (r.light, r.amount) for r in records}
        expected = _oracle(rows, as_of)
        assert set(got) == set(expected), (as_of, set(got) ^ set(expected))
        for key, (light, amount) in expected.items():
            assert got[key][0] == light and got[key][1] == pytest.approx(amount, abs=0.011), key
        assert {code for code, _ in expected} == set(codes)  # every rule had something to find


def test_paid_later_than_the_limit(engine):
    pays(engine, ("L-1", "P-M", 1, "500", "2026-03-02T09:00", "2026-03-12T20:00", 1),  # day 10
         ("L-2", "P-M", 2, "500", "2026-03-02T09:00", "2026-03-13T09:00", 2),  # day 11
         ("L-3", "P-M", 3, "500", "2026-11-01T09:00", "", 3))  # unpaid, overdue
    got = {r.subject: r for r in found(engine, "FND-T01")}
    assert set(got) == {"L-2", "L-3"} and got["L-2"].light == "red" and got["L-2"].amount == 500


def _village(engine) -> tuple[int, str]:
    with db.session_scope(engine) as s:
        town = s.scalar(select(Region).where(Region.level == "town"))
        v = Region(code=town.code[:9] + "201", name="东坡村", level="village", parent_id=town.id)
        s.add(v)
        s.flush()
        return v.id, v.code


def test_payees_in_cadres_households(engine):
    vid, vcode = _village(engine)
    pays(engine, *[(f"V-{n}", "P-Y", n, "500", "2026-03-02", "2026-03-05", n, vcode)
                   for n in range(1, 16)])
    h = ids.Hasher()

    def residents(related: int) -> None:
        with db.session_scope(engine) as s:
            s.execute(FundResident.__table__.delete())
            s.add(FundResident(id_hash=h.payee(person(900)), household=h.household("C"),
                               village_id=vid, cadre_post="村委会主任"))
            for n in range(1, 16):
                s.add(FundResident(id_hash=h.payee(person(n)),
                                   household=h.household("C" if n <= related else f"H{n}"),
                                   village_id=vid))

    residents(2)
    assert found(engine, "FND-R07") == []
    # Through the import kind: the cadre and the members of the cadre's household.
    with db.session_scope(engine) as s:
        s.execute(FundResident.__table__.delete())
    load(engine, "households", "payee_id,household_id,village,cadre_post\n"
         f"{person(900)},H-C,{vcode},村委会主任\n"
         + "".join(f"{person(n)},{'H-C' if n <= 3 else f'H-{n}'},{vcode},\n" for n in range(1, 16)))
    assert len(found(engine, "FND-R07")) == 1
    residents(3)  # 3 of 15 = 20 %
    got = found(engine, "FND-R07")
    assert [r.subject for r in got] == [f"P-Y@{vcode}"] and got[0].amount == 1500
    pays(engine, ("V-16", "P-Y", 16, "500", "2026-03-02", "2026-03-05", 16, vcode))
    assert found(engine, "FND-R07") == []  # 3 of 16 < 20 %


def test_behind_the_time_proportional_plan(engine):
    # By the end of 2 July 2026, 183 of 365 days: plan 50.1 %; budget 365,000 → 183,000.
    programs(engine, "P-E,项目,FARMSUB,440823.NY,2026,365000,,,30")
    as_of = datetime(2026, 7, 2, 23, 0, tzinfo=TZ)
    cases = {"146865": None, "146500": "yellow", "73500": "yellow", "73135": "red"}
    for paid_amount, light in cases.items():
        pays(engine, ("E-1", "P-E", 1, paid_amount, "2026-06-01", "2026-06-05", 1))
        got = [r for r in found(engine, "FND-E01", as_of) if r.subject == "P-E"]
        assert [r.light for r in got] == ([light] if light else []), paid_amount


def test_threepub_over_budget_and_above_last_year(engine):
    programs(engine, "SG25,三公,THREEPUB,ZJ.CZ,2025,100000,,,30",
             "SG26,三公,THREEPUB,ZJ.CZ,2026,100000,,,30")
    pays(engine, ("G25-1", "SG25", FIRM, "60000", "2025-03-01", "2025-03-05", 1),
         ("G26-1", "SG26", FIRM, "60000", "2026-03-01", "2026-03-05", 1))
    assert found(engine, "FND-E02") == [] and found(engine, "FND-E03") == []
    pays(engine, ("G26-2", "SG26", FIRM, "40000.01", "2026-04-01", "2026-04-05", 1))
    e2 = found(engine, "FND-E02")
    assert [r.subject for r in e2] == ["SG26"] and e2[0].amount == 0.01
    e3 = found(engine, "FND-E03")
    assert [r.subject for r in e3] == ["SG26"] and "高于上年同期" in e3[0].reason
    programs(engine, "SG26,三公,THREEPUB,ZJ.CZ,2026,100000.01,,,30")
    assert "预算" in found(engine, "FND-E03")[0].reason


# -- from flag to action -------------------------------------------------------------------------------

def test_findings_become_cards_and_an_inspector_concludes(engine):
    pays(engine, ("T-1", "P-Y", 1, "3500", "2026-03-02", "2026-03-05", 1))
    with db.session_scope(engine) as s:
        flags.refresh(s, domain="FUNDS", now=AS_OF)
        view = next(v for v in flags.listing(s, INSPECTOR, domain="FUNDS") if v.code == "FND-R04")
        assert view.amount == 500 and view.light == "red"
        flags.decide(s, INSPECTOR, view.id, confirm=True, note="已追回", recovered="500")
    with db.read_scope(engine) as s:
        view = next(v for v in flags.listing(s, INSPECTOR, domain="FUNDS") if v.code == "FND-R04")
    assert view.status == "confirmed" and view.recovered == 500


def test_only_inspectors_read_an_identity_number_and_each_reading_is_audited(engine):
    pays(engine, ("R-1", "P-Y", 1, "100", "2026-03-02", "2026-03-05", 1))
    with db.read_scope(engine) as s:
        pid = s.scalar(select(FundPayment.id))
    for user in (LEADER, REVIEWER):
        with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
            store.reveal(s, user, pid)
    with db.session_scope(engine) as s:
        assert store.reveal(s, INSPECTOR, pid) == (person(1), account(1))
    with db.read_scope(engine) as s:
        row = s.execute(text("select actor, action, entity_id from audit_log "
                             "where action = 'personal.read'")).one()
        assert tuple(row) == ("jiancha", "personal.read", "R-1")
        assert store.payments(s, REVIEWER, ["R-1"])[0].payee == "陈*"
        assert store.payments(s, LEADER, ["R-1"])[0].payee == "陈1"


def test_command_line_flags_print_no_identity_number_or_account(engine, monkeypatch, capsys):
    from lib.__main__ import main

    pays(engine, ("Z-1", "P-Y", 1, "3500", "2026-03-02", "2026-03-05", 1),
         ("Z-2", "P-Y", 2, "3500", "2026-03-02", "2026-03-05", 1),
         ("Z-3", "P-Y", 3, "3500", "2026-03-02", "2026-03-05", 1))
    load(engine, "deaths", f"payee_id,died_on\n{person(1)},2026-03-01\n")
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["flags", "--domain", "FUNDS", "--as-of", "2026-11-20T12:00"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["domain", "subject", "flag", "light", "amount", "reason"]
    assert {r[2] for r in rows[1:]} >= {"FND-R02", "FND-R03", "FND-R04"}
    for n in (1, 2, 3):
        assert person(n) not in out and account(n) not in out
    assert main(["export", "payments"]) == 0
    out = capsys.readouterr().out
    assert person(1) not in out and account(1) not in out


def test_public_village_list_masks_names(engine):
    vid, vcode = _village(engine)
    pays(engine, ("U-1", "P-M", 1, "500", "2026-03-02", "2026-03-05", 1, vcode),
         ("U-2", "P-M", 2, "450", "2026-03-02", "", 2, vcode))  # not paid yet: not listed
    with db.read_scope(engine) as s:
        places = store.public_places(s)
        df = store.public_village(s, vid, AS_OF, 2026)
    assert list(places["village"]) == ["东坡村"]
    assert df.to_dict("records") == [{"项目": "低保金", "资金类别": "扶贫救灾资金", "收款人": "陈*",
                                      "金额（元）": "500.00", "发放日期": "2026-03-05"}]


def test_demo_plants_every_kind_of_anomaly(demo_engine):
    from tests.conftest import ANCHOR

    with db.read_scope(demo_engine) as s:
        ev = flags.evaluate(s, domain="FUNDS", as_of=ANCHOR)
        n = s.scalar(select(text("count(*)")).select_from(FundPayment.__table__))
    codes = {r.code for r in ev.records}
    assert codes == {r.code for r in flags.rules_of("FUNDS")}
    assert n > 8000 and not ev.warnings()
    assert date(2026, 1, 1) <= ANCHOR.date()


def test_execution_curves_sum_each_local_day_into_its_week(engine):
    """The curve's actual spending: payments summed by local (Asia/Shanghai) day, cumulated at
    each week's point (every seventh day from 1 January: Thursday 5 March 2026 is one); a
    payment at 23:30 local time on the 5th counts by then, at 00:30 on the 6th (still the 5th
    in UTC) not; one paid after the as-of time not at all."""
    pays(engine, ("C-1", "P-Y", 1, "1000", "2026-02-20", "2026-03-05T23:30", 1),
         ("C-2", "P-Y", 2, "2000", "2026-02-20", "2026-03-06T00:30", 2),
         ("C-3", "P-Y", 3, "500.5", "2026-02-20", "2026-03-06T08:00", 3),
         ("C-4", "P-M", 4, "800", "2026-02-20", "2026-03-05T09:00", 4),
         ("C-5", "P-Y", 5, "700", "2026-02-20", "2026-03-06T10:00", 5))  # after the as-of time
    as_of = datetime(2026, 3, 6, 9, 0, tzinfo=TZ)
    with db.read_scope(engine) as s:
        df = store.execution_curves(s, INSPECTOR, as_of)
        line = s.execute(text("SELECT name FROM subsystems WHERE code = 'FARMSUB'")).scalar()
    actual = df[(df["series"] == "实际支出") & (df["line_name"] == line)].set_index("day")["share"]
    paid = {date(2026, 3, 5): 1000.0, date(2026, 3, 6): 2500.5}
    assert len(actual) >= 9
    for day, share in actual.items():
        expected = sum(v for d, v in paid.items() if d <= day.date()) / 1_000_000
        assert share == pytest.approx(expected), day
    assert actual[pd.Timestamp(date(2026, 3, 5))] == pytest.approx(0.001)
    assert actual.iloc[-1] == pytest.approx(0.0035005)
    # Summed in SQL: one row per program and local day (two payments on the 6th: one row).
    with db.read_scope(engine) as s:
        ids = dict(s.execute(text("SELECT code, id FROM fund_programs")).all())
        rows = store.paid_by_day(s, [ids["P-Y"], ids["P-M"]], datetime(2026, 1, 1, tzinfo=TZ),
                                 as_of)
    expected = sorted([(ids["P-Y"], date(2026, 3, 5), 1000.0),
                       (ids["P-Y"], date(2026, 3, 6), 2500.5),
                       (ids["P-M"], date(2026, 3, 5), 800.0)])
    assert [(p, d) for p, d, _ in rows] == [(p, d) for p, d, _ in expected]
    assert [a for *_, a in rows] == pytest.approx([a for *_, a in expected])
