"""要素市场 (lib.domains.market): every red flag fires on a hand-built case and stays silent just
past its threshold; fences need their minimum sample; statutory steps are lit by the one
engine; the import kinds take the issue's columns, all rows or none. Both databases."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lib import db, exchange, flags
from lib.access import CurrentUser
from lib.config import TZ
from lib.domains.market import data, rules
from lib.domains.market.models import Bid, LandTransfer, PropertyTransfer, Tender
from lib.domains.market.steps import Steps
from lib.models import Flag, Unit
from lib.workdays import load_calendar

NOW = datetime(2026, 10, 20, 10, 0, tzinfo=TZ)
ADMIN = CurrentUser(None, "guanli", "管理", frozenset({"admin"}))
PUB = datetime(2026, 8, 3, 9, 0, tzinfo=TZ)  # a Monday


def at(day: date | datetime, hour=9, minute=0):
    d = day.date() if isinstance(day, datetime) else day
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=TZ)


class Maker:
    def __init__(self, s):
        self.s = s
        self.units = {u.code: u.id for u in s.scalars(select(Unit))}
        self.n = 0

    def tender(self, *, buyer="ZJ.JY", method="open", category="货物·办公设备", estimate=1e6,
               published=PUB, days=25, bids=None, winner=0, award_after=3, contract=None,
               amendments=None, deadline=None, founded=None):
        """`bids`: list of (price, disqualified) or (price, disqualified, received delta);
        `winner`: index of the winning bid (None: not awarded)."""
        self.n += 1
        ext = f"T-{self.n:03d}"
        deadline = deadline or (at(published + timedelta(days=days), 9, 30) if days is not None
                                else None)
        bids = bids if bids is not None else [(900_000, False), (950_000, False), (990_000, False)]
        close = deadline or published + timedelta(days=2)
        t = Tender(external_id=ext, title=ext, buyer_id=self.units[buyer], method=method,
                   category=category, estimate=Decimal(str(estimate)), published_at=published,
                   bid_deadline=deadline)
        self.s.add(t)
        self.s.flush()
        for i, b in enumerate(bids):
            price, out = b[0], b[1]
            received = close - timedelta(hours=2) if len(b) < 3 else close + b[2]
            self.s.add(Bid(tender_id=t.id, supplier=b[3] if len(b) > 3 else f"{ext}-S{i}",
                           supplier_name=f"供应商{ext}-{i}",
                           supplier_founded=founded if i == winner else date(2010, 1, 1),
                           price=Decimal(str(price)), received_at=received, disqualified=out,
                           reason="资格不合格" if out else None))
        self.s.flush()
        if winner is not None:
            t.awarded_at = close + timedelta(days=award_after)
            w = bids[winner]
            t.winner = w[3] if len(w) > 3 else f"{ext}-S{winner}"
            t.award_published_at = t.awarded_at + timedelta(hours=3)
            t.contract_signed_at = contract or t.award_published_at + timedelta(days=10)
            t.contract_value = Decimal(str(w[0]))
            if amendments is not None:
                t.amendments_value = Decimal(str(amendments))
        self.s.flush()
        return t


def fired(s, code, as_of=NOW) -> dict[str, flags.FlagRecord]:
    return {r.subject: r for r in flags.evaluate(s, domain="MARKET", as_of=as_of,
                                                 codes=[code]).records}


def test_single_bid_R018(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        one = m.tender(bids=[(900_000, False)])
        two = m.tender(bids=[(900_000, False), (950_000, False)])
        sole = m.tender(method="single_source", days=None, bids=[(900_000, False)])
        consult = m.tender(method="consultation", days=15, bids=[(900_000, False)])
        f = fired(s, "MKT-R018")
    assert f[one.external_id].light == "red" and f[consult.external_id].light == "yellow"
    assert two.external_id not in f and sole.external_id not in f


def test_short_submission_period_R003(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        short = m.tender(days=19)
        minimum = m.tender(days=20)
        margin = m.tender(days=21)
        enough = m.tender(days=22)
        cal = load_calendar(s)
        wd2 = m.tender(method="inquiry", deadline=at(cal.add_working_days(PUB.date(), 2), 9, 30))
        wd5 = m.tender(method="inquiry", deadline=at(cal.add_working_days(PUB.date(), 5), 9, 30))
        f = fired(s, "MKT-R003")
    assert f[short.external_id].light == "red" and "19 日" in f[short.external_id].reason
    assert f[minimum.external_id].light == "yellow" and f[margin.external_id].light == "yellow"
    assert enough.external_id not in f and wd5.external_id not in f
    assert f[wd2.external_id].light == "red"
    assert f[short.external_id].thresholds == {"open_days": 20, "margin": 2}


def _gap_population(m, gaps):
    out = []
    for g in gaps:
        w = 1_000_000
        out.append(m.tender(bids=[(w, False), (round(w * (1 + g), 2), False),
                                  (round(w * (1 + g) * 1.05, 2), False)]))
    return out


def test_price_fences_R024_R058(empty_engine):
    base = [0.05 + 0.001 * i for i in range(30)]  # 5 % … 7.9 %
    close, near_low, near_high, far = 0.002, 0.033, 0.095, 0.30
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        ts = _gap_population(m, base + [close, near_low, near_high, far])
        f24, f58 = fired(s, "MKT-R024"), fired(s, "MKT-R058")
        gaps = [round(w * (1 + g), 2) / w - 1 for g, w in
                zip(base + [close, near_low, near_high, far], [1_000_000] * 34, strict=True)]
    q1, _, q3 = statistics.quantiles(gaps, n=4, method="inclusive")
    lower, upper = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert near_low > lower and near_high < upper  # the cases just inside the fences
    assert set(f24) == {ts[30].external_id}
    assert set(f58) == {ts[33].external_id}
    rec = f24[ts[30].external_id]
    assert rec.inputs["样本数"] == 34 and rec.inputs["下围栏"] == round(lower, 4)
    assert rec.thresholds == {"k": 1.5, "min_sample": 30}


def test_fences_need_their_minimum_sample(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        _gap_population(m, [0.05, 0.06, 0.07, 0.06, 0.0005])
        assert not fired(s, "MKT-R024")
        table = {(r["规则"].split()[0], r["分布"]): r for r in rules.fence_table(s, NOW)}
        row = table[("MKT-R024", "次低价与中标价差额比例")]
        assert row["样本数"] == 5 and row["状态"] == "样本不足，不判定" and row["围栏"] == "下围栏 —"
        flags.set_threshold(s, ADMIN, "MKT-R024", "min_sample", 5)
    with db.session_scope(empty_engine) as s:
        assert list(fired(s, "MKT-R024")) == ["T-005"]
    f = data.fence([1, 2, 3], k=1.5, min_sample=4)
    assert not f.ready and f.lower is None and f.n == 3


def test_identical_prices_R028_and_late_winner_R030(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        same = m.tender(bids=[(900_000, False), (950_000, False), (950_000, False)])
        cent = m.tender(bids=[(900_000, False), (950_000, False), (950_000.01, False)])
        late = m.tender(bids=[(900_000, False, timedelta(minutes=1)), (950_000, False)])
        on_time = m.tender(bids=[(900_000, False, timedelta(0)), (950_000, False)])
        f28, f30 = fired(s, "MKT-R028"), fired(s, "MKT-R030")
    assert set(f28) == {same.external_id} and cent.external_id not in f28
    assert set(f30) == {late.external_id} and on_time.external_id not in f30


def test_disqualifications_R035_R036(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        all_out = m.tender(bids=[(900_000, False), (950_000, True), (990_000, True)])
        one_valid = m.tender(bids=[(900_000, False), (950_000, False), (990_000, True)])
        lowest_out = m.tender(method="inquiry", days=None,
                              deadline=at(load_calendar(s).add_working_days(PUB.date(), 5)),
                              bids=[(800_000, True), (900_000, False), (950_000, False)], winner=1)
        m.tender(bids=[(800_000, True), (900_000, False), (950_000, False)], winner=1)
        f35, f36 = fired(s, "MKT-R035"), fired(s, "MKT-R036")
    assert all_out.external_id in f35 and one_valid.external_id not in f35
    assert set(f36) == {lowest_out.external_id}  # an open tender is not decided by price alone
    assert f36[lowest_out.external_id].amount == 100_000


def test_disqualified_share_R038(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        flags.set_threshold(s, ADMIN, "MKT-R038", "min_sample", 5)
        flags.set_threshold(s, ADMIN, "MKT-R038", "min_bids", 4)
        buyers = ["ZJ.JY", "ZJ.WJ", "ZJ.JT", "ZJ.SW", "ZJ.CZ"]
        outs = [0, 0, 1, 0, 3]
        for b, n in zip(buyers, outs, strict=True):
            m.tender(buyer=b, bids=[(900_000, False)] + [(950_000 + i, i < n) for i in range(3)])
        f = fired(s, "MKT-R038")
    # Ratios 0, 0, 1/4, 0, 3/4: Q1 0, Q3 1/4, upper fence 5/8.
    assert "ZJ.CZ" in f and "ZJ.SW" not in f and "ZJ.JT" not in f
    assert f["ZJ.CZ"].inputs["上围栏"] == 0.625


def test_cover_bidder_R025(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        flags.set_threshold(s, ADMIN, "MKT-R025", "min_sample", 5)
        flags.set_threshold(s, ADMIN, "MKT-R025", "min_bids", 4)
        regulars = ["A", "B", "C", "D"]
        for i in range(8):  # each regular wins twice in eight; the cover bidder never
            bids = [(900_000 + 1000 * ((j - i) % 4), False, timedelta(hours=-3), code)
                    for j, code in enumerate(regulars)] + [(990_000, False, timedelta(hours=-3), "COVER")]
            m.tender(bids=bids, winner=i % 4)
        f = fired(s, "MKT-R025")
    # Every regular's ratio is 1/4 (IQR 0, lower fence 1/4): at the fence is not beyond it.
    assert set(f) == {"COVER"}
    assert f["COVER"].inputs["中标"] == 0 and f["COVER"].inputs["有效投标"] == 8


def test_new_winner_and_amendments(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        young = m.tender(founded=PUB.date() - timedelta(days=179))
        old = m.tender(founded=PUB.date() - timedelta(days=180))
        over = m.tender(amendments=90_009)  # contract 900,000: 10.001 %
        cap = m.tender(amendments=90_000)  # exactly 10 %
        fn, fa = fired(s, "MKT-NEWCO"), fired(s, "MKT-AMEND")
    assert young.external_id in fn and old.external_id not in fn
    assert set(fa) == {over.external_id} and cap.external_id not in fa


def test_split_purchases(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        for i, est in enumerate((1_400_000, 1_300_000, 1_300_000)):
            m.tender(buyer="ZJ.ZSJ", method="inquiry", category="货物·信息化设备", estimate=est,
                     published=PUB + timedelta(days=20 * i), days=8)
        for i, est in enumerate((1_400_000, 1_300_000, 1_299_999.99)):  # sums to just under
            m.tender(buyer="ZJ.WJ", method="inquiry", category="货物·信息化设备", estimate=est,
                     published=PUB + timedelta(days=20 * i), days=8)
        for i, est in enumerate((1_400_000, 1_300_000, 1_300_000)):  # spread over 91+ days
            m.tender(buyer="ZJ.JT", method="inquiry", category="货物·信息化设备", estimate=est,
                     published=PUB - timedelta(days=200) + timedelta(days=46 * i), days=8)
        f = fired(s, "MKT-SPLIT")
    assert list(f) == ["T-001"]  # the first of the split purchases
    assert f["T-001"].amount == 4_000_000
    assert f["T-001"].inputs["品目"] == "货物·信息化设备" and "T-003" in f["T-001"].inputs["各笔"]


def test_noncompetitive_share_and_concentration(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        for code in ("MKT-NONCOMP", "MKT-CONC"):
            flags.set_threshold(s, ADMIN, code, "min_sample", 5)
        flags.set_threshold(s, ADMIN, "MKT-NONCOMP", "min_tenders", 2)
        flags.set_threshold(s, ADMIN, "MKT-CONC", "min_contracts", 2)
        for b in ("ZJ.JY", "ZJ.WJ", "ZJ.JT", "ZJ.SW"):
            m.tender(buyer=b)
            m.tender(buyer=b)
        m.tender(buyer="ZJ.CZ", method="single_source", days=None,
                 bids=[(900_000, False, timedelta(0), "FAV")])
        m.tender(buyer="ZJ.CZ", method="single_source", days=None,
                 bids=[(900_000, False, timedelta(0), "FAV")])
        fn, fc = fired(s, "MKT-NONCOMP"), fired(s, "MKT-CONC")
    assert set(fn) == {"ZJ.CZ"}
    # Each other buyer split its spending evenly between two suppliers (share 1/2 = the
    # fence): not beyond it; ZJ.CZ gave all to one.
    assert set(fc) == {"ZJ.CZ"} and fc["ZJ.CZ"].inputs["供应商代码"] == "FAV"


def test_land_and_property(empty_engine):
    with db.session_scope(empty_engine) as s:
        uid = s.scalar(select(Unit.id).where(Unit.code == "ZJ.ZRZY"))
        gzw = s.scalar(select(Unit.id).where(Unit.code == "ZJ.GZW"))

        def land(ext, method, ratio):
            s.add(LandTransfer(external_id=ext, parcel=ext, unit_id=uid, use="工业", grade="四级",
                               area=10000, benchmark_price=4_800_000, method=method,
                               price=Decimal(str(round(4_800_000 * ratio, 2))), concluded_at=PUB,
                               result_published_at=PUB + timedelta(days=3)))

        def prop(ext, ratio, approval=None):
            s.add(PropertyTransfer(external_id=ext, asset=ext, unit_id=gzw, appraised_value=1e6,
                                   price=Decimal(str(round(1e6 * ratio, 2))), contract_at=PUB,
                                   paid_at=PUB + timedelta(days=2), approval=approval))

        land("L-1", "agreement", 0.6999)
        land("L-2", "agreement", 0.70)
        land("L-3", "listing", 0.5)
        prop("P-1", 0.8999)
        prop("P-2", 0.8999, "湛国资函〔2026〕17号")
        prop("P-3", 0.90)
        s.flush()
        fl, fp = fired(s, "MKT-LAND"), fired(s, "MKT-PROP")
    assert set(fl) == {"L-1"} and set(fp) == {"P-1"}
    assert fl["L-1"].light == "red" and fp["P-1"].amount == 100_100


def test_statutory_steps_are_lit_by_the_engine(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        cal = load_calendar(s)
        steps = Steps(s, cal, "测试")
        late_pub = m.tender()
        late_pub.award_published_at = at(cal.add_working_days(late_pub.awarded_at.date(), 3), 10)
        late_pub.contract_signed_at = late_pub.award_published_at + timedelta(days=5)
        ok = m.tender()
        late_con = m.tender()
        late_con.contract_signed_at = late_con.award_published_at + timedelta(days=31)
        sme_ok = m.tender()
        sme_late = m.tender()
        capped = m.tender()
        for t, accept, paid in ((sme_ok, 10, 35), (sme_late, None, 31), (capped, 50, 65)):
            t.winner_sme, t.delivered_at = True, t.contract_signed_at + timedelta(days=20)
            t.acceptance_required = accept is not None
            t.accepted_at = t.delivered_at + timedelta(days=accept) if accept else None
            t.paid_at = t.delivered_at + timedelta(days=paid)
        s.flush()
        for t in (late_pub, ok, late_con, sme_ok, sme_late, capped):
            steps.tender(t)
        later = datetime(2026, 12, 31, tzinfo=TZ)
        pub, con, pay = (fired(s, c, later) for c in ("MKT-PUB", "MKT-CON", "MKT-PAY"))
    assert set(pub) == {late_pub.external_id} and pub[late_pub.external_id].light == "red"
    assert set(con) == {late_con.external_id}
    assert set(pay) == {sme_late.external_id, capped.external_id}
    assert "超期" in pay[capped.external_id].reason


def test_flags_become_cards_and_refresh_is_idempotent(empty_engine):
    with db.session_scope(empty_engine) as s:
        m = Maker(s)
        m.tender(bids=[(900_000, False)])
        first = flags.refresh(s, domain="MARKET", now=NOW)
        again = flags.refresh(s, domain="MARKET", now=NOW + timedelta(minutes=5))
        assert first.new == 1 and (again.new, again.updated, again.withdrawn) == (0, 0, 0)
        flag = s.scalar(select(Flag))
        assert (flag.code, flag.subject, flag.light) == ("MKT-R018", "T-001", "red")


TENDERS = ("external_id,buyer,method,category,estimate,published_at,bid_deadline,awarded_at,"
           "award_published_at,contract_signed_at,contract_value,winner\n"
           "ZJCG-1,ZJ.JY,open,货物·办公设备,5000000,2026-08-03T09:00,2026-08-14T09:30,"
           "2026-08-17T10:00,2026-08-17T15:00,2026-08-25T10:00,4500000,S1\n"
           "ZJCG-2,ZJ.WJ,单一来源,服务·保安,300000,2026-08-03T09:00,,,,,,\n")
BIDS = ("tender,supplier,supplier_name,supplier_founded,price,received_at,disqualified,reason\n"
        "ZJCG-1,S1,湛江市甲公司,2015-01-01,4500000,2026-08-14T09:00,0,\n"
        "ZJCG-1,S2,湛江市乙公司,2014-01-01,4700000,2026-08-14T09:10,1,资格证明文件不全\n")


def test_import_tenders_and_bids(empty_engine):
    with db.session_scope(empty_engine) as s:
        r = exchange.import_bytes(s, "tenders", TENDERS.encode(), filename="t.csv", actor="t")
        assert (r.created, r.rows) == (2, 2)
        exchange.import_bytes(s, "bids", BIDS.encode(), filename="b.csv", actor="t")
        assert s.scalar(select(Tender.method).where(Tender.external_id == "ZJCG-2")) == "single_source"
        codes = set(s.scalars(select(Flag.code).where(Flag.subject == "ZJCG-1")))
        # 11 days for an open tender; every other bidder disqualified.
        assert {"MKT-R003", "MKT-R035"} <= codes
        header, rows = exchange.export_table(s, "tenders")
        assert header[:3] == ["external_id", "buyer", "method"] and len(rows) == 2
        for kind in ("tenders", "bids"):  # what is exported imports back unchanged
            header, rows = exchange.export_table(s, kind)
            again = exchange.import_bytes(s, kind, _csv(header, rows), filename="x.csv",
                                          actor="t")
            assert (again.created, again.updated, again.unchanged) == (0, 0, 2), kind
    bad = TENDERS.replace("ZJ.WJ", "ZJ.NOPE").replace("ZJCG-1,", "ZJCG-9,")
    with db.session_scope(empty_engine) as s:
        with pytest.raises(exchange.ImportFailed) as exc:
            exchange.import_bytes(s, "tenders", bad.encode(), filename="t.csv", actor="t")
        assert any("第3行" in e and "ZJ.NOPE" in e for e in exc.value.errors)
        assert s.scalar(select(Tender.id).where(Tender.external_id == "ZJCG-9")) is None
        with pytest.raises(exchange.ImportFailed, match="未知项目"):
            exchange.import_bytes(s, "bids", BIDS.replace("ZJCG-1", "ZJCG-404").encode(),
                                  filename="b.csv", actor="t")


@pytest.fixture
def app_url(sqlite_demo_url, tmp_path, monkeypatch):
    from tests.apptest_helpers import copy_sqlite

    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def test_the_market_page_and_an_inspectors_dismissal(app_url):
    """AppTest: the page opens with the demo's planted flags, fences and a tender's bids; an
    inspector dismisses a flag with a reason and its card is cancelled."""
    from tests.apptest_helpers import app, errors, login

    at = login(app(), "inspector")
    at.switch_page("pages/market.py").run()
    assert not at.exception and not errors(at)
    text = " ".join(m.value for m in at.markdown)
    assert "项目风险队列" in text
    # Only the selected tab runs: the other tabs' content is drawn when each is opened.
    assert "由数据计算的围栏" not in text and "全部投标" not in text
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["触发规则的发现"]) >= 30
    for tab, shown in (("按采购人与供应商", "按采购人（责任单位）"), ("项目详查", "全部投标"),
                       ("规则与围栏", "由数据计算的围栏"), ("趋势", "每月发现数")):
        at.session_state["market_tab"] = tab
        at.run()
        assert not at.exception and not errors(at), tab
        assert shown in " ".join(m.value for m in at.markdown), tab
    # The rules' table shows a ratio threshold in percent (70%, not 0.7).
    at.session_state["market_tab"] = "规则与围栏"
    at.run()
    shown = [df.value for df in at.dataframe if "阈值" in df.value.columns]
    assert shown, "the rules' table"
    land = shown[0].set_index("规则").loc["MKT-LAND", "阈值"]
    assert land == "成交价不低于基准地价的比例=70%", land
    # A tender picked in 项目详查 is still picked after another tab was open.
    at.session_state["market_tab"] = "项目详查"
    at.run()
    tender = at.selectbox(key="market_tender")
    other = tender.options[1].split(" · ")[0]  # the options are shown as "code · title · buyer"
    assert tender.value != other
    tender.select(other).run()
    at.session_state["market_tab"] = "趋势"
    at.run()
    at.session_state["market_tab"] = "项目详查"
    at.run()
    assert at.selectbox(key="market_tender").value == other
    at.session_state["market_tab"] = "核查队列"
    at.run()
    pick = at.selectbox(key="market_flag_pick")
    first = pick.value
    at.text_area(key=f"flag_note_{first}").input("经核查系录入错误，非违规")
    next(b for b in at.button if b.label == "排除（撤销红黄牌）").click()
    at.run()
    assert not errors(at), errors(at)
    with db.read_scope(db.get_engine(app_url)) as s:
        flag = s.get(Flag, first)
        assert flag.status == "dismissed" and flag.decided_by == "inspector"
    staff = login(app(), "staff")
    staff.switch_page("pages/market.py").run()
    assert len(errors(staff)) == 1 and "无权访问" in errors(staff)[0]


LAND = ("external_id,parcel,unit,county,use,grade,area,benchmark_price,method,price,concluded_at,"
        "result_published_at\n"
        "ZJTD-1,北部湾片区 01 号地块,440823.ZRZY,440823,工业,四级,10000,4800000,协议出让,3000000,"
        "2026-08-03T10:00,2026-08-05T10:00\n")
PROPERTY = ("external_id,asset,unit,appraised_value,price,contract_at,paid_at,approval\n"
            "ZJCQ-1,闲置办公楼,ZJ.GZW,1000000,850000,2026-08-03T10:00,2026-08-04T10:00,\n")


def test_import_land_and_property(empty_engine):
    with db.session_scope(empty_engine) as s:
        exchange.import_bytes(s, "land", LAND.encode(), filename="l.csv", actor="t")
        exchange.import_bytes(s, "property", PROPERTY.encode(), filename="p.csv", actor="t")
        codes = dict(s.execute(select(Flag.subject, Flag.code)).all())
        assert codes == {"ZJTD-1": "MKT-LAND", "ZJCQ-1": "MKT-PROP"}
        header, rows = exchange.export_table(s, "land")
        again = exchange.import_bytes(s, "land", _csv(header, rows), filename="l.csv", actor="t")
        assert (again.created, again.unchanged) == (0, 1)
        with pytest.raises(exchange.ImportFailed, match="未知单位代码"):
            exchange.import_bytes(s, "property", PROPERTY.replace("ZJ.GZW", "ZJ.X").encode(),
                                  filename="p.csv", actor="t")


def _csv(header, rows) -> bytes:
    import io

    buf = io.StringIO()
    exchange.write_csv(header, rows, buf)
    return buf.getvalue().encode()


def test_the_risk_queues_read_the_weights_once_and_agree(demo_engine):
    """The page reads the rules' weights once and hands them to both queues: the same queues
    as when each reads them itself, and no rule of the domain's findings without a weight."""
    from lib.domains.market import queries

    now = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    with db.read_scope(demo_engine) as s:
        records = flags.evaluate(s, domain="MARKET", as_of=now).records
        assert records
        weights = {code: float(t["weight"])
                   for code, t in flags.thresholds_of(s, flags.rules_of("MARKET")).items()}
        assert {r.code for r in records} <= set(weights)
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        assert flags.risk_queue(s, records, weights=weights) == flags.risk_queue(s, records)
        assert queries.buyer_risk(s, records, units, weights=weights) == \
            queries.buyer_risk(s, records, units)
        # A changed weight reaches the queue only through what is handed over.
        heavier = {code: w * 2 for code, w in weights.items()}
        assert flags.risk_queue(s, records, weights=heavier)[0].score == \
            2 * flags.risk_queue(s, records)[0].score
