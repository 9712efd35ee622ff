"""专项资金's demo: a year of payments per fund line, down to the person paid, with a few planted
anomalies of each kind the rules look for (and many more ordinary payments they must leave alone).

Per county: 耕地地力保护补贴 (once a year, by area), 城乡低保 and 城乡居民基础养老金 (monthly),
临时救助 (as needed); city-wide: 失业保险金 and 住房公积金租房提取 (monthly, for some months),
农机购置补贴, 产业发展专项资金 (to enterprises), and ten units' "三公" spending for this year and
last. Planted: payments twice over, accounts shared by several payees, pensions still paid after
death and a subsidy to a closed enterprise, amounts above the standard, above the payee's own
history, above the monthly cap, late payments, cadres' households among a village's payees,
programs behind plan, and "三公" spending over budget or above last year's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from lib import privacy
from lib.config import TZ
from lib.domains.funds import ids
from lib.domains.funds.kinds import ITEM_PREFIX, payment_title
from lib.domains.funds.models import (
    FundAccount,
    FundPayee,
    FundPayment,
    FundProgram,
    FundRegisterEntry,
    FundResident,
)
from lib.models import Item, ItemEvent, Region, Subsystem, Unit
from lib.workdays import TimeLimit, load_calendar

ACTOR = "演示数据"
SURNAMES = list("陈李黄林吴张梁王杨何刘钟郑谢冯许邓莫庞符蔡周揭柯全戚洪詹龙苏卢")
GIVEN = list("伟强军平华建国明志海波文斌辉宁丽芳敏静娟燕红霞玲婷晓东永德光春秋雄杰涛鹏")
FIRMS = ["海湾", "南港", "粤西", "红土", "蓝海", "椰风", "雷州湾", "北部湾", "鼎盛", "广利", "金沙",
         "港城", "湖光", "鹤地", "南珠"]
TRADES = ["水产养殖", "农产品加工", "食品", "物流", "家具制造", "饲料", "电子", "糖业"]
HOSPITALITY = ["宾馆", "酒店", "汽车维修服务", "餐饮管理", "旅行社"]
THREEPUB_DEPTS = ["FG", "JY", "GA", "MZ", "CZ", "ZRZY", "ZJ", "JT", "NY", "WJ"]
CADRE_POSTS = ["村党支部书记", "村委会主任", "村委会委员"]


@dataclass
class Prog:
    id: int
    code: str
    name: str
    line: str
    unit: Unit
    year: int
    standard: float | None
    cap: float | None
    days: int | None
    budget_factor: float = 1.03
    pays: list = field(default_factory=list)  # planned payments (dicts)


@dataclass
class Payee:
    id: int
    clear: str
    name: str
    kind: str
    village_id: int | None
    account: int = 0


class _Demo:
    def __init__(self, session: Session, rng: random.Random, anchor: datetime, scale: float):
        self.s, self.rng, self.anchor, self.scale = session, rng, anchor, scale
        self.today = anchor.astimezone(TZ).date()
        self.year = self.today.year
        self.cal = load_calendar(session)
        self.units = {u.code: u for u in session.scalars(select(Unit))}
        self.subs = {s.code: s for s in session.scalars(select(Subsystem))}
        regions = list(session.scalars(select(Region)))
        self.counties = sorted((r for r in regions if r.level == "county"), key=lambda r: r.code)
        town_county = {r.id: r.parent_id for r in regions if r.level == "town"}
        self.villages_of: dict[int, list[Region]] = {c.id: [] for c in self.counties}
        self.county_of_village: dict[int, int] = {}
        for r in sorted((r for r in regions if r.level == "village"), key=lambda r: r.code):
            county = town_county.get(r.parent_id)
            if county in self.villages_of:
                self.villages_of[county].append(r)
                self.county_of_village[r.id] = county
        self.hash = ids.Hasher()
        self.enc = privacy.encryptor()
        self.next = {t: (session.scalar(select(func.max(c))) or 0) + 1 for t, c in (
            ("program", FundProgram.id), ("payee", FundPayee.id), ("account", FundAccount.id),
            ("payment", FundPayment.id), ("item", Item.id))}
        self.programs: list[Prog] = []
        self.payees: list[Payee] = []
        self.accounts: list[dict] = []
        self.used_ids: set[str] = set()
        self.register: list[dict] = []
        self.residents: list[dict] = []

    def _id(self, table: str) -> int:
        n = self.next[table]
        self.next[table] += 1
        return n

    # -- people, firms, accounts --------------------------------------------------------------
    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN)
                                                   for _ in range(self.rng.choice((1, 2, 2))))

    def person_id(self, county: str, old: bool = False) -> str:
        while True:
            born = date(self.rng.randint(1938, 1962) if old else self.rng.randint(1955, 2000),
                        self.rng.randint(1, 12), self.rng.randint(1, 28))
            first = f"{county}{born:%Y%m%d}{self.rng.randint(0, 999):03d}"
            value = first + ids.check_digit(first)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def credit_code(self) -> str:
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            value = "91440800" + "".join(self.rng.choice(chars) for _ in range(10))
            if value not in self.used_ids and not value.isdigit():
                self.used_ids.add(value)
                return value

    def account(self) -> int:
        aid = self._id("account")
        number = "6217" + "".join(str(self.rng.randint(0, 9)) for _ in range(15))
        self.accounts.append({"id": aid, "hash": self.hash.account(number),
                              "enc": self.enc(number)})
        return aid

    def payee(self, *, county: str = "440800", village: Region | None = None, old=False,
              firm: str | None = None) -> Payee:
        if firm:
            p = Payee(self._id("payee"), self.credit_code(), firm, "enterprise", None)
        else:
            p = Payee(self._id("payee"), self.person_id(county, old), self.name(), "person",
                      village.id if village else None)
        p.account = self.account()
        self.payees.append(p)
        return p

    def firm(self, words=TRADES, suffix="有限公司") -> str:
        return f"湛江市{self.rng.choice(FIRMS)}{self.rng.choice(words)}{suffix}"

    # -- programs and payments ----------------------------------------------------------------
    def program(self, code: str, name: str, line: str, unit: str, *, year=None, standard=None,
                cap=None, days=None, factor=None) -> Prog:
        p = Prog(self._id("program"), code, name, line, self.units[unit], year or self.year,
                 standard, cap, days, factor or self.rng.uniform(0.99, 1.06))
        self.programs.append(p)
        return p

    def local(self, d: date, hour: int | None = None) -> datetime:
        return datetime.combine(d, time(hour if hour is not None else self.rng.randint(8, 17),
                                        self.rng.choice((0, 15, 30, 45))), tzinfo=TZ)

    def pay(self, prog: Prog, payee: Payee, amount: float, approved: date, *, delay=None,
            account: int | None = None, late=None) -> dict:
        """A planned payment: approved on a day, paid some days later (late now and then)."""
        limit = prog.days or 15
        if delay is None:
            roll = self.rng.random()
            if late or (late is None and roll < 0.02):
                delay = limit + self.rng.randint(2, 25)
            else:
                delay = self.rng.randint(1, max(1, int(limit * 0.7)))
        approved_at = self.local(approved)
        paid_at = self.local(approved + timedelta(days=delay)) if delay >= 0 else None
        row = {"prog": prog, "payee": payee, "amount": round(amount, 2), "approved": approved_at,
               "paid": paid_at, "account": account or payee.account}
        prog.pays.append(row)
        return row

    def monthly(self, prog: Prog, payee: Payee, amount: float, months, day=8, stop: date | None = None):
        for m in months:
            d = date(prog.year, m, min(28, day + self.rng.randint(0, 3)))
            if stop is not None and d > stop:
                break
            self.pay(prog, payee, amount, d, delay=self.rng.randint(1, 5))

    # -- the fund lines -----------------------------------------------------------------------
    def build(self) -> None:
        rng, y = self.rng, self.year
        n = lambda k: max(3, int(k * self.scale))  # noqa: E731
        months = list(range(1, 13))
        self.village_payees: dict[int, list[Payee]] = {}
        planted_villages = []
        self.deaths_stopped: list[tuple[Payee, date]] = []
        self.deaths_paid: list[tuple[Payee, date]] = []
        self.farm = {}
        self.lsjz = {}
        for ci, county in enumerate(self.counties):
            cc = county.code
            pool = self.villages_of[county.id]
            villages = rng.sample(pool, min(12, len(pool)))
            farm = self.program(f"NY{y}-GDDL-{cc}", f"{county.name}{y}年耕地地力保护补贴", "FARMSUB",
                                f"{cc}.NY", standard=3000.0, days=30)
            self.farm[ci] = farm
            for _ in range(n(210)):
                v = rng.choice(villages)
                p = self.payee(county=cc, village=v)
                self.village_payees.setdefault(v.id, []).append(p)
                mu = rng.choice((2, 3, 4, 5, 6, 8, 10, 12, 15)) + rng.choice((0, 0.5))
                approved = date(y, rng.randint(3, 5), rng.randint(1, 28))
                self.pay(farm, p, mu * 118.6, approved)
            db = self.program(f"MZ{y}-DB-{cc}", f"{county.name}{y}年城乡最低生活保障金", "RELIEF",
                              f"{cc}.MZ", cap=850.0, days=10)
            yl = self.program(f"RS{y}-JMYL-{cc}", f"{county.name}{y}年城乡居民基础养老金", "SOCSEC",
                              f"{cc}.RS", standard=230.0, cap=230.0, days=10)
            for prog, k, amount in ((db, n(30), None), (yl, n(36), 230.0)):
                for j in range(k):
                    v = rng.choice(villages)
                    p = self.payee(county=cc, village=v, old=prog is yl)
                    self.village_payees.setdefault(v.id, []).append(p)
                    amt = amount or rng.choice((280, 320, 365, 410, 455, 520, 600, 640))
                    stop = None
                    if j % 15 == 7:  # died this year; the payments stopped
                        died = date(y, rng.randint(2, 9), rng.randint(1, 28))
                        self.deaths_stopped.append((p, died))
                        stop = died
                    self.monthly(prog, p, amt, months, stop=stop)
            lsjz = self.program(f"MZ{y}-LSJZ-{cc}", f"{county.name}{y}年临时救助金", "RELIEF",
                                f"{cc}.MZ", standard=3000.0, cap=3000.0, days=15)
            self.lsjz[ci] = lsjz
            for _ in range(n(22)):
                v = rng.choice(villages)
                p = self.payee(county=cc, village=v)
                self.pay(lsjz, p, rng.choice((500, 800, 1000, 1500, 2000, 2500, 3000)),
                         date(y, rng.randint(1, 12), rng.randint(1, 28)))
            if ci in (2, 8):
                planted_villages.append((farm, villages[0]))
            self.registers_for(villages)
        # City-wide lines.
        sy = self.program(f"RS{y}-SYBX", f"{y}年失业保险金", "SOCSEC", "ZJ.RS", cap=1900.0, days=10)
        self.sy_payees = []
        for _ in range(n(45)):
            p = self.payee(county=rng.choice(self.counties).code)
            start = rng.randint(1, 9)
            self.sy_payees.append(p)
            self.monthly(sy, p, rng.choice((1404.0, 1450.0, 1520.0, 1600.0, 1680.0)),
                         range(start, min(13, start + rng.randint(3, 12))))
        gjj = self.program(f"GJJ{y}-ZFTQ", f"{y}年住房公积金租房提取", "HOUSING", "ZJ.GJJ",
                           cap=1500.0, days=5)
        for _ in range(n(60)):
            p = self.payee(county=rng.choice(self.counties).code)
            start = rng.randint(1, 11)
            self.monthly(gjj, p, rng.choice((800.0, 1000.0, 1200.0, 1500.0)),
                         range(start, min(13, start + rng.randint(2, 6))), day=15)
        nj = self.program(f"NY{y}-NJGZ", f"{y}年农机购置与应用补贴", "FARMSUB", "ZJ.NY",
                          standard=30000.0, days=30, factor=2.3)  # planted: far behind plan
        for _ in range(n(70)):
            county = rng.choice(self.counties)
            p = self.payee(county=county.code, village=rng.choice(self.villages_of[county.id]))
            self.pay(nj, p, rng.choice((2600, 4800, 7500, 12000, 18000, 26000)),
                     date(y, rng.randint(3, 10), rng.randint(1, 28)))
        cy = self.program(f"CZ{y}-CYFZ", f"{y}年产业发展专项资金", "FISCAL", "ZJ.CZ",
                          standard=500000.0, days=30)
        self.firms = []
        for _ in range(n(28)):
            p = self.payee(firm=self.firm())
            self.firms.append(p)
            self.pay(cy, p, rng.choice((50000, 80000, 120000, 200000, 300000, 500000)),
                     date(y, rng.randint(2, 10), rng.randint(1, 28)))
        self.threepub()
        self.plant(planted_villages)

    def registers_for(self, villages: list[Region]) -> None:
        """Household links for the villages on the subsidy lists: families of 1–3 payees, and
        three village cadres each with their own household."""
        for v in villages:
            payees = self.village_payees.get(v.id, [])
            i = 0
            while i < len(payees):
                size = self.rng.choice((1, 1, 2, 2, 3))
                household = self.hash.household(f"{v.code}-{i}")
                for p in payees[i:i + size]:
                    self.residents.append({"id_hash": self.hash.payee(p.clear),
                                           "household": household, "village_id": v.id,
                                           "cadre_post": None})
                i += size
            for k, post in enumerate(CADRE_POSTS):
                clear = self.person_id(self.counties[0].code)
                self.residents.append({"id_hash": self.hash.payee(clear),
                                       "household": self.hash.household(f"{v.code}-C{k}"),
                                       "village_id": v.id, "cadre_post": post})
        # In a normal village at most one payee lives in a cadre's household (legitimately).
        for v in villages[1:3]:
            payees = self.village_payees.get(v.id, [])
            if payees:
                self._move_to_cadre(payees[0], v, 0)

    def _move_to_cadre(self, p: Payee, v: Region, k: int) -> None:
        digest = self.hash.payee(p.clear)
        for r in self.residents:
            if r["id_hash"] == digest:
                r["household"] = self.hash.household(f"{v.code}-C{k % 3}")

    def threepub(self) -> None:
        rng, y = self.rng, self.year
        vendors = [self.payee(firm=self.firm(HOSPITALITY, "")) for _ in range(14)]
        for i, dept in enumerate(THREEPUB_DEPTS):
            unit = f"ZJ.{dept}"
            base = rng.choice((180000, 240000, 320000, 400000, 520000))
            last = self.program(f"SG{y - 1}-{dept}", f"{self.units[unit].name}{y - 1}年“三公”经费",
                                "THREEPUB", unit, year=y - 1, days=30)
            last.budget = float(base)
            this_budget = base * rng.uniform(0.85, 0.98)
            pace = 0.9
            if i == 1:  # planted: spending well above last year's, and over budget
                pace_this = 1.25
            elif i == 4:  # planted: this year's budget above last year's
                this_budget = base * 1.12
                pace_this = 0.82
            elif i == 7:  # planted: over a sharply cut budget, yet below last year's pace
                this_budget = base * 0.7
                pace_this = 0.89
            else:
                pace_this = pace * this_budget / base * rng.uniform(0.85, 0.97)
            this = self.program(f"SG{y}-{dept}", f"{self.units[unit].name}{y}年“三公”经费",
                                "THREEPUB", unit, days=30)
            this.budget = round(this_budget, -3)
            for prog, total in ((last, base * pace), (this, base * pace_this)):
                monthly = total / 12
                for m in range(1, 13):
                    spent = 0.0
                    while spent < monthly * 0.95:
                        amt = round(min(monthly - spent, rng.uniform(800, 6500)), 2)
                        if amt < 100:
                            break
                        spent += amt
                        self.pay(prog, rng.choice(vendors), amt,
                                 date(prog.year, m, rng.randint(1, 26)), delay=rng.randint(2, 12))

    def plant(self, planted_villages) -> None:
        rng, y = self.rng, self.year
        # Paid twice: the same payee, the same amount, in the same program and year.
        for ci in (0, 4, 7):
            row = rng.choice([r for r in self.farm[ci].pays if r["paid"]])
            self.pay(self.farm[ci], row["payee"], row["amount"],
                     row["approved"].astimezone(TZ).date() + timedelta(days=rng.randint(3, 20)))
        # One account for several payees: four payees' subsidies into one card.
        for prog in (self.farm[5], self.farm[6]):
            rows = [r for r in prog.pays if r["paid"]][:4]
            for r in rows[1:]:
                r["account"] = rows[0]["account"]
        # Still paid after death: pensions that ran on 2–4 months.
        for ci in (1, 3, 6, 8):
            prog = next(p for p in self.programs if p.code == f"RS{y}-JMYL-{self.counties[ci].code}")
            person = prog.pays[-1]["payee"]
            rows = [r for r in prog.pays if r["payee"] is person]
            if len(rows) >= 6:
                died = rows[-4 + (ci % 2)]["paid"].astimezone(TZ).date() - timedelta(days=20)
                self.deaths_paid.append((person, died))
        # A subsidy to an enterprise closed before the payment.
        firm_row = next(r for r in next(p for p in self.programs if p.line == "FISCAL").pays
                        if r["paid"])
        closed = firm_row["paid"].astimezone(TZ).date() - timedelta(days=rng.randint(20, 90))
        self.register.append({"id_hash": self.hash.payee(firm_row["payee"].clear),
                              "kind": "enterprise", "died_on": closed})
        # Above the standard (耕地地力保护补贴 at most 3,000 a household).
        for ci in (2, 5, 8):
            r = rng.choice([r for r in self.farm[ci].pays if r["paid"]])
            r["amount"] = rng.choice((3860.0, 4520.0, 5930.0))
        # Far above the payee's own history (after at least six months).
        sy = next(p for p in self.programs if p.code == f"RS{y}-SYBX")
        for person in [p for p in self.sy_payees
                       if sum(r["payee"] is p for r in sy.pays) >= 8][:3]:
            rows = [r for r in sy.pays if r["payee"] is person]
            rows[7]["amount"] = round(rows[0]["amount"] * 1.3, 2)
        # Above the monthly cap: two relief payments in one month.
        for ci in (0, 3, 6):
            prog = self.lsjz[ci]
            r = rng.choice([r for r in prog.pays if r["paid"] and r["approved"].month < 11])
            r["amount"] = 2000.0
            d = r["approved"].astimezone(TZ).date()
            self.pay(prog, r["payee"], 1600.0, d.replace(day=min(d.day + 1, 28)),
                     delay=max(0, (r["paid"] - r["approved"]).days))
        # Payments overdue and not yet made.
        for ci in (4, 7):
            prog = self.lsjz[ci]
            p = self.payee(county=self.counties[ci].code,
                           village=rng.choice(self.villages_of[self.counties[ci].id]))
            self.pay(prog, p, 1500.0, self.today - timedelta(days=prog.days + 6), delay=-1)
        # Cadres' households: four payees of a village's farm subsidy in them.
        for prog, village in planted_villages:
            payees = [p for p in self.village_payees.get(village.id, [])
                      if any(r["payee"] is p for r in prog.pays)]
            for k, p in enumerate(payees[:4]):
                self._move_to_cadre(p, village, k)
        # Programs behind plan: relief budgets far above what is being paid.
        self.lsjz[1].budget_factor = 1.35
        self.lsjz[5].budget_factor = 1.9

    # -- writing --------------------------------------------------------------------------------
    def write(self) -> None:
        s, anchor = self.s, self.anchor
        for p, died in self.deaths_stopped + self.deaths_paid:
            self.register.append({"id_hash": self.hash.payee(p.clear), "kind": "person",
                                  "died_on": died})
        payee_rows = [{"id": p.id, "id_hash": self.hash.payee(p.clear), "id_enc": self.enc(p.clear),
                       "name": p.name, "kind": p.kind} for p in self.payees]
        program_rows, payment_rows, item_rows, event_rows = [], [], [], []
        for prog in self.programs:
            total = sum(r["amount"] for r in prog.pays)
            budget = getattr(prog, "budget", None) or round(total * prog.budget_factor, -2)
            program_rows.append({
                "id": prog.id, "code": prog.code, "name": prog.name,
                "subsystem_id": self.subs[prog.line].id, "unit_id": prog.unit.id, "year": prog.year,
                "budget": Decimal(str(round(budget, 2))),
                "standard_amount": None if prog.standard is None else Decimal(str(prog.standard)),
                "monthly_cap": None if prog.cap is None else Decimal(str(prog.cap)),
                "pay_within_days": prog.days})
            limit = TimeLimit(prog.days, "d") if prog.days else None
            sub = self.subs[prog.line]
            seq = 0
            for r in sorted(prog.pays, key=lambda r: r["approved"]):
                if r["approved"] > anchor:
                    continue
                paid = r["paid"] if r["paid"] is not None and r["paid"] <= anchor else None
                approved_ts = int(r["approved"].timestamp())
                paid_ts = int(paid.timestamp()) if paid else None
                seq += 1
                ext = f"{prog.code}-{seq:06d}"
                item_id = self._id("item")
                deadline = self.cal.deadline(r["approved"], limit or TimeLimit(sub.limit_value,
                                                                               sub.limit_unit))
                payee: Payee = r["payee"]
                region = prog.unit.region_id if prog.unit.level == "county" else \
                    self.county_of_village.get(payee.village_id) or self.counties[
                        payee.id % len(self.counties)].id
                item_rows.append({
                    "id": item_id, "external_id": ITEM_PREFIX + ext, "subsystem_id": sub.id,
                    "unit_id": prog.unit.id, "region_id": region,
                    "title": payment_title(prog.name, payee.name),
                    "received_at": approved_ts,
                    "limit_value": limit.value if limit else None,
                    "limit_unit": limit.unit if limit else None,
                    "deadline": int(deadline.timestamp()),
                    "completed_at": paid_ts, "state": "completed" if paid else "open",
                    "updated_at": paid_ts or approved_ts})
                event_rows.append({"item_id": item_id, "at": approved_ts,
                                   "kind": "created", "from_state": None, "to_state": "open",
                                   "actor": ACTOR, "note": "审批通过"})
                if paid:
                    event_rows.append({"item_id": item_id, "at": paid_ts,
                                       "kind": "completed", "from_state": "open",
                                       "to_state": "completed", "actor": ACTOR, "note": "已发放"})
                payment_rows.append({
                    "id": self._id("payment"), "external_id": ext, "program_id": prog.id,
                    "unit_id": prog.unit.id, "payee_id": payee.id, "account_id": r["account"],
                    "village_id": payee.village_id, "amount": Decimal(str(r["amount"])),
                    "approved_at": approved_ts, "paid_at": paid_ts, "item_id": item_id})
        s.execute(insert(FundProgram.__table__), program_rows)
        s.execute(insert(FundPayee.__table__), payee_rows)
        s.execute(insert(FundAccount.__table__), self.accounts)
        s.execute(insert(Item.__table__), item_rows)
        s.execute(insert(ItemEvent.__table__), event_rows)
        s.execute(insert(FundPayment.__table__), payment_rows)
        seen = set()
        register = []
        for r in self.register:
            if r["id_hash"] not in seen:
                seen.add(r["id_hash"])
                register.append(r)
        s.execute(insert(FundRegisterEntry.__table__), register)
        s.execute(insert(FundResident.__table__), self.residents)
        if s.get_bind().dialect.name == "postgresql":
            for table in ("items", "fund_programs", "fund_payees", "fund_accounts", "fund_payments"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT MAX(id) FROM {table}))"))
        s.flush()


def load_demo(session: Session, *, rng: random.Random, anchor: datetime, scale: float = 1.0) -> None:
    """专项资金's demo data, into a database that has none."""
    if session.scalar(select(FundProgram.id).limit(1)) is not None:
        return
    d = _Demo(session, rng, anchor, scale)
    d.build()
    d.write()
