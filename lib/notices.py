"""Supervision notices (督办): issued by the sweep itself, followed up, escalated.

The sweep (`python -m lib sweep`, for cron; the app also runs it at most once a minute) finds
every open item past its deadline and issues exactly one notice per item and crossing to its
unit. Exactly-once is the database's: a unique index on (item, crossing) and INSERT … ON CONFLICT
DO NOTHING, so running it twice, or in two processes at once, never duplicates a notice.

A notice not acknowledged by its reply date escalates: level 2 to the unit's head, level 3 to the
discipline inspectors, each step recorded. After each step the unit gets a grace period (a new
reply date) before anything is sent again.

Lifecycle: issued → acknowledged → rectified (the unit reports) → closed (verified), or
returned for rework and reported again. Functions never commit; the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, and_, cast, false, literal, select, type_coerce, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lib import audit, db
from lib.access import CurrentUser, PermissionDenied, check_unit, require
from lib.clock import now_utc
from lib.config import TZ
from lib.lights import VERDICT_RED, epoch, fmt_duration, fmt_time
from lib.models import VERDICT_RED_SQL, AppSetting, Item, Notice, NoticeEvent, Subsystem
from lib.workdays import load_calendar, parse_limit

SYSTEM_ACTOR = "系统（自动督办）"
STATUS = {"issued": "已发出，待签收", "acknowledged": "已签收，整改中", "rectified": "已报告整改，待核查",
          "returned": "核查未通过，重新整改", "closed": "已核查办结"}
LEVELS = {1: "一级：责任单位", 2: "二级：提级至单位主要负责人", 3: "三级：移送纪检监察机关"}
# What each step of a notice's history (NoticeEvent.action) is called on the screen.
ACTIONS = {"issued": "发出督办通知", "escalated": "逾期未签收，提级督办", "acknowledged": "单位签收",
           "rectified": "报告整改情况", "closed": "核查通过，办结", "returned": "核查未通过，退回整改"}
REPLY_LIMIT = "2wd"  # the unit acknowledges and reports within this
GRACE = "1wd"  # after an escalation, before anything is sent again
SWEEP_INTERVAL = timedelta(minutes=1)
REQUIREMENTS = ("请于收到本通知后立即组织办理，查明逾期原因，落实整改措施，并在回复期限前书面报告整改落实情况。"
                "逾期未签收、未回复的，系统将提级督办，直至移送纪检监察机关。")


class NoticeError(ValueError):
    """A refused action on a notice; the message is for the user, in Chinese."""


def number(notice_id: int, issued_at: datetime) -> str:
    """The document number of a notice: 湛纪督〔2026〕00012号."""
    return f"湛纪督〔{issued_at.astimezone(TZ).year}〕{notice_id:05d}号"


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Notice)


def _event(session: Session, notice_id: int, at: datetime, actor: str, action: str, level: int,
           note: str | None = None) -> None:
    session.add(NoticeEvent(notice_id=notice_id, at=at, actor=actor, action=action, level=level,
                            note=note))


def _matter(item: Item, subsystem: str, at: datetime) -> str:
    if item.verdict == VERDICT_RED:
        return (f"{subsystem}事项 {item.external_id}《{item.title or '—'}》于 "
                f"{fmt_time(item.deadline)} 触发红线规则，亮红牌。")
    late = fmt_duration(epoch(at) - epoch(item.deadline))
    return (f"{subsystem}事项 {item.external_id}《{item.title or '—'}》办理期限为 "
            f"{fmt_time(item.deadline)}，至 {fmt_time(at)} 仍未办结，已逾期 {late}，亮红牌。")


ISSUE_BATCH = 1000  # notices per INSERT statement (12 values each)


def _issue(session: Session, items: list[tuple[Item, str]], *, now: datetime, source: str,
           actor: str, requirements: str = REQUIREMENTS, assisting: str | None = None) -> list[int]:
    """Insert one notice per (item, crossing) unless it exists; returns the ids really inserted."""
    if not items:
        return []
    due = load_calendar(session).deadline(now, parse_limit(REPLY_LIMIT))
    rows = [{"item_id": item.id, "crossing": epoch(item.deadline), "unit_id": item.unit_id,
             "assisting": assisting, "source": source, "matter": _matter(item, sub, now),
             "requirements": requirements, "reply_due": epoch(due), "status": "issued",
             "level": 1, "issued_at": epoch(now), "issued_by": actor} for item, sub in items]
    inserted = []
    # In batches: one statement's bound values are limited (SQLite 32,766, PostgreSQL 65,535),
    # and a first sweep over years of items issues tens of thousands of notices at once.
    for start in range(0, len(rows), ISSUE_BATCH):
        stmt = _insert(session).values(rows[start:start + ISSUE_BATCH]).on_conflict_do_nothing(
            index_elements=["item_id", "crossing"]).returning(Notice.id)
        inserted += [r[0] for r in session.execute(stmt)]
    for nid in inserted:
        _event(session, nid, now, actor, "issued", 1, source)
    if inserted:
        ids = ",".join(str(i) for i in inserted)  # the column holds 64 characters
        audit.record(session, actor=actor, action="notice.issue", entity="notice",
                     entity_id=ids if len(ids) <= 64 else ids[:ids.rfind(",", 0, 62)] + ",…",
                     after={"count": len(inserted), "source": source})
    return inserted


def overdue_without_notice(session: Session, now: datetime, limit: int | None = None, *,
                           since: datetime | None = None):
    """Red items at `now` that have no notice for that crossing: open past their deadline, or
    given a red card by a rule (a red line crossed; its crossing is the moment it was crossed).

    `since`: only crossings at or after it, for a caller that swept at `since` and has written
    nothing older since (the demo's history, sweeping day after day through its past): each
    read is then a narrow range of the deadline index instead of every item done after `now`."""
    t = literal(epoch(now), BigInteger)
    due = type_coerce(Item.deadline, BigInteger)
    done = type_coerce(Item.completed_at, BigInteger)
    base = (select(Item.id)
            .outerjoin(Notice, and_(Notice.item_id == Item.id, Notice.crossing == due))
            .where(Notice.id.is_(None), Item.card_cancelled == false(),
                   type_coerce(Item.received_at, BigInteger) <= t))
    # Three narrow reads, each on its own index, however many closed items the table holds:
    # open items past the deadline (the partial index ix_items_open), items completed after
    # `now` (ix_items_completed), red verdicts (the partial index ix_items_verdict_red). SQLite
    # is told the index (its planner read all ten million items for the second).
    if since is not None:
        base = base.where(due >= literal(epoch(since), BigInteger))
    parts = [(base.where(Item.completed_at.is_(None), due < t), "ix_items_open"),
             (base.where(done > t, due < t), "ix_items_completed"),
             (base.where(sql_text(VERDICT_RED_SQL), due <= t), "ix_items_verdict_red")]
    ids: set[int] = set()
    for stmt, index in parts:
        ids.update(session.scalars(db.indexed_by(session, stmt, [index])))
    found: list[tuple] = []
    wanted = sorted(ids)
    for start in range(0, len(wanted), 10_000):
        found += session.execute(select(Item, Subsystem.name)
                                 .join(Subsystem, Subsystem.id == Item.subsystem_id)
                                 .where(Item.id.in_(wanted[start:start + 10_000]))).all()
    rows = sorted(((item, sub) for item, sub in found), key=lambda r: (r[0].deadline, r[0].id))
    return rows[:limit] if limit else rows


@dataclass(frozen=True)
class SweepResult:
    issued: int
    escalated: int


def sweep(session: Session, now: datetime | None = None, *,
          since: datetime | None = None) -> SweepResult:
    """Issue the notices due and escalate the unanswered ones. Idempotent. `since`: see
    `overdue_without_notice` (only for a caller that swept then and wrote nothing older)."""
    now = now or now_utc()
    issued = _issue(session, overdue_without_notice(session, now, since=since), now=now,
                    source="系统自动督办（红牌）", actor=SYSTEM_ACTOR)
    return SweepResult(issued=len(issued), escalated=escalate(session, now))


TOP_LEVEL = max(LEVELS)


def escalation_due(now: datetime):
    """(id, level) of the notices issued and not acknowledged by their reply date, below the top
    level. The levels below the top are named one by one: each is then a range of the index on
    (status, level, reply date), so the notices already at the top, which can pile up unanswered,
    are not read (migration 0024)."""
    return select(Notice.id, Notice.level).where(
        Notice.status == "issued", Notice.level.in_(range(1, TOP_LEVEL)), Notice.reply_due < now)


def escalate(session: Session, now: datetime) -> int:
    """Notices not acknowledged by their reply date go up one level, once per grace period."""
    cal = load_calendar(session)
    new_due = cal.deadline(now, parse_limit(GRACE))
    stale = session.execute(escalation_due(now)).all()
    done = 0
    for nid, level in stale:
        # Conditional update: of two sweeps at once, only one moves the notice up.
        moved = session.execute(
            update(Notice).where(Notice.id == nid, Notice.level == level, Notice.status == "issued")
            .values(level=level + 1, escalated_at=now, reply_due=new_due)
            .execution_options(synchronize_session=False)).rowcount
        if moved:
            _event(session, nid, now, SYSTEM_ACTOR, "escalated", level + 1,
                   f"逾期未签收，{LEVELS[level + 1]}；宽限至 {fmt_time(new_due)}")
            done += 1
    if done:
        audit.record(session, actor=SYSTEM_ACTOR, action="notice.escalate", entity="notice",
                     after={"count": done})
    return done


def claim_interval(session: Session, key: str, now: datetime, seconds: int) -> bool:
    """True for exactly one caller per interval across every process: a conditional update of
    the last run's time (app_settings `key`, epoch seconds) that only one writer can win."""
    if session.get(AppSetting, key) is None:
        session.execute(_insert_setting(session).values(key=key, value="0")
                        .on_conflict_do_nothing(index_elements=["key"]))
    return bool(session.execute(
        update(AppSetting).where(AppSetting.key == key,
                                 cast(AppSetting.value, BigInteger) <= epoch(now) - seconds)
        .values(value=str(epoch(now))).execution_options(synchronize_session=False)).rowcount)


SWEEP_KEY = "last_sweep"  # app_settings: when the sweep last ran (epoch seconds), read by health


def mark_swept(session: Session, now: datetime) -> None:
    """Record a sweep run outside the app's trigger (`python -m lib sweep` from cron), so the
    health check sees it and the app's processes do not sweep again within the minute."""
    if session.get(AppSetting, SWEEP_KEY) is None:
        session.execute(_insert_setting(session).values(key=SWEEP_KEY, value="0")
                        .on_conflict_do_nothing(index_elements=["key"]))
    session.execute(update(AppSetting).where(AppSetting.key == SWEEP_KEY,
                                             cast(AppSetting.value, BigInteger) < epoch(now))
                    .values(value=str(epoch(now))).execution_options(synchronize_session=False))


def last_swept(session: Session) -> datetime | None:
    """When the sweep last ran (the app's thread or the cron job), None if never."""
    value = session.get(AppSetting, SWEEP_KEY)
    if value is None or not value.value.isdigit() or int(value.value) == 0:
        return None
    return datetime.fromtimestamp(int(value.value), UTC)


def run_if_due(session: Session, now: datetime | None = None) -> SweepResult | None:
    """The app's trigger: sweep at most once a minute across every process and session; every
    ten minutes it first re-evaluates the domains' rules, so new red lines get their notices."""
    from lib import flags

    now = now or now_utc()
    if not claim_interval(session, SWEEP_KEY, now, int(SWEEP_INTERVAL.total_seconds())):
        return None
    from lib import rollups

    flags.refresh_if_due(session, now)
    result = sweep(session, now)
    # The rollups follow the writes since the last run and the clock (lib.rollups).
    rollups.maintain(session, now)
    return result


def _insert_setting(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AppSetting)


# -- manual issue and the lifecycle ------------------------------------------------------------

def issue_manual(session: Session, user: CurrentUser, item_ids: list[int], *, requirements: str,
                 assisting: str = "", now: datetime | None = None) -> int:
    """Inspectors issue notices for chosen red items (bulk); items already noticed are skipped."""
    require(user, "dispatch_submissions")
    now = now or now_utc()
    requirements = (requirements or "").strip() or REQUIREMENTS
    if len(requirements) > 1000:
        raise NoticeError("督办要求不能超过 1000 字")
    candidates = {item.id: (item, sub) for item, sub in overdue_without_notice(session, now)}
    chosen = [candidates[i] for i in item_ids if i in candidates]
    if not chosen:
        raise NoticeError("所选事项均已督办，或已不是逾期未办结的红牌事项")
    return len(_issue(session, chosen, now=now, source="纪检监察机关人工督办", actor=user.username,
                      requirements=requirements, assisting=(assisting or "").strip()[:200] or None))


def _notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NoticeError("督办通知不存在")
    return notice


def _unit_step(session, user, notice_id, statuses):
    require(user, "handle_submissions")
    notice = _notice(session, notice_id)
    check_unit(user, notice.unit_id)
    if user.unit_id != notice.unit_id:
        raise PermissionDenied("只能办理本单位的督办通知")
    if notice.status not in statuses:
        raise NoticeError(f"当前状态为“{STATUS[notice.status]}”，不能进行此操作")
    return notice


def acknowledge(session: Session, user: CurrentUser, notice_id: int, note: str = "",
                now: datetime | None = None) -> Notice:
    now = now or now_utc()
    notice = _unit_step(session, user, notice_id, ("issued",))
    notice.status, notice.acknowledged_at = "acknowledged", now
    _event(session, notice.id, now, user.username, "acknowledged", notice.level, note.strip() or None)
    audit.record(session, actor=user.username, action="notice.acknowledge", entity="notice",
                 entity_id=notice.id)
    return notice


def report(session: Session, user: CurrentUser, notice_id: int, text: str,
           now: datetime | None = None) -> Notice:
    """The unit reports its rectification (整改报告)."""
    now = now or now_utc()
    notice = _unit_step(session, user, notice_id, ("acknowledged", "returned"))
    text = (text or "").strip()
    if len(text) < 10:
        raise NoticeError("整改报告至少 10 个字：写明逾期原因、整改措施和结果")
    if len(text) > 2000:
        raise NoticeError("整改报告不能超过 2000 字")
    notice.status, notice.rectification, notice.rectified_at = "rectified", text, now
    _event(session, notice.id, now, user.username, "rectified", notice.level, text[:200])
    audit.record(session, actor=user.username, action="notice.report", entity="notice",
                 entity_id=notice.id, after={"length": len(text)})
    return notice


def verify(session: Session, user: CurrentUser, notice_id: int, passed: bool, note: str = "",
           now: datetime | None = None) -> Notice:
    """Inspectors verify the rectification: close the notice, or return it for rework."""
    require(user, "dispatch_submissions")
    now = now or now_utc()
    notice = _notice(session, notice_id)
    if notice.status != "rectified":
        raise NoticeError(f"当前状态为“{STATUS[notice.status]}”，不能核查")
    note = (note or "").strip()
    if not passed and len(note) < 4:
        raise NoticeError("退回整改须写明理由（至少 4 个字）")
    notice.status = "closed" if passed else "returned"
    if passed:
        notice.closed_at = now
    _event(session, notice.id, now, user.username, "closed" if passed else "returned",
           notice.level, note or None)
    audit.record(session, actor=user.username, action="notice.verify", entity="notice",
                 entity_id=notice.id, after={"passed": passed, "note": note})
    return notice


def events(session: Session, user: CurrentUser, notice_id: int) -> list[NoticeEvent]:
    require(user, "view_items")
    notice = _notice(session, notice_id)
    check_unit(user, notice.unit_id)
    return list(session.scalars(select(NoticeEvent).where(NoticeEvent.notice_id == notice_id)
                                .order_by(NoticeEvent.at, NoticeEvent.id)))


def listing(session: Session, user: CurrentUser, *, statuses: tuple[str, ...] | None = None,
            limit: int | None = 500, unit_id: int | None = None) -> list[Notice]:
    """Notices, highest level and oldest first (`limit=None`: all); staff see their unit's
    only."""
    require(user, "view_items")
    from lib.access import scoped_unit

    stmt = select(Notice).order_by(Notice.level.desc(), Notice.issued_at)
    if limit is not None:
        stmt = stmt.limit(limit)
    scope = scoped_unit(user, unit_id)
    if scope is not None:
        stmt = stmt.where(Notice.unit_id == scope)
    if statuses:
        stmt = stmt.where(Notice.status.in_(statuses))
    return list(session.scalars(stmt))


# The notice's layout: (selector, declarations); `body` is the page when printed, the preview's
# own box on screen.
NOTICE_CSS = [
    ("body", 'font-family: "FangSong", "STFangsong", "WenQuanYi Micro Hei", "Noto Sans CJK SC", '
             "serif; font-size: 16pt; line-height: 1.8; color: #000; max-width: 170mm; "
             "margin: 0 auto;"),
    ("h1", 'font-family: "SimHei", "WenQuanYi Micro Hei", sans-serif; color: #c00; '
           "text-align: center; font-size: 26pt; letter-spacing: 6pt; margin: 0 0 4pt;"),
    (".no", "text-align: center; margin-bottom: 6pt;"),
    ("hr", "border: 0; border-top: 2pt solid #c00; margin: 6pt 0 18pt;"),
    (".label", 'font-family: "SimHei", "WenQuanYi Micro Hei", sans-serif;'),
    (".sign", "text-align: right; margin-top: 36pt;"),
]
PREVIEW_CLASS = "esup-notice"


def printable_html(session: Session, user: CurrentUser, notice_id: int, *,
                   preview: bool = False) -> str:
    """The notice in the official layout (title, number, addressee, matter, requirements, time
    limit, issuer, date), print-ready HTML with Chinese fonts. `preview`: the same notice as a
    fragment to show inside a page, its styles confined to its own box (the document's `body`
    and `h1` rules, put on a page as they are, narrowed the whole page and centred its title)."""
    import html

    require(user, "view_items")
    notice = _notice(session, notice_id)
    check_unit(user, notice.unit_id)
    from lib.models import Unit

    unit = session.get(Unit, notice.unit_id)
    esc = html.escape
    issued = notice.issued_at.astimezone(TZ)
    content = f"""<h1>督办通知书</h1>
<div class="no">{esc(number(notice.id, notice.issued_at))}</div>
<hr>
<p><span class="label">{esc(unit.name)}：</span></p>
<p>　　<span class="label">督办事项：</span>{esc(notice.matter)}</p>
<p>　　<span class="label">来源：</span>{esc(notice.source)}（{esc(LEVELS[notice.level])}）</p>
<p>　　<span class="label">牵头单位：</span>{esc(unit.name)}　<span class="label">协办单位：</span>{esc(notice.assisting or "无")}</p>
<p>　　<span class="label">办理要求：</span>{esc(notice.requirements)}</p>
<p>　　<span class="label">回复期限：</span>{esc(fmt_time(notice.reply_due))} 前</p>
<div class="sign">湛江市纪委监委<br>{issued.year} 年 {issued.month} 月 {issued.day} 日</div>"""
    if preview:
        box = f".{PREVIEW_CLASS}"
        css = "\n".join(f"{box} {{ {rule} padding: 12pt 0; }}" if sel == "body"
                        else f"{box} {sel} {{ {rule} }}" for sel, rule in NOTICE_CSS)
        return f'<style>\n{css}\n</style>\n<div class="{PREVIEW_CLASS}">\n{content}\n</div>'
    css = "\n".join(f"{sel} {{ {rule} }}" for sel, rule in NOTICE_CSS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>督办通知书 {esc(number(notice.id, notice.issued_at))}</title>
<style>
@page {{ size: A4; margin: 25mm 22mm; }}
{css}
</style></head><body>
{content}
</body></html>"""
