"""Demo data of 权力运行 at a realistic mix: most cases on time; some corrected (补正), paused for
a special procedure or extended; a few late at one step; a few refusals without a reason,
decisions without acceptance, fees on free matters, overcharges, penalties out of band and
permits beyond their plan. Every case goes through the same schedule as an imported one; the
rules then find the anomalies (nothing is flagged by hand)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from lib import catalog
from lib.config import TZ
from lib.models import Item, ItemEvent, Region, Subsystem, Unit
from lib.workdays import WorkCalendar, load_calendar

from . import approvals
from .models import (
    ApprovalCase,
    ApprovalPause,
    DiscretionStandard,
    EnforcementCase,
    FeeCharge,
    FeeItem,
    Matter,
    Plan,
    PlanningPermit,
)
from .others import enforcement_step

ACTOR = "演示数据"
CASES = 2400
ENFORCEMENT_CASES = 500
CHARGES = 700
PERMITS = 120

# (department, matter, legal limit, promised limit, charges a fee)
MATTERS = [
    ("ZRZY", "建设用地规划许可证核发", 20, 12, False),
    ("ZRZY", "建设工程规划许可证核发", 20, 15, False),
    ("ZRZY", "不动产首次登记", 30, 10, True),
    ("ZJ", "建筑工程施工许可证核发", 15, 7, False),
    ("ZJ", "商品房预售许可", 20, 10, False),
    ("SCJG", "食品经营许可", 20, 10, False),
    ("SCJG", "特种设备使用登记", 15, 5, False),
    ("ZSJ", "投资项目备案", 5, 3, False),
    ("JT", "道路运输经营许可", 20, 15, False),
    ("STHJ", "排污许可证核发", 30, 20, False),
    ("WJ", "医疗机构执业登记", 20, 15, False),
    ("SW", "取水许可", 20, 15, False),
    ("LY", "林木采伐许可证核发", 20, 10, False),
    ("WGLT", "娱乐场所经营许可", 20, 10, False),
    ("RS", "人力资源服务许可", 20, 10, False),
    ("FG", "企业投资项目核准", 20, 15, False),
]
REFUSALS = ["申请材料不符合法定形式，经补正仍不齐全", "选址不符合国土空间规划", "不属于本机关职权范围",
            "申请人不具备法定条件", "环境影响评价未通过"]
FEE_ITEMS = [("BDCDJ", "不动产登记费（住宅）", "发改价格规〔2016〕2559号", "80", date(2017, 1, 1), None),
             ("BDCFZ", "不动产登记费（非住宅）", "发改价格规〔2016〕2559号", "550", date(2017, 1, 1), None),
             ("ZSGBF", "不动产权属证书工本费", "发改价格规〔2016〕2559号", "10", date(2017, 1, 1), None),
             ("CLTX", "车辆通行费", "粤价〔2012〕215号", "15", date(2012, 7, 1), None),
             ("DLZY", "城市道路占用费", "粤价〔2004〕110号", "200", date(2004, 6, 1), None),
             ("FHJCF", "房屋安全鉴定费", "湛价〔2009〕61号", "300", date(2009, 3, 1), date(2025, 12, 31))]
STANDARDS = [("SCJG-WZJY", "未取得营业执照从事经营活动", 5000, 50000, "SCJG"),
             ("SCJG-SPBZ", "经营不符合食品安全标准的食品", 50000, 100000, "SCJG"),
             ("CGZF-WJ", "未取得规划许可进行建设", 20000, 200000, "CGZF"),
             ("CGZF-ZY", "擅自占用城市道路", 500, 20000, "CGZF"),
             ("STHJ-ZS", "超标排放噪声", 10000, 100000, "STHJ"),
             ("JT-CX", "车辆超限运输", 500, 30000, "JT"),
             ("YJ-AQ", "未按规定开展安全生产教育培训", 10000, 50000, "YJ"),
             ("WJ-YL", "使用非卫生技术人员从事医疗卫生技术工作", 5000, 30000, "WJ")]
COMPANY = ["海湾", "南港", "粤西", "红土", "蓝海", "椰风", "雷州湾", "北部湾", "鼎盛", "广利"]
TRADE = ["建设", "贸易", "食品", "物流", "医药", "水产", "科技", "置业"]


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 16), rng.choice((0, 15, 30, 45))), tzinfo=TZ)


def _wd(cal: WorkCalendar, t: datetime, n: int, rng: random.Random) -> datetime:
    """A working time n working days after t (n = 0: later the same day or the next)."""
    day = t.astimezone(TZ).date()
    d = cal.add_working_days(day, n) if n > 0 else day
    out = _at(d, rng)
    return out if out > t else t + timedelta(hours=rng.randint(1, 3))


def _ts(dt: datetime | None) -> int | None:
    return int(dt.timestamp()) if dt is not None else None


class _Builder:
    def __init__(self, session: Session, rng: random.Random, anchor: datetime, scale: float):
        self.s, self.rng, self.anchor, self.scale = session, rng, anchor, scale
        self.cal = load_calendar(session)
        self.units = {u.code: u for u in session.scalars(select(Unit))}
        self.counties = list(session.scalars(select(Region).where(Region.level == "county")
                                             .order_by(Region.code)))
        self.subs = {x.code: x for x in session.scalars(select(Subsystem))}
        self.next_item = (session.scalar(select(func.max(Item.id))) or 0) + 1
        self.items: list[dict] = []
        self.events: list[dict] = []
        self.today = anchor.astimezone(TZ).date()
        # Units differ in habit: a few are late much more often.
        self.habit = {u.id: rng.choice((0.3, 0.6, 1.0, 1.0, 1.4, 2.2, 3.5)) for u in self.units.values()}
        for code in ("440823.ZRZY",):  # the demo staff account's unit has work to do
            if code in self.units:
                self.habit[self.units[code].id] = 2.2

    def region_of(self, unit: Unit) -> int:
        if unit.level == "county":
            return unit.region_id
        return self.rng.choices(self.counties, [3, 3, 2, 3, 5, 4, 7, 7, 5])[0].id

    def day_in_past(self, days: int) -> date:
        while True:
            d = self.today - timedelta(days=self.rng.randint(0, days))
            if self.cal.is_workday(d):
                return d

    def past(self, t: datetime | None) -> datetime | None:
        return t if t is not None and t <= self.anchor else None

    def item(self, *, ext, sub, unit_id, region_id, title, received, deadline, completed, limit):
        iid = self.next_item
        self.next_item += 1
        self.items.append({
            "id": iid, "external_id": ext, "subsystem_id": sub.id, "unit_id": unit_id,
            "region_id": region_id, "title": title, "received_at": _ts(received),
            "limit_value": limit.value, "limit_unit": limit.unit, "deadline": _ts(deadline),
            "completed_at": _ts(completed), "state": "completed" if completed else "open",
            "updated_at": _ts(completed or received)})
        self.events.append({"item_id": iid, "at": _ts(received), "kind": "created",
                            "from_state": None, "to_state": "open", "actor": ACTOR, "note": "办件推送"})
        if completed:
            self.events.append({"item_id": iid, "at": _ts(completed), "kind": "completed",
                                "from_state": "open", "to_state": "completed", "actor": ACTOR,
                                "note": "环节办结"})

    # -- approvals -----------------------------------------------------------------------------
    def matters(self) -> list[Matter]:
        rows = []
        for dept, name, legal, promised, fee in MATTERS:
            for code, unit in sorted(self.units.items()):
                if catalog.dept_of(code) != dept:
                    continue
                n = sum(1 for r in rows if r.unit_id == unit.id) + 1
                rows.append(Matter(code=f"{code}-{n:02d}", name=name, unit_id=unit.id,
                                   legal_days=legal, promised_days=promised, correction_days=5,
                                   extension_days=10, delivery_days=10, has_fee=fee))
        self.s.add_all(rows)
        self.s.flush()
        return rows

    def approval_cases(self, matters: list[Matter]) -> None:
        rng, cal = self.rng, self.cal
        n = int(CASES * self.scale)
        weights = [3 if self.units_by_id[m.unit_id].level == "county" else 2 for m in matters]
        fee_std = {"BDCDJ": Decimal("80")}
        cases, pauses, charges = [], [], []
        for k in range(n):
            m = rng.choices(matters, weights)[0]
            unit = self.units_by_id[m.unit_id]
            late = min(0.4, 0.035 * self.habit[unit.id])
            received = _at(self.day_in_past(365), rng)
            ext = f"SP-{received.astimezone(TZ).year}-{k + 1:06d}"
            v = {"correction_notice_at": None, "accepted_at": None, "extension_days": None,
                 "extension_approved_at": None, "decided_at": None, "decision": None,
                 "reason": None, "delivered_at": None}
            case_pauses = []
            r = rng.random()
            if r < 0.02:  # 不予受理 at the counter
                v["decided_at"] = _wd(cal, received, rng.randint(0, 3), rng)
                v["decision"] = "refuse"
                v["reason"] = None if rng.random() < 0.2 else rng.choice(REFUSALS)
            else:
                if r < 0.24:  # 补正: told at once, materials in within days
                    notice_wd = rng.randint(0, 3) if rng.random() > late * 0.5 else rng.randint(6, 9)
                    v["correction_notice_at"] = _wd(cal, received, notice_wd, rng)
                    v["accepted_at"] = _wd(cal, v["correction_notice_at"], rng.randint(1, 12), rng)
                elif r < 0.25:  # granted outside the system: no acceptance recorded
                    v["accepted_at"] = None
                else:
                    acc_wd = rng.randint(0, 2) if rng.random() > late * 0.6 else rng.randint(6, 10)
                    v["accepted_at"] = _wd(cal, received, acc_wd, rng)
                start = v["accepted_at"] or received
                if rng.random() < 0.08:  # a special procedure pauses the clock
                    kind = rng.choice(list(approvals.PAUSE_KINDS))
                    p_start = cal.add_working_days(start.astimezone(TZ).date(), rng.randint(2, max(3, m.promised_days // 2)))
                    p_end = p_start + timedelta(days=rng.randint(3, 20))
                    case_pauses.append((kind, p_start, p_end))
                sch = approvals.schedule(cal, external_id=ext, received_at=received,
                                         correction_notice_at=v["correction_notice_at"],
                                         accepted_at=v["accepted_at"], promised_days=m.promised_days,
                                         pauses=[(a, b) for _, a, b in case_pauses])
                due = sch.due
                if rng.random() < 0.06 and due is not None:  # one extension, mostly in time
                    in_time = rng.random() < 0.85
                    approved = due - timedelta(days=rng.randint(2, 6)) if in_time else \
                        due + timedelta(hours=rng.randint(10, 60))
                    v["extension_days"] = rng.choice((5, 10))
                    v["extension_approved_at"] = max(approved, start + timedelta(hours=2))
                    if in_time:
                        due = approvals.end_of(cal.add_working_days(
                            (due - timedelta(days=1)).date(), v["extension_days"]))
                if due is not None:
                    allowed = (due - sch.clock_start).total_seconds()
                    x = rng.random()
                    if x < late * 0.08:
                        decided = None  # stuck
                    elif x < late:
                        decided = due + timedelta(seconds=allowed * rng.uniform(0.03, 0.5))
                    else:
                        decided = sch.clock_start + timedelta(seconds=allowed * rng.betavariate(2, 2.5) * 0.85)
                    if decided is not None:
                        v["decided_at"] = decided
                        if rng.random() < 0.06:
                            v["decision"] = "refuse"
                            v["reason"] = None if rng.random() < 0.12 else rng.choice(REFUSALS)
                        else:
                            v["decision"] = "grant"
                            dwd = rng.randint(0, 4) if rng.random() > late * 0.6 else rng.randint(11, 15)
                            v["delivered_at"] = _wd(cal, decided, dwd, rng)
            # Nothing after the anchor has happened yet; a later step needs the earlier one.
            order = ["correction_notice_at", "accepted_at", "extension_approved_at", "decided_at",
                     "delivered_at"]
            cut = False
            for key in order:
                if v[key] is not None and (cut or v[key] > self.anchor):
                    v[key] = None
                    if key == "decided_at":
                        v["decision"] = v["reason"] = None
                    if key == "extension_approved_at":
                        v["extension_days"] = None
                    if key in ("accepted_at", "decided_at"):
                        cut = True
            if v["decided_at"] is None:
                v["delivered_at"] = None
            case_pauses = [(kd, a, b) for kd, a, b in case_pauses
                           if datetime.combine(a, time(9), tzinfo=TZ) <= self.anchor]
            cid = len(cases) + 1
            cases.append({"id": cid, "external_id": ext, "matter_id": m.id, "unit_id": unit.id,
                          "region_id": self.region_of(unit), "received_at": _ts(received),
                          "updated_at": _ts(received), **{
                              k: (_ts(x) if isinstance(x, datetime) else x) for k, x in v.items()}})
            for kind, a, b in case_pauses:
                pauses.append({"case_id": cid, "kind": kind, "start_date": a, "end_date": b,
                               "reason": f"依法组织{approvals.PAUSE_KINDS[kind]}，所需时间不计入审批时限"})
            sch = approvals.schedule(cal, external_id=ext, received_at=received,
                                     promised_days=m.promised_days,
                                     pauses=[(a, b) for _, a, b in case_pauses],
                                     **{k: x for k, x in v.items() if k != "reason"})
            for step in sch.steps:
                self.item(ext=step.external_id, sub=self.subs["APPROVAL"], unit_id=unit.id,
                          region_id=cases[-1]["region_id"],
                          title=approvals.step_title(m, step.code), received=step.received_at,
                          deadline=step.deadline, completed=step.completed_at, limit=step.limit)
            if v["decided_at"] is not None and v["decision"] == "grant":
                if m.has_fee:
                    over = rng.random() < 0.03
                    amount = fee_std["BDCDJ"] * (Decimal("1.5") if over else 1)
                    charges.append(self.charge(f"SF-{ext}", "BDCDJ", "不动产登记费（住宅）", unit,
                                               v["decided_at"], amount, ext))
                elif rng.random() < 0.004:  # a fee on a matter that has none
                    charges.append(self.charge(f"SF-{ext}", "ZSGBF", "不动产权属证书工本费", unit,
                                               v["decided_at"], Decimal("10"), ext))
        base = self.s.scalar(select(func.max(ApprovalCase.id))) or 0
        for c in cases:
            c["id"] += base
        for p in pauses:
            p["case_id"] += base
        self.s.execute(insert(ApprovalCase.__table__), cases)
        if pauses:
            self.s.execute(insert(ApprovalPause.__table__), pauses)
        self.pending_charges = charges

    def charge(self, ext, code, name, unit, at, amount, case_ref=None, quantity=1) -> dict:
        return {"external_id": ext, "fee_code": code, "fee_name": name, "unit_id": unit.id,
                "region_id": self.region_of(unit), "charged_at": _ts(at), "quantity": quantity,
                "amount": amount, "case_ref": case_ref}

    # -- fees ----------------------------------------------------------------------------------
    def fees(self) -> None:
        rng = self.rng
        self.s.execute(insert(FeeItem.__table__), [
            {"code": c, "name": n, "basis": b, "standard": Decimal(s), "valid_from": f, "valid_to": t}
            for c, n, b, s, f, t in FEE_ITEMS])
        charges = list(self.pending_charges)
        pool = [u for code, u in self.units.items()
                if catalog.dept_of(code) in ("ZRZY", "ZJ", "SCJG", "GA", "JT", "CGZF")]
        for k in range(int(CHARGES * self.scale)):
            code, name, _, std, _, valid_to = rng.choice(FEE_ITEMS[:2] + FEE_ITEMS[3:5])
            unit = rng.choice(pool)
            at = _at(self.day_in_past(365), rng)
            qty = rng.randint(1, 3)
            amount = Decimal(std) * qty
            r = rng.random()
            if r < 0.02:
                amount = amount + Decimal(std) * Decimal(rng.choice(("0.5", "1", "2")))  # overcharged
            elif r < 0.03:  # abolished item still charged
                code, name, std = "FHJCF", "房屋安全鉴定费", "300"
                at = _at(self.day_in_past(300), rng)
                amount, qty = Decimal(std), 1
            elif r < 0.035:  # an item in no catalogue
                code, name, amount, qty = "ZXF", "咨询服务费", Decimal(rng.choice(("200", "500"))), 1
            charges.append(self.charge(f"SF-{at.year}-{k + 1:06d}", code, name, unit, at, amount,
                                       quantity=qty))
        self.s.execute(insert(FeeCharge.__table__), charges)

    # -- enforcement ---------------------------------------------------------------------------
    def enforcement(self) -> None:
        rng, cal = self.rng, self.cal
        stds = []
        for code, name, lo, hi, _ in STANDARDS:
            s = DiscretionStandard(code=code, name=name, min_amount=Decimal(lo),
                                   max_amount=Decimal(hi), decision_days=90)
            stds.append(s)
        self.s.add_all(stds)
        self.s.flush()
        rows = []
        for k in range(int(ENFORCEMENT_CASES * self.scale)):
            i = rng.randrange(len(stds))
            s, dept = stds[i], STANDARDS[i][4]
            units = [u for c, u in self.units.items() if catalog.dept_of(c) == dept]
            unit = rng.choice(units)
            filed = _at(self.day_in_past(400), rng)
            late = min(0.4, 0.03 * self.habit[unit.id])
            case = EnforcementCase(external_id=f"ZF-{filed.year}-{k + 1:06d}", standard_id=s.id,
                                   unit_id=unit.id, region_id=self.region_of(unit), filed_at=filed)
            _, _, due, _ = enforcement_step(cal, case, s)
            x = rng.random()
            if x < late:
                decided = due + timedelta(days=rng.randint(2, 40))
            else:
                decided = filed + timedelta(days=rng.randint(25, 85), hours=rng.randint(0, 6))
            case.told_at = decided - timedelta(days=rng.randint(8, 15))
            if rng.random() < 0.1:
                case.hearing_at = decided - timedelta(days=rng.randint(2, 6))
            case.decided_at = decided
            lo, hi = s.min_amount, s.max_amount
            y = rng.random()
            if y < 0.03:
                case.penalty = (hi * Decimal(rng.choice(("1.2", "1.5", "2")))).quantize(Decimal("1"))
            elif y < 0.05:
                case.penalty = (lo * Decimal("0.5")).quantize(Decimal("1"))
            elif y < 0.13:
                case.penalty = hi
                case.reason = None if rng.random() < 0.6 else "违法情节严重，拒不改正，依法从重处罚"
            else:
                case.penalty = (lo + (hi - lo) * Decimal(str(round(rng.betavariate(2, 3), 2)))) \
                    .quantize(Decimal("100"))
                case.reason = "依裁量基准，综合违法情节作出处罚"
            if rng.random() < 0.012:
                case.decided_at = case.penalty = case.reason = None
                case.closed_at = filed + timedelta(days=rng.randint(30, 80))
            elif case.decided_at is not None:
                case.closed_at = case.decided_at + timedelta(days=rng.randint(10, 40))
            for key in ("told_at", "hearing_at", "decided_at", "closed_at"):
                if getattr(case, key) is not None and getattr(case, key) > self.anchor:
                    setattr(case, key, None)
            if case.decided_at is None and case.closed_at is None:
                case.penalty = case.reason = None
            rows.append(case)
            received, limit, deadline, done = enforcement_step(cal, case, s)
            self.item(ext=case.external_id, sub=self.subs["ENFORCE"], unit_id=unit.id,
                      region_id=case.region_id, title=f"{s.name}·处罚决定", received=received,
                      deadline=deadline, completed=done, limit=limit)
        self.s.add_all(rows)

    # -- planning ------------------------------------------------------------------------------
    def planning(self) -> None:
        rng = self.rng
        plans = []
        for county in self.counties:
            for j in range(2):
                far = Decimal(rng.choice(("1.8", "2.2", "2.5", "3.0", "3.5")))
                plans.append(Plan(code=f"KG-{county.code}-{j + 1:02d}",
                                  name=f"{county.name}{('城北', '城南', '东部', '滨海')[j]}片区控制性详细规划",
                                  region_id=county.id, far_max=far, density_max=Decimal("30"),
                                  green_min=Decimal("35"), height_max=Decimal(rng.choice((60, 80, 100)))))
        self.s.add_all(plans)
        self.s.flush()
        units = {c.split(".")[0]: u for c, u in self.units.items() if c.endswith(".ZRZY")}
        permits = []
        for k in range(int(PERMITS * self.scale)):
            plan = rng.choice(plans)
            county = next(c for c in self.counties if c.id == plan.region_id)
            unit = units.get(county.code) or units["ZJ"]
            issued = _at(self.day_in_past(500), rng)
            p = PlanningPermit(
                external_id=f"建字第{county.code}{issued.year}{k + 1:05d}号", plan_id=plan.id,
                unit_id=unit.id, region_id=county.id,
                project=f"{rng.choice(COMPANY)}{rng.choice(('花园', '广场', '商务中心', '安置区'))}"
                        f"{rng.choice(('一', '二', '三'))}期",
                issued_at=issued, far=(plan.far_max * Decimal(str(rng.uniform(0.75, 1.0)))).quantize(Decimal("0.01")),
                density=Decimal(rng.randint(20, 30)), green=Decimal(rng.randint(35, 40)),
                height=(plan.height_max * Decimal(str(rng.uniform(0.6, 1.0)))).quantize(Decimal("0.1")))
            if rng.random() < 0.04:
                p.far = (plan.far_max * Decimal("1.2")).quantize(Decimal("0.01"))
            if rng.random() < 0.02:
                p.green = Decimal(rng.randint(25, 32))
            permits.append(p)
        # One plan raised after permits were issued under it, without a hearing.
        changed = plans[len(plans) // 2]
        changed.changed_on = self.today - timedelta(days=40)
        changed.change_hearing = False
        self.s.add_all(permits)

    def flush(self) -> None:
        if self.items:
            self.s.execute(insert(Item.__table__), self.items)
            self.s.execute(insert(ItemEvent.__table__), self.events)
        if self.s.get_bind().dialect.name == "postgresql":
            self.s.execute(text("SELECT setval(pg_get_serial_sequence('items', 'id'), "
                                "(SELECT MAX(id) FROM items))"))
            for table in ("approval_cases",):
                self.s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))


def load_demo(session: Session, *, rng: random.Random, anchor: datetime, scale: float = 1.0) -> None:
    """权力运行's demo records and their step items (run into a database holding the catalog)."""
    b = _Builder(session, rng, anchor, scale)
    b.units_by_id = {u.id: u for u in b.units.values()}
    matters = b.matters()
    b.approval_cases(matters)
    b.fees()
    b.enforcement()
    b.planning()
    b.flush()
    session.flush()
