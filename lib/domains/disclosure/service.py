"""信息公开: what villages and units owe, when, and what they published.

Village disclosure (村务e路通), after the Organic Law of Village Committees (村民委员会组织法,
art. 30: 村务 at least quarterly, finances monthly where transactions are many) and common city
rules (党务 half-yearly; major matters within a set number of days of the decision), each
obligation due by a day of the following period (default the 10th). Every obligation is an item
of subsystem VILLAGE owed by the village's town (乡镇人民政府 / 街道办事处, a unit), lit by the one
engine: published on time (green), late (red, closed), missing (red, open).

Government information disclosure (政府信息公开条例, 2019): a request is answered within 20
working days of receipt (art. 33); one extension of at most 20 working days approved by the
head of the disclosure office before the deadline (art. 33); time consulting a third party
(15 working days to reply, art. 32) or another organ not counted (art. 33); an unclear request
gets one correction notice within 7 working days, and the clock restarts when the applicant's
correction is received (art. 30); the answer's type (art. 36). Proactive disclosure within 20
working days of the information being formed or changed (art. 26); annual reports by 31 January
(departments) and 31 March (the government) (art. 49).

Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lib import audit, privacy
from lib.access import CurrentUser, PermissionDenied, require
from lib.clock import now_utc
from lib.config import TZ
from lib.items import upsert_item
from lib.models import AppSetting, Item, Region, Subsystem, Unit, VillageDisclosure
from lib.workdays import TimeLimit, WorkCalendar, load_calendar

from .models import (
    Disclosure,
    DisclosureQuestion,
    GovinfoDuty,
    InfoRequest,
    InfoRequestPause,
    VillageObligation,
    VillageProfile,
)


class DisclosureError(ValueError):
    """A refused action; the message is for the user, in Chinese."""


CATEGORIES = {"party": "党务", "village": "村务", "finance": "财务", "major": "重大事项"}
PUBLIC = "群众"

# Configurable defaults (app_settings keys → default).
SETTINGS = {
    "disclosure.due_day": "10",  # due by this day of the following period
    "disclosure.major_days": "5",  # major matters: natural days after the decision
    # Obligations are tracked from the period starting here; the sweep creates them only once
    # an administrator (or the demo) has stored this setting.
    "disclosure.start": "2026-01-01",
}
RHYTHM = {"party": "H", "village": "Q"}  # finance: M where transactions are many, else Q
RHYTHM_NAMES = {"M": "每月", "Q": "每季度", "H": "每半年"}
QUESTION_LIMIT = TimeLimit(10, "d")
QUESTION_RATE = 5  # questions per source per hour
MAX_QUESTION = 1000
MAX_BODY = 20_000

# 政府信息公开
REQUEST_LIMIT_WD = 20
EXTENSION_MAX_WD = 20
CORRECTION_WD = 7
THIRD_PARTY_WD = 15
PROACTIVE_WD = 20
ANSWER_TYPES = {"open": "公开", "partial": "部分公开", "refuse": "不予公开",
                "none": "信息不存在", "not_ours": "非本机关"}
# The legal grounds for withholding (条例 arts. 14–16): an answer that withholds names one.
REFUSAL_GROUNDS = [
    "国家秘密（条例第十四条）",
    "法律、行政法规禁止公开（条例第十四条）",
    "公开后可能危及国家安全、公共安全、经济安全、社会稳定（条例第十四条）",
    "商业秘密、个人隐私，公开会对第三方合法权益造成损害（条例第十五条）",
    "人事管理、后勤管理、内部工作流程等内部事务信息（条例第十六条）",
    "讨论记录、过程稿、磋商信函、请示报告等过程性信息（条例第十六条）",
    "行政执法案卷信息（条例第十六条）",
]
REQUEST_STATUS = {"received": "办理中", "correction": "待申请人补正", "answered": "已答复"}
PAUSE_KINDS = {"third_party": "征求第三方意见", "organ": "征求其他机关意见"}
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_SUBJECT = 100
MAX_REQUEST = 5000
REQUEST_RATE = 5


def clean(text: str | None) -> str:
    return (text or "").replace("\x00", "").strip()


def setting(session: Session, key: str) -> str:
    value = session.scalar(select(AppSetting.value).where(AppSetting.key == key))
    return value if value is not None else SETTINGS[key]


def due_day(session: Session) -> int:
    return int(setting(session, "disclosure.due_day"))


def major_days(session: Session) -> int:
    return int(setting(session, "disclosure.major_days"))


def tracking_start(session: Session) -> date:
    return date.fromisoformat(setting(session, "disclosure.start"))


# -- periods ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    code: str  # 2026-09 / 2026-Q3 / 2026-H1 / 2026 / 2026-09-14 (a major matter's decision day)
    kind: str  # M / Q / H / Y / D
    start: date
    end: date  # exclusive: the first day after the period

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        y = self.start.year
        if self.kind == "M":
            return f"{y}年{self.start.month}月"
        if self.kind == "Q":
            return f"{y}年第{(self.start.month + 2) // 3}季度"
        if self.kind == "H":
            return f"{y}年{'上' if self.start.month == 1 else '下'}半年"
        if self.kind == "Y":
            return f"{y}年"
        return f"{self.start:%Y年%m月%d日}"

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end


def _month_start(y: int, m: int) -> date:
    while m > 12:
        y, m = y + 1, m - 12
    return date(y, m, 1)


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|Q([1-4])|H([12])|(\d{2})-(\d{2})))?$")


def parse_period(text: str) -> Period:
    """'2026-09' → September, '2026-Q3', '2026-H1', '2026', '2026-09-14' (a decision day)."""
    t = (text or "").strip().upper()
    m = _PERIOD.match(t)
    if not m:
        raise DisclosureError(f"期间格式无效：“{text}”（示例：2026-Q3、2026-09、2026-H1）")
    y = int(m.group(1))
    if not 2000 <= y <= 2039:
        raise DisclosureError(f"期间年份超出范围：“{text}”")
    if m.group(2):
        mo = int(m.group(2))
        if not 1 <= mo <= 12:
            raise DisclosureError(f"期间月份无效：“{text}”")
        return Period(f"{y}-{mo:02d}", "M", date(y, mo, 1), _month_start(y, mo + 1))
    if m.group(3):
        q = int(m.group(3))
        return Period(f"{y}-Q{q}", "Q", date(y, 3 * q - 2, 1), _month_start(y, 3 * q + 1))
    if m.group(4):
        h = int(m.group(4))
        return Period(f"{y}-H{h}", "H", date(y, 6 * h - 5, 1), _month_start(y, 6 * h + 1))
    if m.group(5):
        try:
            d = date(y, int(m.group(5)), int(m.group(6)))
        except ValueError:
            raise DisclosureError(f"日期无效：“{text}”") from None
        return Period(d.isoformat(), "D", d, d + timedelta(days=1))
    return Period(str(y), "Y", date(y, 1, 1), date(y + 1, 1, 1))


def period_of(day: date, kind: str) -> Period:
    """The period of this kind (M, Q, H) containing the day."""
    if kind == "M":
        return parse_period(f"{day.year}-{day.month:02d}")
    if kind == "Q":
        return parse_period(f"{day.year}-Q{(day.month + 2) // 3}")
    if kind == "H":
        return parse_period(f"{day.year}-H{1 if day.month <= 6 else 2}")
    raise ValueError(kind)


def periods_between(first: date, last: date, kind: str) -> list[Period]:
    """Periods of this kind starting on or after `first` and ending (exclusive end) by `last`."""
    out = []
    p = period_of(first, kind)
    if p.start < first:
        p = period_of(p.end, kind)
    while p.end <= last:
        out.append(p)
        p = period_of(p.end, kind)
    return out


def due_on(period: Period, day: int = 10) -> date:
    """The day a period's disclosure is due: the `day`-th of the following period's first month
    (2026-Q3 → 2026-10-10)."""
    return date(period.end.year, period.end.month, day)


def obligation_window(period: Period, day: int = 10, major: int = 5) -> tuple[datetime, datetime,
                                                                            TimeLimit]:
    """(received_at, deadline, limit) of an obligation's item. The clock starts on the period's
    last day (or the decision day) and runs out at 24:00 of the due day."""
    start = datetime.combine(period.last_day, time(23, 59), tzinfo=TZ)
    if period.kind == "D":
        limit = TimeLimit(major, "d")
        last = period.start + timedelta(days=major)
    else:
        last = due_on(period, day)
        limit = TimeLimit((last - period.last_day).days, "d")
    return start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=TZ), limit


def rhythm_of(category: str, finance_monthly: bool) -> str:
    if category == "finance":
        return "M" if finance_monthly else "Q"
    return RHYTHM[category]


def matches(obligation: Period, disclosure: Period) -> bool:
    """A disclosure fulfils an obligation when its period lies within the obligation's (a
    monthly statement within the quarter) or covers it (a quarter's statement for a month)."""
    return obligation.contains(disclosure) or disclosure.contains(obligation)


# -- towns and villages -------------------------------------------------------------------------

def town_unit_code(town: Region) -> str:
    return f"{town.code}.ZF"


def town_unit_name(town: Region, county: Region) -> str:
    return county.name + town.name + ("办事处" if town.name.endswith("街道") else "人民政府")


def ensure_town_units(session: Session) -> dict[int, Unit]:
    """Every town's government as a unit (level `town`), so the village obligations' cards reach
    the town, its county and the scores. Returns {town region id: unit}."""
    regions = {r.id: r for r in session.scalars(select(Region).where(
        Region.level.in_(("county", "town"))).order_by(Region.code))}
    units = {u.code: u for u in session.scalars(select(Unit).where(Unit.level == "town"))}
    out = {}
    for r in regions.values():
        if r.level != "town":
            continue
        code = town_unit_code(r)
        unit = units.get(code)
        if unit is None:
            unit = Unit(code=code, name=town_unit_name(r, regions[r.parent_id]), level="town",
                        region_id=r.id)
            session.add(unit)
        out[r.id] = unit
    session.flush()
    return out


@dataclass(frozen=True)
class Place:
    village: Region
    town: Region
    county: Region
    unit_id: int


def place(session: Session, village_id: int) -> Place:
    village = session.get(Region, village_id)
    if village is None or village.level != "village":
        raise DisclosureError("所选行政村不存在")
    town = session.get(Region, village.parent_id)
    county = session.get(Region, town.parent_id)
    unit = session.scalar(select(Unit).where(Unit.code == town_unit_code(town)))
    if unit is None:
        unit = ensure_town_units(session)[town.id]
    return Place(village, town, county, unit.id)


def village_by_code(session: Session, code: str) -> Region | None:
    return session.scalar(select(Region).where(Region.code == (code or "").strip(),
                                               Region.level == "village"))


def check_village_staff(session: Session, user: CurrentUser, where: Place) -> None:
    """Only the village's own town (its staff) publishes and answers for it."""
    require(user, "update_items")
    if user.is_system:
        return
    if user.unit_id != where.unit_id:
        raise PermissionDenied(f"只有{where.town.name}的经办人可以为{where.village.name}公开和答复")


def _subsystem(session: Session, code: str) -> Subsystem:
    return session.scalar(select(Subsystem).where(Subsystem.code == code))


# -- village obligations ------------------------------------------------------------------------

def obligation_external_id(village_code: str, category: str, period_code: str) -> str:
    return f"VD.{village_code}.{category}.{period_code}"


def _first_publication(session: Session, village_id: int, category: str,
                       period: Period) -> datetime | None:
    rows = session.execute(select(Disclosure.period, Disclosure.published_at).where(
        Disclosure.village_id == village_id, Disclosure.category == category)).all()
    times = [at for code, at in rows if matches(period, parse_period(code))]
    return min(times) if times else None


def sync_obligation(session: Session, cal: WorkCalendar, where: Place, category: str,
                    period: Period, *, actor: str) -> Item:
    """Create or update the obligation's item: its deadline from the period, its completion the
    first disclosure that fulfils it."""
    received, deadline, limit = obligation_window(period, due_day(session), major_days(session))
    ext = obligation_external_id(where.village.code, category, period.code)
    title = f"{where.village.name}{period.label}{CATEGORIES[category]}公开"
    item, _ = upsert_item(
        session, cal, external_id=ext, subsystem=_subsystem(session, "VILLAGE"),
        unit_id=where.unit_id, received_at=received, limit=limit,
        completed_at=_first_publication(session, where.village.id, category, period),
        actor=actor, title=title[:200], region_id=where.county.id, deadline=deadline)
    if session.get(VillageObligation, item.id) is None:
        session.add(VillageObligation(item_id=item.id, village_id=where.village.id,
                                      category=category, period=period.code,
                                      due_on=(deadline - timedelta(days=1)).date()))
        session.flush()
    return item


def ensure_obligations(session: Session, as_of: datetime | None = None, *,
                       village_ids: list[int] | None = None, actor: str = "系统（信息公开）") -> int:
    """Every periodic obligation ended by `as_of` that has no item yet (run after each period
    ends, by the sweep; idempotent, and cheap when nothing is missing). Returns how many were
    created."""
    as_of = as_of or now_utc()
    stmt = select(Region.id).where(Region.level == "village").order_by(Region.id)
    if village_ids is not None:
        stmt = stmt.where(Region.id.in_(village_ids))
    ids = session.scalars(stmt).all()
    if not ids:
        return 0
    existing = set(session.execute(select(VillageObligation.village_id, VillageObligation.category,
                                          VillageObligation.period)).all())
    monthly = dict(session.execute(select(VillageProfile.village_id,
                                          VillageProfile.finance_monthly)).all())
    first, last = tracking_start(session), as_of.astimezone(TZ).date()
    periods = {kind: periods_between(first, last, kind) for kind in ("M", "Q", "H")}
    cal = None
    created = 0
    for vid in ids:
        where = None
        for cat in ("party", "village", "finance"):
            for p in periods[rhythm_of(cat, bool(monthly.get(vid)))]:
                if (vid, cat, p.code) in existing:
                    continue
                cal = cal or load_calendar(session)
                where = where or place(session, vid)
                sync_obligation(session, cal, where, cat, p, actor=actor)
                created += 1
    return created


def due(session: Session, now: datetime | None = None) -> dict:
    """What falls due with the calendar (the sweep runs it): the periods just ended, and after
    New Year the annual reports on the year before."""
    now = now or now_utc()
    if session.get(AppSetting, "disclosure.start") is None:
        # Not switched on: an administrator (or the demo) sets the day tracking starts.
        return {"obligations": 0, "annual_reports": 0}
    year = now.astimezone(TZ).year - 1
    reports = 0
    if date(year + 1, 1, 1) >= tracking_start(session) and session.scalar(select(GovinfoDuty.item_id).where(GovinfoDuty.kind == "annual",
                                                        GovinfoDuty.year == year).limit(1)) is None:
        reports = ensure_annual_reports(session, year)
    return {"obligations": ensure_obligations(session, now), "annual_reports": reports}


# -- disclosures --------------------------------------------------------------------------------

def _money(value, what: str) -> Decimal:
    if value in (None, ""):
        return Decimal("0.00")
    try:
        d = Decimal(str(value).replace(",", "")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise DisclosureError(f"{what}不是有效金额：“{value}”") from None
    if not d.is_finite():
        raise DisclosureError(f"{what}不是有效金额：“{value}”")
    if d < 0:
        raise DisclosureError(f"{what}不能为负数：“{value}”")
    return d


def _cell(value) -> str:
    """A table cell as text: a cell the editor cleared (None) or added empty (NaN) is empty,
    not the words "None" or "nan"."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def finance_rows(rows: list[dict] | None) -> list[dict]:
    """The finance table checked: each row an item name with income and spending (yuan)."""
    out = []
    for i, r in enumerate(rows or [], start=1):
        name = clean(_cell(r.get("item")))
        income, spending = _cell(r.get("income")).strip(), _cell(r.get("spending")).strip()
        if not name and not income and not spending:
            continue
        if not name:
            raise DisclosureError(f"收支表第 {i} 行缺少项目名称")
        if len(name) > 100:
            raise DisclosureError(f"收支表第 {i} 行项目名称超过 100 字")
        out.append({"item": name, "income": str(_money(income, f"第 {i} 行收入")),
                    "spending": str(_money(spending, f"第 {i} 行支出"))})
    if len(out) > 200:
        raise DisclosureError("收支表最多 200 行")
    return out


def _count_published(session: Session, village_id: int, category: str, at: datetime) -> None:
    """The village's monthly count (the cockpit's figure) follows each publication."""
    column = {"party": "party_items", "village": "village_items", "finance": "finance_items",
              "major": "village_items"}[category]
    month = at.astimezone(TZ).date().replace(day=1)
    row = session.scalar(select(VillageDisclosure).where(
        VillageDisclosure.village_id == village_id, VillageDisclosure.month == month))
    if row is None:
        row = VillageDisclosure(village_id=village_id, month=month, party_items=0, village_items=0,
                                finance_items=0, views=0)
        session.add(row)
    setattr(row, column, (getattr(row, column) or 0) + 1)


def publish(session: Session, user: CurrentUser, *, village_id: int, category: str, period: str,
            title: str, body: str = "", finance: list[dict] | None = None,
            published_at: datetime | None = None, external_id: str | None = None,
            now: datetime | None = None, actor: str | None = None) -> Disclosure:
    """A village's disclosure, published by its town's staff (or imported); the obligations it
    fulfils are brought in line (on time or late) and named in its `settled` (their periods'
    labels: none when its period has not ended yet). The same content published again for the
    same village, category and period is refused."""
    now = now or now_utc()
    where = place(session, village_id)
    check_village_staff(session, user, where)
    if category not in CATEGORIES:
        raise DisclosureError(f"未知公开类别“{category}”")
    p = parse_period(period)
    if category == "major" and p.kind != "D":
        raise DisclosureError("重大事项的期间填决定日期（如 2026-09-14）")
    if category != "major" and p.kind not in ("M", "Q", "H"):
        raise DisclosureError("党务、村务、财务的期间填月份、季度或半年（如 2026-09、2026-Q3、2026-H1）")
    title, body = clean(title), clean(body)
    if len(title) < 2 or len(title) > 200:
        raise DisclosureError("标题须为 2–200 字")
    if len(body) > MAX_BODY:
        raise DisclosureError(f"正文不能超过 {MAX_BODY} 字")
    rows = finance_rows(finance)
    if rows and category != "finance":
        raise DisclosureError("只有财务公开附收支表")
    at = published_at or now
    if at > now + timedelta(minutes=1):
        raise DisclosureError("公开时间不能晚于当前时间")
    if category == "major" and p.start > at.astimezone(TZ).date():
        raise DisclosureError(f"重大事项决定日期（{p.start}）不能晚于公开之日")
    if at.astimezone(TZ).date() < p.start:
        raise DisclosureError(f"公开时间不能早于所公开期间的开始（{p.start}）")
    # The village's row locked (as add_proactive locks the unit's): two publications of the
    # same content at once are checked in turn.
    session.execute(select(Region.id).where(Region.id == village_id).with_for_update())
    same = session.execute(select(Disclosure.external_id, Disclosure.published_at).where(
        Disclosure.village_id == village_id, Disclosure.category == category,
        Disclosure.period == p.code, Disclosure.title == title,
        Disclosure.body == body if body else Disclosure.body.is_(None))).first()
    if same is not None and external_id is None:
        raise DisclosureError(f"{where.village.name}已于 {same[1].astimezone(TZ):%Y-%m-%d %H:%M} 发布"
                              f"相同内容（编号 {same[0]}），请勿重复发布；如需更正，请修改标题或正文后发布")
    ext = external_id or f"GK.{where.village.code}.{secrets.token_hex(4)}"
    if session.scalar(select(Disclosure.id).where(Disclosure.external_id == ext)) is not None:
        raise DisclosureError(f"公开编号“{ext}”已存在")
    who = actor or user.username
    d = Disclosure(external_id=ext, village_id=village_id, category=category, period=p.code,
                   title=title, body=body or None,
                   finance=json.dumps(rows, ensure_ascii=False) if rows else None,
                   published_at=at, published_by=who, views=0)
    session.add(d)
    session.flush()
    _count_published(session, village_id, category, at)
    d.settled = [parse_period(code).label for code in _sync_for(session, where, category, p, who, now)]
    audit.record(session, actor=who, action="disclosure.publish", entity="disclosure",
                 entity_id=ext, after={"village": where.village.code, "category": category,
                                       "period": p.code, "title": title, "published_at": at})
    return d


def _sync_for(session: Session, where: Place, category: str, p: Period, actor: str,
              now: datetime) -> list[str]:
    """Bring the obligations a disclosure of period `p` touches in line: the existing ones, and
    the one it belongs to when that period has ended (or is a major matter). Returns their
    periods' codes."""
    cal = load_calendar(session)
    existing = session.execute(select(VillageObligation.period).where(
        VillageObligation.village_id == where.village.id,
        VillageObligation.category == category)).scalars().all()
    touched = {code for code in existing if matches(parse_period(code), p)}
    if category == "major":
        touched.add(p.code)
    else:
        monthly = session.scalar(select(VillageProfile.finance_monthly).where(
            VillageProfile.village_id == where.village.id)) or False
        own = period_of(p.start, rhythm_of(category, monthly))
        if own.end <= now.astimezone(TZ).date() + timedelta(days=1) and \
                own.start >= tracking_start(session):
            touched.add(own.code)
    for code in sorted(touched):
        sync_obligation(session, cal, where, category, parse_period(code), actor=actor)
    return sorted(touched)


def record_view(session: Session, disclosure_id: int, now: datetime | None = None) -> int:
    """A reader opened the disclosure: its count and the village's month count go up by one."""
    now = now or now_utc()
    d = session.get(Disclosure, disclosure_id)
    if d is None:
        raise DisclosureError("该公开内容不存在")
    session.execute(update(Disclosure).where(Disclosure.id == disclosure_id)
                    .values(views=Disclosure.views + 1))
    month = now.astimezone(TZ).date().replace(day=1)
    n = session.execute(update(VillageDisclosure).where(
        VillageDisclosure.village_id == d.village_id, VillageDisclosure.month == month)
        .values(views=VillageDisclosure.views + 1)).rowcount
    if not n:
        session.add(VillageDisclosure(village_id=d.village_id, month=month, party_items=0,
                                      village_items=0, finance_items=0, views=1))
    session.flush()
    return session.scalar(select(Disclosure.views).where(Disclosure.id == disclosure_id))


# -- villagers' questions -----------------------------------------------------------------------

def ask(session: Session, disclosure_id: int, question: str, *, source: str | None = None,
        now: datetime | None = None) -> DisclosureQuestion:
    """A villager asks about a disclosure; the village owes an answer within 10 days."""
    now = now or now_utc()
    d = session.get(Disclosure, disclosure_id)
    if d is None:
        raise DisclosureError("该公开内容不存在")
    text = clean(question)
    if len(text) < 5:
        raise DisclosureError("问题至少 5 个字")
    if len(text) > MAX_QUESTION:
        raise DisclosureError(f"问题不能超过 {MAX_QUESTION} 字")
    h = privacy.source_hash(source)
    if h:
        recent = session.scalar(select(func.count()).select_from(DisclosureQuestion).where(
            DisclosureQuestion.source_hash == h,
            DisclosureQuestion.asked_at > now - timedelta(hours=1)))
        if recent >= QUESTION_RATE:
            raise DisclosureError(f"提问过于频繁：同一来源每小时最多 {QUESTION_RATE} 个问题，请稍后再试")
    where = place(session, d.village_id)
    cal = load_calendar(session)
    n = (session.scalar(select(func.max(DisclosureQuestion.id))) or 0) + 1
    item, _ = upsert_item(
        session, cal, external_id=f"VQ.{where.village.code}.{n}",
        subsystem=_subsystem(session, "VILLAGE"), unit_id=where.unit_id, received_at=now,
        limit=QUESTION_LIMIT, completed_at=None, actor=PUBLIC,
        title=f"村民提问：{where.village.name}“{d.title}”"[:200], region_id=where.county.id)
    q = DisclosureQuestion(disclosure_id=d.id, item_id=item.id, question=text, asked_at=now,
                           source_hash=h)
    session.add(q)
    session.flush()
    audit.record(session, actor=PUBLIC, action="disclosure.ask", entity="disclosure_question",
                 entity_id=str(q.id), after={"disclosure": d.external_id, "item": item.external_id})
    return q


def answer_question(session: Session, user: CurrentUser, question_id: int, answer: str, *,
                    now: datetime | None = None) -> DisclosureQuestion:
    now = now or now_utc()
    q = session.get(DisclosureQuestion, question_id)
    if q is None:
        raise DisclosureError("该问题不存在")
    d = session.get(Disclosure, q.disclosure_id)
    where = place(session, d.village_id)
    check_village_staff(session, user, where)
    if q.answered_at is not None:
        raise DisclosureError("该问题已答复")
    text = clean(answer)
    if len(text) < 5:
        raise DisclosureError("答复至少 5 个字")
    if len(text) > MAX_QUESTION * 2:
        raise DisclosureError(f"答复不能超过 {MAX_QUESTION * 2} 字")
    q.answer, q.answered_at, q.answered_by = text, now, user.username
    item = session.get(Item, q.item_id)
    cal = load_calendar(session)
    upsert_item(session, cal, external_id=item.external_id, subsystem=item.subsystem,
                unit_id=item.unit_id, received_at=item.received_at, limit=QUESTION_LIMIT,
                completed_at=now, actor=user.username, note="答复村民提问")
    audit.record(session, actor=user.username, action="disclosure.answer",
                 entity="disclosure_question", entity_id=str(q.id), after={"answered_at": now})
    return q


# -- 政府信息公开: requests ------------------------------------------------------------------------

def _new_code(session: Session, rng=None) -> str:
    choice = rng.choice if rng is not None else secrets.choice
    while True:
        code = "GK" + "".join(choice(CODE_ALPHABET) for _ in range(10))
        if session.scalar(select(InfoRequest.id).where(InfoRequest.code == code)) is None:
            return code


def _day(dt: datetime) -> date:
    return dt.astimezone(TZ).date()


def paused_workdays(cal: WorkCalendar, pauses: list[InfoRequestPause]) -> int:
    """Working days not counted: each pause's (start, end]; a pause still open counts as the
    third party's 15 working days (the clock resumes then at the latest)."""
    total = 0
    for p in pauses:
        if p.ended_at is None:
            total += THIRD_PARTY_WD
        else:
            total += cal.working_days_between(_day(p.started_at), _day(p.ended_at))
    return total


def request_deadline(cal: WorkCalendar, req: InfoRequest, pauses: list[InfoRequestPause]) -> datetime:
    """24:00 of the 20th working day after the (corrected) request's receipt, plus the approved
    extension and the working days spent waiting for a third party or another organ."""
    start = _day(req.corrected_at or req.received_at)
    counted = [p for p in pauses if req.corrected_at is None or p.started_at >= req.corrected_at]
    n = REQUEST_LIMIT_WD + (req.extension_days or 0) + paused_workdays(cal, counted)
    last = cal.add_working_days(start, n)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=TZ)


def _pauses(session: Session, req: InfoRequest) -> list[InfoRequestPause]:
    return list(session.scalars(select(InfoRequestPause).where(
        InfoRequestPause.request_id == req.id).order_by(InfoRequestPause.started_at)))


def _sync_request(session: Session, req: InfoRequest, actor: str, note: str) -> Item:
    cal = load_calendar(session)
    item = session.get(Item, req.item_id)
    if req.status == "answered":
        done = req.answered_at
    elif req.status == "correction":
        done = req.correction_at  # the unit's step is done: the applicant owes the correction
    else:
        done = None
    item, _ = upsert_item(
        session, cal, external_id=item.external_id, subsystem=item.subsystem,
        unit_id=req.unit_id, received_at=req.corrected_at or req.received_at,
        limit=TimeLimit(REQUEST_LIMIT_WD, "wd"), completed_at=done, actor=actor, note=note,
        deadline=request_deadline(cal, req, _pauses(session, req)))
    return item


def submit_request(session: Session, *, unit_id: int | None, subject: str, body: str,
                   name: str = "", contact: str = "", source: str | None = None,
                   now: datetime | None = None, code_rng=None) -> InfoRequest:
    """A request from the portal: a tracking code and an answer due in 20 working days. The
    applicant chooses the agency (none chosen: refused with the other missing fields)."""
    now = now or now_utc()
    unit = None if unit_id is None else session.get(Unit, unit_id)
    if unit_id is not None and unit is None:
        raise DisclosureError("所选单位不存在")
    subject, body, name, contact = clean(subject), clean(body), clean(name), clean(contact)
    errors = [] if unit is not None else ["请选择向哪个机关申请"]
    if len(subject) < 4 or len(subject) > MAX_SUBJECT:
        errors.append(f"所需信息名称须为 4–{MAX_SUBJECT} 字")
    if len(body) < 10 or len(body) > MAX_REQUEST:
        errors.append(f"信息内容描述须为 10–{MAX_REQUEST} 字")
    if not name or len(name) > 50:
        errors.append("请填写申请人姓名或名称（50 字以内）")
    if not contact or len(contact) > 100:
        errors.append("请填写联系方式（100 字以内）")
    if errors:
        raise DisclosureError("；".join(errors))
    h = privacy.source_hash(source)
    if h:
        recent = session.scalar(select(func.count()).select_from(InfoRequest).where(
            InfoRequest.source_hash == h, InfoRequest.received_at > now - timedelta(hours=1)))
        if recent >= REQUEST_RATE:
            raise DisclosureError(f"提交过于频繁：同一来源每小时最多 {REQUEST_RATE} 件，请稍后再试")
    code = _new_code(session, code_rng)
    cal = load_calendar(session)
    region = session.get(Region, unit.region_id)
    item, _ = upsert_item(
        session, cal, external_id=code, subsystem=_subsystem(session, "GOVINFO"),
        unit_id=unit.id, received_at=now, limit=TimeLimit(REQUEST_LIMIT_WD, "wd"),
        completed_at=None, actor=PUBLIC, title=f"依申请公开：{subject}"[:200],
        region_id=region.id if region.level == "county" else None)
    req = InfoRequest(code=code, item_id=item.id, unit_id=unit.id, subject=subject, body=body,
                      name_enc=privacy.encrypt(name), contact_enc=privacy.encrypt(contact),
                      source_hash=h, received_at=now, status="received")
    session.add(req)
    session.flush()
    audit.record(session, actor=PUBLIC, action="govinfo.request", entity="info_request",
                 entity_id=code, after={"unit": unit.code, "deadline": item.deadline})
    return req


def _request_for(session: Session, user: CurrentUser, request_id: int) -> InfoRequest:
    require(user, "update_items")
    req = session.get(InfoRequest, request_id)
    if req is None:
        raise DisclosureError("该申请不存在")
    if not user.is_system and user.unit_id != req.unit_id:
        raise PermissionDenied("只能办理本单位收到的申请")
    if req.status == "answered":
        raise DisclosureError("该申请已答复，不能再办理")
    return req


def send_correction(session: Session, user: CurrentUser, request_id: int, note: str, *,
                    now: datetime | None = None) -> InfoRequest:
    """One correction notice, within 7 working days of receipt; the clock stops until the
    applicant's correction arrives, then starts again from it."""
    now = now or now_utc()
    req = _request_for(session, user, request_id)
    if req.correction_at is not None:
        raise DisclosureError("补正通知只能发一次")
    cal = load_calendar(session)
    limit = cal.deadline(req.received_at, TimeLimit(CORRECTION_WD, "wd"))
    if now > limit:
        raise DisclosureError(f"补正通知须在收到申请后 {CORRECTION_WD} 个工作日内发出（至 "
                              f"{limit.astimezone(TZ):%Y-%m-%d %H:%M} 止），已逾期，应按原申请答复")
    text = clean(note)
    if len(text) < 5 or len(text) > 1000:
        raise DisclosureError("补正通知须写明需要补正的事项和合理期限（5–1000 字）")
    if any(p.ended_at is None for p in _pauses(session, req)):
        raise DisclosureError("正在征求意见，不能同时发补正通知")
    req.status, req.correction_note, req.correction_at = "correction", text, now
    _sync_request(session, req, user.username, "发出补正通知，申请人补正前不计时")
    audit.record(session, actor=user.username, action="govinfo.correction", entity="info_request",
                 entity_id=req.code, after={"note": text})
    return req


def supply_correction(session: Session, code: str, text: str, *,
                      now: datetime | None = None) -> InfoRequest:
    """The applicant corrects the request (by its tracking code): the 20 working days start
    again from now."""
    now = now or now_utc()
    req = session.scalar(select(InfoRequest).where(InfoRequest.code == (code or "").strip().upper()))
    if req is None:
        raise DisclosureError("查询码不存在，请核对")
    if req.status != "correction":
        raise DisclosureError("该申请不需要补正")
    body = clean(text)
    if len(body) < 5 or len(body) > MAX_REQUEST:
        raise DisclosureError(f"补正内容须为 5–{MAX_REQUEST} 字")
    req.body = (req.body + "\n【补正】" + body)[: MAX_REQUEST * 2]
    req.status, req.corrected_at = "received", now
    _sync_request(session, req, PUBLIC, "申请人补正，重新计算答复期限")
    audit.record(session, actor=PUBLIC, action="govinfo.corrected", entity="info_request",
                 entity_id=req.code, after={"corrected_at": now})
    return req


def extend(session: Session, user: CurrentUser, request_id: int, days: int, approver: str,
           reason: str, *, now: datetime | None = None) -> InfoRequest:
    """One extension of at most 20 working days, approved by the head of the unit's disclosure
    office before the deadline."""
    now = now or now_utc()
    req = _request_for(session, user, request_id)
    if req.status != "received":
        raise DisclosureError("待申请人补正的申请不能延期")
    if req.extension_days:
        raise DisclosureError("答复期限只能延长一次")
    if not isinstance(days, int) or not 1 <= days <= EXTENSION_MAX_WD:
        raise DisclosureError(f"延长期限须为 1–{EXTENSION_MAX_WD} 个工作日")
    approver, reason = clean(approver), clean(reason)
    if len(approver) < 2 or len(approver) > 32:
        raise DisclosureError("须写明批准延期的信息公开工作机构负责人")
    if len(reason) < 5 or len(reason) > 1000:
        raise DisclosureError("延期理由须为 5–1000 字")
    item = session.get(Item, req.item_id)
    if now >= item.deadline:
        raise DisclosureError("答复期限已过，不能再延期")
    req.extension_days, req.extension_approver = days, approver
    req.extension_reason, req.extension_at = reason, now
    _sync_request(session, req, user.username, f"经{approver}批准延长 {days} 个工作日")
    audit.record(session, actor=user.username, action="govinfo.extend", entity="info_request",
                 entity_id=req.code, after={"days": days, "approver": approver})
    return req


def start_pause(session: Session, user: CurrentUser, request_id: int, kind: str, party: str, *,
                now: datetime | None = None) -> InfoRequestPause:
    """Consulting a third party or another organ: the time until the reply is not counted."""
    now = now or now_utc()
    req = _request_for(session, user, request_id)
    if req.status != "received":
        raise DisclosureError("待申请人补正的申请不能征求意见")
    if kind not in PAUSE_KINDS:
        raise DisclosureError("未知的征求意见类型")
    party = clean(party)
    if len(party) < 2 or len(party) > 100:
        raise DisclosureError("须写明征求意见的对象（2–100 字）")
    if any(p.ended_at is None for p in _pauses(session, req)):
        raise DisclosureError("已有正在进行的征求意见，请先登记其答复")
    if now >= session.get(Item, req.item_id).deadline:
        raise DisclosureError("答复期限已过，不能再中止计时")
    p = InfoRequestPause(request_id=req.id, kind=kind, party=party, started_at=now)
    session.add(p)
    session.flush()
    _sync_request(session, req, user.username, f"{PAUSE_KINDS[kind]}（{party}），期间不计时")
    audit.record(session, actor=user.username, action="govinfo.pause", entity="info_request",
                 entity_id=req.code, after={"kind": kind, "party": party})
    return p


def end_pause(session: Session, user: CurrentUser, request_id: int, *,
              now: datetime | None = None) -> InfoRequestPause:
    now = now or now_utc()
    req = _request_for(session, user, request_id)
    open_ = [p for p in _pauses(session, req) if p.ended_at is None]
    if not open_:
        raise DisclosureError("没有正在进行的征求意见")
    p = open_[0]
    if now < p.started_at:
        raise DisclosureError("答复时间不能早于征求意见时间")
    p.ended_at = now
    _sync_request(session, req, user.username, f"收到{p.party}的意见，恢复计时")
    audit.record(session, actor=user.username, action="govinfo.resume", entity="info_request",
                 entity_id=req.code, after={"ended_at": now})
    return p


def answer_request(session: Session, user: CurrentUser, request_id: int, answer_type: str,
                   text: str, reason: str = "", *, now: datetime | None = None) -> InfoRequest:
    """The answer and its type; withholding (in part or whole) names the legal ground."""
    now = now or now_utc()
    req = _request_for(session, user, request_id)
    if req.status != "received":
        raise DisclosureError("待申请人补正的申请，补正后再答复")
    if answer_type not in ANSWER_TYPES:
        raise DisclosureError("未知的答复类型")
    text, reason = clean(text), clean(reason)
    if len(text) < 5 or len(text) > MAX_REQUEST:
        raise DisclosureError(f"答复内容须为 5–{MAX_REQUEST} 字")
    if answer_type in ("refuse", "partial") and reason not in REFUSAL_GROUNDS:
        raise DisclosureError("不予公开或部分公开须选择法定理由")
    if answer_type == "not_ours" and len(reason) < 2:
        raise DisclosureError("非本机关负责公开的，须告知负责公开的机关名称")
    if any(p.ended_at is None for p in _pauses(session, req)):
        end_pause(session, user, request_id, now=now)
    req.status, req.answer_type, req.answer = "answered", answer_type, text
    req.answer_reason, req.answered_at = reason or None, now
    _sync_request(session, req, user.username, f"答复：{ANSWER_TYPES[answer_type]}")
    audit.record(session, actor=user.username, action="govinfo.answer", entity="info_request",
                 entity_id=req.code, after={"type": answer_type, "reason": reason or None})
    return req


@dataclass(frozen=True)
class RequestView:
    code: str
    unit: str
    subject: str
    status: str
    received_at: datetime
    deadline: datetime | None
    answer_type: str | None
    answer: str | None
    answer_reason: str | None
    answered_at: datetime | None
    correction_note: str | None
    needs_correction: bool
    extension: str | None
    pauses: list[tuple[str, datetime, datetime | None]]


def track_request(session: Session, code: str) -> RequestView:
    """What the applicant sees by the tracking code (no personal data)."""
    req = session.scalar(select(InfoRequest).where(InfoRequest.code == (code or "").strip().upper()))
    if req is None:
        raise DisclosureError("查询码不存在，请核对")
    item = session.get(Item, req.item_id)
    unit = session.get(Unit, req.unit_id)
    return RequestView(
        req.code, unit.name, req.subject, REQUEST_STATUS[req.status], req.received_at,
        item.deadline if req.status == "received" else None,
        ANSWER_TYPES.get(req.answer_type) if req.answer_type else None, req.answer,
        req.answer_reason, req.answered_at, req.correction_note, req.status == "correction",
        f"延长 {req.extension_days} 个工作日（{req.extension_reason}）" if req.extension_days else None,
        [(PAUSE_KINDS[p.kind], p.started_at, p.ended_at) for p in _pauses(session, req)])


# -- 政府信息公开: proactive disclosure and annual reports -------------------------------------------

def add_proactive(session: Session, user: CurrentUser, unit_id: int, title: str,
                  formed_at: datetime, *, published_at: datetime | None = None,
                  now: datetime | None = None, seq: int | None = None) -> Item:
    """Information formed or changed on `formed_at`: to be published within 20 working days."""
    require(user, "update_items")
    if not user.is_system and user.unit_id != unit_id:
        raise PermissionDenied("只能登记本单位的主动公开事项")
    now = now or now_utc()
    title = clean(title)
    if len(title) < 4 or len(title) > 150:
        raise DisclosureError("信息名称须为 4–150 字")
    if formed_at > now:
        raise DisclosureError("信息形成或变更时间不能晚于当前时间")
    if published_at is not None and (published_at < formed_at or published_at > now):
        raise DisclosureError("公开时间须在信息形成之后、当前时间之前")
    # The unit's row locked (PostgreSQL; SQLite's write transaction is one writer already): two
    # clerks registering at once are checked for the same information, and numbered, in turn.
    session.execute(select(Unit.id).where(Unit.id == unit_id).with_for_update())
    _refuse_duplicate(session, unit_id, title, formed_at)
    unit = session.get(Unit, unit_id)
    n = seq or (session.scalar(select(func.count()).select_from(GovinfoDuty).where(
        GovinfoDuty.unit_id == unit_id, GovinfoDuty.kind == "proactive")) or 0) + 1
    region = session.get(Region, unit.region_id)
    item, _ = upsert_item(
        session, load_calendar(session), external_id=f"ZD.{unit.code}.{n}",
        subsystem=_subsystem(session, "GOVINFO"), unit_id=unit_id, received_at=formed_at,
        limit=TimeLimit(PROACTIVE_WD, "wd"), completed_at=published_at, actor=user.username,
        title=f"主动公开：{title}"[:200], region_id=region.id if region.level == "county" else None)
    session.add(GovinfoDuty(item_id=item.id, unit_id=unit_id, kind="proactive", title=title,
                            formed_at=formed_at))
    session.flush()
    return item


def _refuse_duplicate(session: Session, unit_id: int, title: str, formed_at: datetime) -> None:
    """The same information registered twice by a unit: refused while the first is not yet
    published, or when it was formed the same day (a changed information published before is
    registered again, by the day it changed)."""
    same = session.execute(
        select(Item.external_id, Item.completed_at, GovinfoDuty.formed_at)
        .join(Item, Item.id == GovinfoDuty.item_id)
        .where(GovinfoDuty.unit_id == unit_id, GovinfoDuty.kind == "proactive",
               GovinfoDuty.title == title)).all()
    day = formed_at.astimezone(TZ).date()
    for external_id, published, formed in same:
        if published is None:
            raise DisclosureError(f"本单位已登记“{title}”（编号 {external_id}），尚未公开，请勿重复登记；"
                                  "公开后请用“登记已公开”登记")
        if formed is not None and formed.astimezone(TZ).date() == day:
            raise DisclosureError(f"本单位已登记 {day} 形成或变更的“{title}”（编号 {external_id}），"
                                  "请勿重复登记")


def annual_due(year: int, government: bool) -> date:
    """A department's report on `year` by 31 January, the government's by 31 March."""
    return date(year + 1, 3, 31) if government else date(year + 1, 1, 31)


def government_units(session: Session) -> set[int]:
    """The units that publish a government's own annual report: each government's 政务服务和
    数据管理局 (its disclosure office), the city's and each county's."""
    return set(session.scalars(select(Unit.id).where(Unit.code.like("%.ZSJ"))))


def ensure_annual_reports(session: Session, year: int, *, actor: str = "系统（信息公开）") -> int:
    """The annual reports on `year` every department and government owes (idempotent)."""
    cal = load_calendar(session)
    sub = _subsystem(session, "GOVINFO")
    gov = government_units(session)
    have = set(session.scalars(select(GovinfoDuty.unit_id).where(
        GovinfoDuty.kind == "annual", GovinfoDuty.year == year)))
    units = session.scalars(select(Unit).where(Unit.level.in_(("municipal", "county")))
                            .order_by(Unit.id)).all()
    regions = dict(session.execute(select(Region.id, Region.level)).all())
    n = 0
    for u in units:
        if u.id in have:
            continue
        g = u.id in gov
        start = datetime.combine(date(year, 12, 31), time(23, 59), tzinfo=TZ)
        last = annual_due(year, g)
        deadline = datetime.combine(last + timedelta(days=1), time(0), tzinfo=TZ)
        what = "政府信息公开工作年度报告" + ("（本级政府）" if g else "")
        item, _ = upsert_item(
            session, cal, external_id=f"NB.{u.code}.{year}", subsystem=sub, unit_id=u.id,
            received_at=start, limit=TimeLimit((last - date(year, 12, 31)).days, "d"),
            completed_at=None, actor=actor, title=f"{year}年度{what}",
            region_id=u.region_id if regions[u.region_id] == "county" else None,
            deadline=deadline)
        session.add(GovinfoDuty(item_id=item.id, unit_id=u.id, kind="annual",
                                title=f"{year}年度{what}", year=year, government=g))
        n += 1
    session.flush()
    return n


def record_duty_published(session: Session, user: CurrentUser, item_id: int,
                          published_at: datetime, *, now: datetime | None = None) -> Item:
    """A proactive disclosure or annual report published (by its unit)."""
    require(user, "update_items")
    now = now or now_utc()
    duty = session.get(GovinfoDuty, item_id)
    if duty is None:
        raise DisclosureError("该公开事项不存在")
    if not user.is_system and user.unit_id != duty.unit_id:
        raise PermissionDenied("只能登记本单位的公开")
    item = session.get(Item, item_id)
    if item.completed_at is not None:
        raise DisclosureError("该事项已登记公开")
    if published_at > now:
        raise DisclosureError("公开时间不能晚于当前时间")
    if published_at < item.received_at - timedelta(days=400):
        raise DisclosureError("公开时间过早：不能早于该事项登记前一年以上")
    if duty.kind == "proactive" and published_at < duty.formed_at:
        raise DisclosureError("公开时间不能早于信息形成时间")
    upsert_item(session, load_calendar(session), external_id=item.external_id,
                subsystem=item.subsystem, unit_id=item.unit_id, received_at=item.received_at,
                limit=(TimeLimit(item.limit_value, item.limit_unit) if item.limit_value else None),
                completed_at=published_at, actor=user.username, note="登记公开",
                deadline=item.deadline)
    return item



