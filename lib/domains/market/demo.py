"""Demo data of 要素市场: a year of tenders, their bids, land and property transfers, mostly
clean, with each red flag planted on a few realistic cases (a split purchase, a cover bidder,
an award to a company founded weeks before the notice …). Deterministic for a seed and anchor."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lib import audit
from lib.config import TZ
from lib.models import Region, Unit
from lib.workdays import load_calendar

from .models import Bid, LandTransfer, PropertyTransfer, Tender
from .steps import Steps

ACTOR = "演示数据"
BUYERS = ["ZJ.JY", "ZJ.WJ", "ZJ.JT", "ZJ.SW", "ZJ.ZJ", "ZJ.CZ", "ZJ.GA", "ZJ.ZSJ", "ZJ.CGZF",
          "ZJ.NY", "ZJ.MZ", "ZJ.RS", "ZJ.STHJ", "ZJ.WGLT", "ZJ.SCJG", "ZJ.YB", "440802.ZJ",
          "440803.ZJ", "440823.ZJ", "440825.ZJ", "440881.ZJ", "440882.ZJ", "440883.ZJ",
          "440811.ZJ"]
GOODS = ["货物·办公设备", "货物·信息化设备", "货物·医疗设备", "货物·教学设备", "货物·车辆"]
SERVICES = ["服务·物业管理", "服务·信息系统运维", "服务·咨询评估", "服务·印刷", "服务·保安"]
WORKS = ["工程·道路", "工程·房建", "工程·水利", "工程·管网"]
TITLES = {"货物·办公设备": "办公设备采购", "货物·信息化设备": "信息化设备采购",
          "货物·医疗设备": "医疗设备采购", "货物·教学设备": "教学设备采购", "货物·车辆": "公务车辆采购",
          "服务·物业管理": "物业管理服务", "服务·信息系统运维": "信息系统运维服务",
          "服务·咨询评估": "咨询评估服务", "服务·印刷": "印刷服务", "服务·保安": "保安服务",
          "工程·道路": "道路改造工程", "工程·房建": "业务用房建设工程", "工程·水利": "河道整治工程",
          "工程·管网": "污水管网工程"}
WORDS = ["海湾", "南港", "粤西", "红土", "蓝海", "椰风", "雷州湾", "北部湾", "鼎盛", "广利", "南粤",
         "金沙", "东海岛", "鉴江", "湖光"]
TRADES = ["建设", "贸易", "科技", "信息", "物业", "设备", "工程", "环境"]
DISQ = ["投标保证金未按时缴纳", "资格证明文件不全", "未按要求签字盖章", "技术参数不满足实质性要求",
        "报价超出最高限价"]
METHOD_MIX = [("open", 40), ("consultation", 17), ("negotiation", 12), ("inquiry", 20),
              ("invited", 5), ("single_source", 6)]
OPEN_THRESHOLD = 4_000_000


@dataclass
class Supplier:
    code: str
    name: str
    founded: date
    sme: bool
    bids: int = 0
    wins: int = 0


@dataclass
class Plan:
    """One tender as planned, before the dates past the anchor are cut."""

    buyer: Unit
    method: str
    category: str
    estimate: float
    published: datetime
    plant: set = field(default_factory=set)
    bidders: list = field(default_factory=list)


def _at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=TZ)


class _Demo:
    def __init__(self, session: Session, rng: random.Random, anchor: datetime, scale: float):
        self.s, self.rng, self.anchor = session, rng, anchor
        self.cal = load_calendar(session)
        units = {u.code: u for u in session.scalars(select(Unit))}
        self.units = units
        self.buyers = [units[c] for c in BUYERS if c in units]
        self.n = max(60, int(300 * min(scale, 1.5)))
        self.suppliers: list[Supplier] = []
        seen = set()
        for i in range(42):
            name = f"湛江市{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司"
            while name in seen:
                name = f"湛江市{rng.choice(WORDS)}{rng.choice(TRADES)}{rng.choice('一二三四五')}有限公司"
            seen.add(name)
            founded = date(rng.randint(2003, 2019), rng.randint(1, 12), rng.randint(1, 28))
            self.suppliers.append(Supplier(f"914408{i:04d}MA5{rng.randint(1000, 9999)}",
                                           name, founded, rng.random() < 0.7))
        self.serial = 0

    # -- tenders -------------------------------------------------------------------------------
    def plans(self) -> list[Plan]:
        rng = self.rng
        start = self.anchor - timedelta(days=365)
        methods = [m for m, w in METHOD_MIX for _ in range(w)]
        out = []
        for _ in range(self.n):
            method = rng.choice(methods)
            if method == "open":
                category = rng.choice(GOODS + SERVICES + WORKS + WORKS)
                estimate = rng.uniform(4.2, 30 if category.startswith("工程") else 9) * 1e6
            else:
                category = rng.choice(GOODS + SERVICES + WORKS)
                estimate = rng.uniform(0.15, 0.85) * 1e6
            day = (start + timedelta(days=rng.uniform(0, 355))).astimezone(TZ).date()
            while not self.cal.is_workday(day):
                day += timedelta(days=1)
            out.append(Plan(rng.choice(self.buyers), method, category, round(estimate, -2),
                            _at(day, rng.choice((9, 10, 15)))))
        return out

    def plant(self, plans: list[Plan]) -> None:
        """Mark a few tenders for each anomaly (on tenders old enough to be awarded)."""
        rng = self.rng
        old = [p for p in plans if p.published < self.anchor - timedelta(days=80)]
        rng.shuffle(old)
        by_method = {}
        for p in old:
            by_method.setdefault(p.method, []).append(p)

        def take(method, n, tag):
            pool = [p for p in by_method.get(method, []) if not p.plant]
            for p in pool[:n]:
                p.plant.add(tag)

        take("open", 1, "single")
        take("consultation", 2, "single")
        take("open", 2, "short")
        take("inquiry", 1, "short")
        take("consultation", 2, "short_margin")
        take("open", 2, "close")
        take("consultation", 1, "close")
        take("open", 2, "discount")
        take("open", 2, "identical")
        take("open", 1, "late")
        take("consultation", 1, "late")
        take("open", 2, "all_out")
        take("inquiry", 2, "lowest_out")
        take("open", 2, "newco")
        take("open", 1, "amend")
        take("consultation", 1, "amend")
        take("open", 2, "pub_late")
        take("consultation", 1, "pub_late")
        take("open", 2, "con_late")
        take("open", 3, "pay_late")

    def special_buyers(self, plans: list[Plan]) -> None:
        rng = self.rng
        # A buyer that buys mostly by single source or invitation.
        b1 = self.units.get("ZJ.CGZF")
        mine = [p for p in plans if p.buyer is b1 and not p.plant]
        for p in mine[: max(1, int(len(mine) * 0.6))]:
            p.method = "single_source" if rng.random() < 0.7 else "invited"
            p.estimate = round(rng.uniform(0.2, 0.8) * 1e6, -2)
            if p.category.startswith("工程"):
                p.category = "服务·保安"
        # A buyer whose contracts go to one supplier.
        b2 = self.units.get("ZJ.WGLT")
        for p in [p for p in plans if p.buyer is b2 and not p.plant][:10]:
            p.plant.add("favourite")
        # A buyer that disqualifies many bids.
        b3 = self.units.get("440882.ZJ")
        for p in [p for p in plans if p.buyer is b3 and p.method != "single_source"]:
            p.plant.add("strict")
        # Split purchases: three inquiries of one item within six weeks, each under 400万.
        b4 = self.units.get("ZJ.ZSJ")
        base = self.anchor - timedelta(days=150)
        for i, est in enumerate((1_480_000, 1_560_000, 1_390_000)):
            day = (base + timedelta(days=14 * i)).astimezone(TZ).date()
            while not self.cal.is_workday(day):
                day += timedelta(days=1)
            plans.append(Plan(b4, "inquiry", "货物·信息化设备", est, _at(day, 10)))
        b5 = self.units.get("440823.ZJ")
        base = self.anchor - timedelta(days=240)
        for i, est in enumerate((1_150_000, 1_080_000, 1_210_000, 990_000)):
            day = (base + timedelta(days=21 * i)).astimezone(TZ).date()
            while not self.cal.is_workday(day):
                day += timedelta(days=1)
            plans.append(Plan(b5, "negotiation", "服务·物业管理", est, _at(day, 9)))

    def write(self) -> dict:
        rng = self.rng
        plans = self.plans()
        self.special_buyers(plans)
        self.plant(plans)
        plans.sort(key=lambda p: p.published)
        covers = [Supplier(f"914408{90 + i:04d}MA5C{rng.randint(100, 999)}", name,
                           date(2012 + i, 3, 8), True)
                  for i, name in enumerate(("湛江市恒通贸易有限公司", "湛江市宏远设备有限公司"))]
        rejected = Supplier("91440800MA5R0001X", "湛江市速达工程有限公司", date(2016, 5, 20), True)
        favourite = Supplier("91440800MA5F0001Y", "湛江市文景科技有限公司", date(2011, 9, 1), True)
        steps = Steps(self.s, self.cal, ACTOR, bulk=True)
        self.bid_rows: list[tuple[Tender, dict]] = []
        tenders = [self._tender(p, covers, rejected, favourite) for p in plans]
        self.s.add_all(tenders)
        self.s.flush()
        self.s.execute(insert(Bid), [row | {"tender_id": t.id} for t, row in self.bid_rows])
        for t in tenders:
            steps.tender(t)
        self._land(steps)
        self._property(steps)
        self.s.flush()
        items = steps.flush()
        audit.record(self.s, actor=ACTOR, action="market.demo", entity="database",
                     entity_id="MARKET", after={"tenders": len(tenders), "items": items})
        return {"tenders": len(tenders), "items": items}

    def _pick_bidders(self, p: Plan, n: int) -> list[Supplier]:
        pool = sorted(self.suppliers, key=lambda s: (s.bids, self.rng.random()))
        return pool[: n * 2][:: 2][:n] if n * 2 <= len(pool) else pool[:n]

    def _tender(self, p: Plan, covers, rejected, favourite) -> Tender:
        rng, cal = self.rng, self.cal
        self.serial += 1
        prefix = "ZJGC" if p.category.startswith("工程") else "ZJCG"
        ext = f"{prefix}-{p.published.year}-{self.serial:04d}"
        pub_day = p.published.astimezone(TZ).date()
        # The submission period the law sets, with the buyer's usual slack.
        if p.method in ("open", "invited"):
            days = rng.randint(22, 30)
            if "short" in p.plant:
                days = rng.choice((14, 15, 17))
            deadline = _at(pub_day + timedelta(days=days), 9, 30)
        elif p.method == "consultation":
            days = rng.randint(12, 18)
            if "short_margin" in p.plant:
                days = rng.choice((10, 11))
            deadline = _at(pub_day + timedelta(days=days), 9, 30)
        elif p.method in ("negotiation", "inquiry"):
            wd = 2 if "short" in p.plant else rng.randint(5, 8)
            deadline = _at(cal.add_working_days(pub_day, wd), 9, 30)
        else:
            deadline = None
        # Bidders and prices.
        if p.method == "single_source":
            n = 1
        elif "single" in p.plant:
            n = 1
        elif p.method == "open":
            n = rng.randint(4, 7)
        else:
            n = rng.randint(3, 5)
        bidders = self._pick_bidders(p, n)
        if "favourite" in p.plant:
            bidders = [favourite] + bidders[: max(2, n - 1)]
        if "newco" in p.plant:
            founded = pub_day - timedelta(days=rng.randint(35, 110))
            bidders = [Supplier(f"91440800MA5N{self.serial:04d}", f"湛江市{rng.choice(WORDS)}"
                                f"{rng.choice(('创新', '智联', '恒达'))}科技有限公司", founded, True)] \
                + bidders[:-1]
        w = p.estimate * rng.uniform(0.82, 0.96)
        gap = min(max(rng.gauss(0.06, 0.012), 0.032), 0.095)
        if "close" in p.plant:
            gap = rng.uniform(0.0008, 0.004)
        if "discount" in p.plant:
            gap = rng.uniform(0.26, 0.38)
        prices = [w]
        if len(bidders) > 1:
            prices.append(w * (1 + gap))
            while len(prices) < len(bidders):
                prices.append(prices[-1] * (1 + rng.uniform(0.008, 0.05)))
        if "identical" in p.plant and len(prices) >= 4:
            prices[3] = prices[2]
        # The winner: the lowest bid (prices are sorted), usually.
        order = list(bidders)
        if "favourite" not in p.plant and "newco" not in p.plant and len(order) > 1:
            # Often the least successful regular bidder wins: a regular bidder does not lose
            # for years by chance alone.
            if rng.random() < 0.5:
                order.sort(key=lambda s: (s.wins / s.bids if s.bids else 0, rng.random()))
            else:
                rng.shuffle(order)
        cover_in = []
        if p.method != "single_source" and "single" not in p.plant and rng.random() < 0.45:
            cover_in = [rng.choice(covers)]
        strict = "strict" in p.plant
        if strict and rng.random() < 0.5:
            cover_in.append(rejected)
        elif rng.random() < 0.12 and p.method != "single_source" and "single" not in p.plant:
            cover_in.append(rejected)
        t = Tender(external_id=ext, title=f"{p.buyer.name}{TITLES[p.category]}",
                   buyer_id=p.buyer.id, method=p.method, category=p.category,
                   estimate=Decimal(str(round(p.estimate, 2))), published_at=p.published,
                   bid_deadline=deadline)
        close_at = deadline or (p.published + timedelta(days=3))
        bids = []
        for sup, price in zip(order, prices, strict=False):
            bids.append([sup, price, close_at - timedelta(hours=rng.uniform(1, 60)), False, None])
        for sup in cover_in:  # cover bids: above everyone, never winning
            if sup in order:
                continue
            price = max(prices) * (1 + rng.uniform(0.01, 0.06))
            out = sup is rejected
            bids.append([sup, price, close_at - timedelta(hours=rng.uniform(1, 60)), out,
                         rng.choice(DISQ) if out else None])
        winner = bids[0]
        for b in bids[2:]:
            if b[0] is not rejected and not b[3] and rng.random() < (0.3 if strict else 0.03):
                b[3], b[4] = True, rng.choice(DISQ)
        if "identical" in p.plant and len(bids) >= 4:
            bids[3][3] = bids[2][3] = False
        if "all_out" in p.plant:
            for b in bids[1:]:
                b[3], b[4] = True, rng.choice(DISQ)
        if "lowest_out" in p.plant and len(bids) >= 3:
            # The cheapest bid is rejected; the next cheapest wins at a higher price.
            bids[0][3], bids[0][4] = True, "报价明显低于其他报价，未能证明其合理性"
            winner = bids[1]
        if "late" in p.plant and deadline is not None:
            winner[2] = deadline + timedelta(minutes=rng.randint(20, 95))
        seen = set()
        for sup, price, received, out, reason in bids:
            if sup.code in seen:
                continue
            seen.add(sup.code)
            received = max(received, p.published + timedelta(hours=2))
            if received > self.anchor:
                continue
            sup.bids += 1
            self.bid_rows.append((t, {
                "supplier": sup.code, "supplier_name": sup.name, "supplier_founded": sup.founded,
                "price": Decimal(str(round(price, 2))), "received_at": received,
                "disqualified": out, "reason": reason}))
        # Award, result, contract, delivery and payment, cut at the anchor.
        awarded = close_at + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 6))
        if awarded > self.anchor:
            return t
        win_sup = winner[0]
        win_sup.wins += 1
        t.awarded_at, t.winner = awarded, win_sup.code
        a_day = awarded.astimezone(TZ).date()
        pub = _at(cal.add_working_days(a_day, rng.choice((1, 1, 2))), rng.choice((9, 10, 11)))
        if rng.random() < 0.3:
            pub = awarded + timedelta(hours=rng.randint(2, 20))
        if "pub_late" in p.plant:
            pub = _at(cal.add_working_days(a_day, rng.randint(4, 8)), 10)
        if pub > self.anchor:
            return t
        t.award_published_at = pub
        signed = pub + timedelta(days=rng.randint(4, 24), hours=rng.randint(0, 5))
        if "con_late" in p.plant:
            signed = pub + timedelta(days=rng.randint(38, 52))
        if signed > self.anchor:
            return t
        t.contract_signed_at = signed
        t.contract_value = Decimal(str(round(winner[1], 2)))
        if "amend" in p.plant:
            t.amendments_value = Decimal(str(round(winner[1] * rng.uniform(0.14, 0.26), 2)))
        elif rng.random() < 0.08:
            t.amendments_value = Decimal(str(round(winner[1] * rng.uniform(0.02, 0.09), 2)))
        t.winner_sme = win_sup.sme or "pay_late" in p.plant
        delivered = signed + timedelta(days=rng.randint(15, 80))
        if delivered > self.anchor:
            return t
        t.delivered_at = delivered
        t.acceptance_required = rng.random() < 0.4
        start = delivered
        if t.acceptance_required:
            start = delivered + timedelta(days=rng.randint(3, 14))
            if start > self.anchor:
                return t
            t.accepted_at = start
        paid = start + timedelta(days=rng.randint(5, 26))
        if "pay_late" in p.plant:
            paid = start + timedelta(days=rng.randint(44, 58))
        if paid <= self.anchor:
            t.paid_at = paid
        return t

    # -- land and property ---------------------------------------------------------------------
    def _land(self, steps: Steps) -> int:
        rng = self.rng
        counties = {r.code: r for r in self.s.scalars(select(Region).where(Region.level == "county"))}
        units = [u for c, u in self.units.items() if c.endswith(".ZRZY")]
        uses = [("住宅", "二级", 3200), ("商服", "二级", 4100), ("工业", "三级", 620),
                ("工业", "四级", 480), ("住宅", "三级", 2400)]
        n = 0
        for i in range(28):
            unit = rng.choice(units)
            use, grade, per_m2 = rng.choice(uses)
            method = rng.choice(("listing", "listing", "auction", "tender"))
            if i % 5 == 0:
                method, use, grade, per_m2 = "agreement", "工业", "四级", 480
            area = round(rng.uniform(6000, 60000), -1)
            bench = area * per_m2
            ratio = rng.uniform(1.0, 1.6) if method != "agreement" else rng.uniform(0.74, 0.95)
            if i in (5, 15):
                ratio = rng.uniform(0.52, 0.66)
            concluded = self.anchor - timedelta(days=rng.randint(20, 340), hours=rng.randint(0, 8))
            published = concluded + timedelta(days=rng.randint(1, 9))
            if i in (3, 11):
                published = concluded + timedelta(days=rng.randint(20, 30))
            county = counties.get(unit.code.split(".")[0])
            x = LandTransfer(
                external_id=f"ZJTD-{concluded.year}-{i + 1:03d}",
                parcel=f"{(county.name if county else '湛江市')}{rng.choice(WORDS)}片区 {i + 1:02d} 号地块",
                unit_id=unit.id, region_id=county.id if county else unit.region_id, use=use,
                grade=grade, area=Decimal(str(area)), benchmark_price=Decimal(str(round(bench, 2))),
                method=method, price=Decimal(str(round(bench * ratio, -2))), concluded_at=concluded,
                result_published_at=published if published <= self.anchor else None)
            self.s.add(x)
            n += steps.land(x)
        return n

    def _property(self, steps: Steps) -> int:
        rng = self.rng
        units = [self.units[c] for c in ("ZJ.GZW", "ZJ.CZ", "ZJ.JT") if c in self.units]
        assets = ["国有企业股权（{}%）", "经营性房产", "闲置办公楼", "车辆一批", "机器设备一批"]
        n = 0
        for i in range(20):
            unit = rng.choice(units)
            value = round(rng.uniform(0.5, 30) * 1e6, -2)
            ratio = rng.uniform(1.0, 1.25)
            approval = None
            if i in (4, 13):
                ratio = rng.uniform(0.7, 0.85)
            if i == 8:
                ratio, approval = 0.86, "湛国资函〔2026〕17号"
            contract = self.anchor - timedelta(days=rng.randint(15, 330), hours=rng.randint(0, 6))
            paid = _at(self.cal.add_working_days(contract.astimezone(TZ).date(), rng.randint(1, 4)), 15)
            if i == 10:
                paid = contract + timedelta(days=rng.randint(15, 25))
            asset = rng.choice(assets).format(rng.choice((10, 25, 51)))
            x = PropertyTransfer(
                external_id=f"ZJCQ-{contract.year}-{i + 1:03d}", asset=f"{unit.name[3:]}{asset}",
                unit_id=unit.id, region_id=unit.region_id, appraised_value=Decimal(str(value)),
                price=Decimal(str(round(value * ratio, -2))), contract_at=contract,
                paid_at=paid if paid <= self.anchor else None, approval=approval)
            self.s.add(x)
            n += steps.property(x)
        return n


def load_demo(session: Session, *, rng: random.Random, anchor: datetime,
              scale: float = 1.0) -> dict:
    return _Demo(session, rng, anchor, scale).write()
