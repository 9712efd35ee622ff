"""信息公开 demo data: every village's obligations since the start of the anchor's year (or
earlier with a heavier `--scale`), the disclosures that met them (on time, late, or not yet),
villagers' questions, and government information requests, proactive disclosures and annual
reports through the real work order.

Villages are written in bulk (Core inserts with explicit item ids, like the core demo): the
default load stays within a few seconds. Each town has its own habits: a few are late often."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from lib.access import SYSTEM
from lib.config import TZ
from lib.models import AppSetting, Item, Region, Subsystem, Unit, User
from lib.workdays import TimeLimit, load_calendar

from . import service
from .models import Disclosure, DisclosureQuestion, GovinfoDuty, VillageObligation, VillageProfile

ACTOR = "演示数据"
TOWN_ACCOUNT = ("staff_town", "吴海燕（遂溪县遂城镇人民政府）", "Cunwu@2026")

BODIES = {
    "party": ["本期召开党员大会 {n} 次、支委会 {m} 次，发展预备党员 {k} 名。",
              "党费收缴 {x} 元，已按规定上缴；“三会一课”按计划开展。",
              "开展主题党日活动 {m} 次，党员志愿服务 {n} 人次。"],
    "village": ["村民代表会议审议通过：村道硬化工程实施方案，预计投资 {x} 元。",
                "本期受理村民诉求 {n} 件，已办结 {j} 件。",
                "低保、五保对象评议结果：新增 {k} 户，退出 {m} 户，名单张贴于村务公开栏。",
                "宅基地审批 {k} 宗，均经村民代表会议讨论并公示 7 天无异议。"],
    "finance": ["本期收支情况如下表，原始凭证可到村委会查阅。",
                "集体经济收入主要来自鱼塘、果园发包，支出主要为村道维修与环境整治。"],
}
FINANCE_ITEMS = [("上级转移支付", 1), ("集体资产发包收入", 1), ("村道维修", 0), ("环境卫生保洁", 0),
                 ("村干部误工补贴", 0), ("办公经费", 0), ("水利设施维护", 0)]
MAJOR_TITLES = ["村集体鱼塘发包方案", "村道硬化工程招标结果", "集体土地征收补偿分配方案",
                "村级工程项目验收结果", "集体资产处置结果"]
QUESTIONS = ["请问村道维修的具体位置在哪里？", "本季度保洁费比上季度多，原因是什么？",
             "鱼塘发包的底价是怎么定的？", "误工补贴发放给哪些人？", "低保名单什么时候能查到？"]
ANSWERS = ["已在村务公开栏张贴明细，欢迎到村委会查阅原始凭证。",
           "经村民代表会议讨论决定，具体情况已补充公开。"]
REQUEST_SUBJECTS = ["征地补偿安置方案", "项目环境影响评价批复", "年度部门预算明细", "建设工程规划许可",
                    "城市更新改造计划", "道路改造工程验收报告", "行政处罚决定书", "公共资源交易结果"]
PROACTIVE_TITLES = ["年度部门预算", "行政许可事项清单调整", "重大建设项目批准和实施情况",
                    "政府采购项目信息", "行政执法结果", "财政资金使用情况", "规划调整公示"]


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _local(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def load(session: Session, *, rng: random.Random, anchor: datetime, scale: float = 1.0) -> None:
    towns = service.ensure_town_units(session)
    today = anchor.astimezone(TZ).date()
    years_back = 0 if scale <= 1.5 else 1
    start = date(today.year - years_back, 1, 1)
    session.merge(AppSetting(key="disclosure.start", value=start.isoformat()))
    _villages(session, rng, anchor, start, towns, scale)
    _town_account(session, towns)
    _govinfo(session, rng, anchor, scale)


def _town_account(session: Session, towns: dict[int, Unit]) -> None:
    from lib.auth import hash_password

    if session.scalar(select(User.id).where(User.username == TOWN_ACCOUNT[0])) is not None:
        return
    unit = session.scalar(select(Unit).where(Unit.name == "遂溪县遂城镇人民政府"))
    if unit is None:
        return
    username, name, password = TOWN_ACCOUNT
    session.add(User(username=username, display_name=name,
                     password_hash=hash_password(password, username), roles="staff",
                     unit_id=unit.id, active=True, failed_logins=0))


def _villages(session: Session, rng: random.Random, anchor: datetime, start: date,
              towns: dict[int, Unit], scale: float) -> None:
    regions = {r.id: r for r in session.scalars(select(Region).where(
        Region.level.in_(("town", "county", "village"))))}
    villages = sorted((r for r in regions.values() if r.level == "village"), key=lambda r: r.code)
    if not villages:
        return
    sub = session.scalar(select(Subsystem).where(Subsystem.code == "VILLAGE"))
    day_due, major = service.due_day(session), service.major_days(session)
    today = anchor.astimezone(TZ).date()
    # Each town's habit: most publish on time; a few are late or miss often.
    habit = {tid: rng.choice((0.004, 0.006, 0.01, 0.01, 0.015, 0.02, 0.03, 0.06)) for tid in towns}
    suicheng = next((u for u in towns.values() if u.name == "遂溪县遂城镇人民政府"), None)
    if suicheng is not None:
        habit[suicheng.region_id] = 0.15  # the demo town account finds red cards to answer
    next_id = (session.scalar(select(func.max(Item.id))) or 0) + 1
    next_d = (session.scalar(select(func.max(Disclosure.id))) or 0) + 1
    items, obligations, docs, profiles = [], [], [], []
    published: list[tuple[int, int, datetime]] = []  # (disclosure id, village id, at)
    copies = max(1, round(scale))
    texts = _Texts(rng)
    # Each rhythm's periods, windows and labels, computed once for all villages.
    periods = {kind: [(p, p.label, *service.obligation_window(p, day_due, major))
                      for p in service.periods_between(start, today, kind)]
               for kind in ("M", "Q", "H")}
    for v in villages:
        town = regions[v.parent_id]
        county = regions[town.parent_id]
        unit = towns[town.id]
        monthly = rng.random() < 0.3
        profiles.append({"village_id": v.id, "finance_monthly": monthly})
        bad = habit[town.id] * rng.uniform(0.5, 1.6)
        for cat in ("party", "village", "finance"):
            for p, label, received, deadline, limit in periods[service.rhythm_of(cat, monthly)]:
                done = _publication(rng, p, deadline, anchor, bad)
                ext = service.obligation_external_id(v.code, cat, p.code)
                title = f"{v.name}{label}{service.CATEGORIES[cat]}公开"
                items.append(_item(next_id, ext, sub, unit, county, title, received, deadline,
                                   limit, done))
                obligations.append({"item_id": next_id, "village_id": v.id, "category": cat,
                                    "period": p.code, "due_on": deadline.date() - timedelta(days=1)})
                next_id += 1
                if done is None:
                    continue
                for k in range(copies):
                    at = done + timedelta(days=3 * k)
                    if at > anchor:
                        break
                    docs.append(_doc(rng, texts, next_d, v, cat, p, at, scale, k, label))
                    published.append((next_d, v.id, at))
                    next_d += 1
        if rng.random() < 0.15:  # a major matter decided recently
            decided = today - timedelta(days=rng.randint(3, 80))
            p = service.parse_period(decided.isoformat())
            received, deadline, limit = service.obligation_window(p, day_due, major)
            done = _publication(rng, p, deadline, anchor, bad * 1.5, quick=True)
            ext = service.obligation_external_id(v.code, "major", p.code)
            title = f"{v.name}{p.label}重大事项公开"
            items.append(_item(next_id, ext, sub, unit, county, title, received, deadline,
                               limit, done))
            obligations.append({"item_id": next_id, "village_id": v.id, "category": "major",
                                "period": p.code, "due_on": deadline.date() - timedelta(days=1)})
            next_id += 1
            if done is not None:
                d = _doc(rng, texts, next_d, v, "major", p, done, scale, 0)
                docs.append(d)
                published.append((next_d, v.id, done))
                next_d += 1
    for chunk in range(0, len(items), 20_000):
        session.execute(insert(Item.__table__), items[chunk:chunk + 20_000])
    session.execute(insert(VillageObligation.__table__), obligations)
    session.execute(insert(VillageProfile.__table__), profiles)
    for chunk in range(0, len(docs), 20_000):
        session.execute(insert(Disclosure.__table__), docs[chunk:chunk + 20_000])
    _sequences(session)
    session.flush()
    _questions(session, rng, anchor, published)


def _publication(rng: random.Random, p, deadline: datetime, anchor: datetime, bad: float,
                 quick: bool = False) -> datetime | None:
    """When the village published: mostly before the due day, some late, some not (yet)."""
    first = datetime.combine(p.end, time(9), tzinfo=TZ) if not quick else \
        datetime.combine(p.start + timedelta(days=1), time(9), tzinfo=TZ)
    r = rng.random()
    if r < bad * 0.45:
        return None  # never published: missing once the day passes
    if r < bad:
        at = deadline + timedelta(days=rng.randint(1, 35), hours=rng.randint(0, 8))
    else:
        span = max(3600, int((deadline - first).total_seconds()) - 3600)
        at = first + timedelta(seconds=rng.randrange(span))
    at = at.replace(microsecond=0)
    return at if at <= anchor else None


def _item(item_id, ext, sub, unit, county, title, received, deadline, limit, done) -> dict:
    return {"id": item_id, "external_id": ext, "subsystem_id": sub.id, "unit_id": unit.id,
            "region_id": county.id, "title": title[:200], "received_at": _ts(received),
            "limit_value": limit.value, "limit_unit": limit.unit, "deadline": _ts(deadline),
            "completed_at": _ts(done) if done else None,
            "state": "completed" if done else "open", "updated_at": _ts(done or received),
            "card_cancelled": False, "verdict": 0}


class _Texts:
    """Pools of bodies and finance tables, drawn from once (the demo writes thousands)."""

    def __init__(self, rng: random.Random):
        def fill(t: str) -> str:
            # the same four draws in the same order as ever (the demo's data after them stay
            # as they were); `j`: of the n received, those closed
            n, m, k, x = (rng.randint(1, 6), rng.randint(1, 4), rng.randint(0, 3),
                          rng.randint(2, 90) * 1000)
            return t.format(n=n, m=m, k=k, x=f"{x:,}", j=min(m, n))

        self.bodies = {cat: ["\n".join(fill(t) for t in rng.sample(ts, 2)) for _ in range(40)]
                       for cat, ts in BODIES.items()}
        self.finance = []
        for _ in range(60):
            rows = []
            for name, income in rng.sample(FINANCE_ITEMS, 4):
                amount = f"{rng.randint(5, 600) * 100:.2f}"
                rows.append({"item": name, "income": amount if income else "0.00",
                             "spending": "0.00" if income else amount})
            self.finance.append(json.dumps(rows, ensure_ascii=False))


WHAT = {"party": "党务公开", "village": "村务公开", "finance": "财务收支公开"}


def _doc(rng: random.Random, texts: _Texts, doc_id: int, v: Region, cat: str, p, at: datetime,
         scale: float, k: int, label: str = "") -> dict:
    finance = None
    if cat == "major":
        title = f"{v.name}{rng.choice(MAJOR_TITLES)}"
        body = f"经村民代表会议于{p.start:%Y年%m月%d日}讨论决定，现予公开，公示期 7 天。"
    else:
        title = f"{v.name}{label or p.label}{WHAT[cat]}" + (f"（补充 {k}）" if k else "")
        body = rng.choice(texts.bodies[cat])
        if cat == "finance":
            finance = rng.choice(texts.finance)
    return {"id": doc_id, "external_id": f"GK.{v.code}.{cat}.{p.code}.{k}", "village_id": v.id,
            "category": cat, "period": p.code, "title": title[:200], "body": body,
            "finance": finance, "published_at": _ts(at), "published_by": ACTOR,
            "views": int((15 + 300 * rng.random()) * max(1.0, scale))}


def _questions(session: Session, rng: random.Random, anchor: datetime,
               published: list[tuple[int, int, datetime]]) -> None:
    """Villagers' questions on recent disclosures: most answered within the 10 days, some late,
    a few still waiting (red cards once the 10 days pass). Written in bulk."""
    recent = [p for p in published if p[2] > anchor - timedelta(days=90)]
    if not recent:
        return
    sub = session.scalar(select(Subsystem).where(Subsystem.code == "VILLAGE"))
    cal = load_calendar(session)
    regions = {r.id: r for r in session.scalars(select(Region).where(
        Region.level.in_(("town", "county"))))}
    units = {u.region_id: u.id for u in session.scalars(select(Unit).where(Unit.level == "town"))}
    villages = dict(session.execute(select(Region.id, Region.parent_id).where(
        Region.level == "village")).all())
    codes = dict(session.execute(select(Region.id, Region.code).where(
        Region.level == "village")).all())
    next_id = (session.scalar(select(func.max(Item.id))) or 0) + 1
    next_q = (session.scalar(select(func.max(DisclosureQuestion.id))) or 0) + 1
    items, questions = [], []
    for doc_id, vid, at in rng.sample(recent, min(len(recent), 260)):
        asked = (at + timedelta(hours=rng.randint(2, 24 * 20))).replace(microsecond=0)
        if asked >= anchor:
            continue
        town = regions[villages[vid]]
        deadline = cal.deadline(asked, service.QUESTION_LIMIT)
        r = rng.random()
        answered = None
        if r >= 0.12:
            delay = timedelta(hours=rng.randint(30, 24 * 22)) if r < 0.25 else \
                timedelta(hours=rng.randint(2, 24 * 8))
            answered = asked + delay if asked + delay <= anchor else None
        items.append({"id": next_id, "external_id": f"VQ.{codes[vid]}.{next_q}",
                      "subsystem_id": sub.id, "unit_id": units[town.id],
                      "region_id": town.parent_id, "title": "村民提问：" + rng.choice(QUESTIONS),
                      "received_at": _ts(asked), "limit_value": 10, "limit_unit": "d",
                      "deadline": _ts(deadline),
                      "completed_at": _ts(answered) if answered else None,
                      "state": "completed" if answered else "open",
                      "updated_at": _ts(answered or asked), "card_cancelled": False, "verdict": 0})
        questions.append({"id": next_q, "disclosure_id": doc_id, "item_id": next_id,
                          "question": items[-1]["title"][5:], "asked_at": _ts(asked),
                          "source_hash": None,
                          "answer": rng.choice(ANSWERS) if answered else None,
                          "answered_at": _ts(answered) if answered else None,
                          "answered_by": ACTOR if answered else None})
        next_id += 1
        next_q += 1
    if items:
        session.execute(insert(Item.__table__), items)
        session.execute(insert(DisclosureQuestion.__table__), questions)
    _sequences(session)


def _sequences(session: Session) -> None:
    """PostgreSQL: move the sequences past the ids written explicitly."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("items", "disclosures", "disclosure_questions"):
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))


def _govinfo(session: Session, rng: random.Random, anchor: datetime, scale: float) -> None:
    """Requests through the real work order (corrections, extensions, consultations, answers
    of every type), proactive disclosures and last year's annual reports."""
    units = session.scalars(select(Unit).where(Unit.level.in_(("municipal", "county")),
                                               Unit.code != "ZJ.JW").order_by(Unit.id)).all()
    late_units = set(rng.sample([u.id for u in units], max(1, len(units) // 8)))
    staff_unit = session.scalar(select(Unit).where(Unit.code == "440823.ZRZY"))
    if staff_unit is not None:
        late_units.add(staff_unit.id)
    n = int(36 * scale)
    for i in range(n):
        unit = rng.choice(units) if i % 6 else (staff_unit or rng.choice(units))
        received = anchor - timedelta(days=rng.randint(1, 200), hours=rng.randint(0, 10))
        req = service.submit_request(
            session, unit_id=unit.id, subject=rng.choice(REQUEST_SUBJECTS),
            body="申请公开上述信息的全文，用于了解本人所在片区的有关情况。", name="演示申请人",
            contact="0759-0000000", now=received, code_rng=rng)
        late = unit.id in late_units
        t = received
        r = rng.random()
        if r < 0.06:  # unclear: one correction notice, the applicant corrects
            t = t + timedelta(days=rng.randint(1, 5))
            if t >= anchor:
                continue
            service.send_correction(session, SYSTEM, req.id, "请补充所需信息的具体名称、文号或时间范围。",
                                    now=t)
            t = t + timedelta(days=rng.randint(2, 10))
            if t >= anchor:
                continue
            service.supply_correction(session, req.code, "所需为 2025 年度该项目的批复文件。", now=t)
        if rng.random() < 0.07:  # a third party consulted
            s = t + timedelta(days=rng.randint(2, 10))
            if s >= anchor:
                continue
            service.start_pause(session, SYSTEM, req.id, "third_party", "相关企业", now=s)
            e = s + timedelta(days=rng.randint(5, 20))
            if e >= anchor:
                continue
            service.end_pause(session, SYSTEM, req.id, now=e)
            t = e
        item = session.get(Item, req.item_id)
        if rng.random() < 0.08 and item.deadline - timedelta(days=3) > t:
            at = item.deadline - timedelta(days=rng.randint(1, 3))
            if at < anchor:
                service.extend(session, SYSTEM, req.id, rng.choice((10, 15, 20)), "信息公开办主任",
                               "需要调取档案并逐页审查", now=at)
                item = session.get(Item, req.item_id)
        allowed = (item.deadline - t).total_seconds()
        if late and rng.random() < 0.45:
            at = item.deadline + timedelta(days=rng.randint(1, 25))
        else:
            at = t + timedelta(seconds=rng.uniform(0.15, 0.95) * allowed)
        if at >= anchor or rng.random() < 0.05:
            continue
        kind = rng.choices(list(service.ANSWER_TYPES), (55, 18, 9, 12, 6))[0]
        reason = rng.choice(service.REFUSAL_GROUNDS) if kind in ("refuse", "partial") else \
            ("湛江市自然资源局" if kind == "not_ours" else "")
        service.answer_request(session, SYSTEM, req.id, kind, "经审查，现答复如下：详见附件。",
                               reason, now=at.replace(microsecond=0))
    _duties(session, rng, anchor, scale, units, late_units)
    session.flush()



def _duties(session: Session, rng: random.Random, anchor: datetime, scale: float,
            units: list[Unit], late_units: set[int]) -> None:
    """Proactive disclosures (20 working days from the information's forming) and last year's
    annual reports (31 January; the governments' 31 March), in bulk."""
    sub = session.scalar(select(Subsystem).where(Subsystem.code == "GOVINFO"))
    cal = load_calendar(session)
    levels = dict(session.execute(select(Region.id, Region.level)).all())
    gov = service.government_units(session)
    next_id = (session.scalar(select(func.max(Item.id))) or 0) + 1
    items, duties = [], []

    def add(unit: Unit, ext: str, item_title: str, received: datetime, deadline: datetime,
            limit: TimeLimit, done: datetime | None, **duty) -> None:
        nonlocal next_id
        items.append({"id": next_id, "external_id": ext, "subsystem_id": sub.id,
                      "unit_id": unit.id,
                      "region_id": unit.region_id if levels[unit.region_id] == "county" else None,
                      "title": item_title[:200], "received_at": _ts(received),
                      "limit_value": limit.value, "limit_unit": limit.unit,
                      "deadline": _ts(deadline), "completed_at": _ts(done) if done else None,
                      "state": "completed" if done else "open",
                      "updated_at": _ts(done or received), "card_cancelled": False, "verdict": 0})
        duties.append({"item_id": next_id, "unit_id": unit.id, **duty})
        next_id += 1

    limit = TimeLimit(service.PROACTIVE_WD, "wd")
    seq: dict[int, int] = {}
    for _ in range(int(120 * scale)):
        unit = rng.choice(units)
        seq[unit.id] = seq.get(unit.id, 0) + 1
        formed = (anchor - timedelta(days=rng.randint(5, 150), hours=rng.randint(0, 8))) \
            .replace(microsecond=0)
        deadline = cal.deadline(formed, limit)
        late = unit.id in late_units and rng.random() < 0.5
        at = deadline + timedelta(days=rng.randint(1, 20)) if late else \
            formed + timedelta(seconds=int(rng.uniform(0.1, 0.9)
                                           * (deadline - formed).total_seconds()))
        done = at if at < anchor and rng.random() > 0.04 else None
        title = rng.choice(PROACTIVE_TITLES)
        add(unit, f"ZD.{unit.code}.{seq[unit.id]}", f"主动公开：{title}", formed, deadline, limit,
            done, kind="proactive", title=title, formed_at=_ts(formed), year=None,
            government=False)
    year = anchor.astimezone(TZ).year - 1
    received = datetime.combine(date(year, 12, 31), time(23, 59), tzinfo=TZ)
    for unit in units:
        g = unit.id in gov
        last = service.annual_due(year, g)
        deadline = datetime.combine(last + timedelta(days=1), time(0), tzinfo=TZ)
        late = unit.id in late_units and rng.random() < 0.6
        at = deadline + timedelta(days=rng.randint(1, 30)) if late else \
            deadline - timedelta(days=rng.randint(1, 25), hours=rng.randint(1, 9))
        done = at if at < anchor and rng.random() > 0.03 else None
        title = f"{year}年度政府信息公开工作年度报告" + ("（本级政府）" if g else "")
        add(unit, f"NB.{unit.code}.{year}", title, received, deadline,
            TimeLimit((last - date(year, 12, 31)).days, "d"), done, kind="annual", title=title,
            formed_at=None, year=year, government=g)
    session.execute(insert(Item.__table__), items)
    session.execute(insert(GovinfoDuty.__table__), duties)
    _sequences(session)
