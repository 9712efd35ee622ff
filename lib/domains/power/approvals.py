"""Approval cases (行政审批办件) and the law's time rules for each of their steps.

A case is received; the unit tells the applicant at once what is missing (补正告知) or accepts it
(受理) or refuses it (不予受理); after acceptance it decides (准予 / 不予许可, with the reason)
and delivers the grant (送达). Defaults from the Administrative Licensing Law (行政许可法 第32、
42、44、45条), configurable per matter:

- 受理 step: a 补正 notice (or the acceptance, or a refusal to accept) within 5 working days of
  receipt. Otherwise the case counts as accepted on the day of receipt (the clock starts then)
  and the step is red;
- 决定 step: due within the matter's promised limit (承诺时限, default 20 working days) counted
  from acceptance; a special procedure (听证、招标、拍卖、检验、检测、检疫、鉴定、专家评审) pauses
  the clock from its start date to its end date, both included, and the deadline moves later by
  the working days inside it; one extension (default up to 10 working days) counts only if it
  was approved before the deadline then in force; approved later, it changes nothing;
- 送达 step: a grant is delivered within 10 working days of the decision.

Each step is an item (`lib.items.upsert_item`) whose deadline is computed here, so the one light
engine (Python and SQL alike) lights it with the clock, and notices, appeals and scores pick
approval cases up unchanged. Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lib import audit
from lib.access import CurrentUser, check_unit, require
from lib.clock import now_utc
from lib.config import TZ
from lib.items import upsert_item
from lib.lights import epoch, fmt_time
from lib.models import (
    AccountabilityRecord,
    Appeal,
    Flag,
    Item,
    ItemEvent,
    Notice,
    Subsystem,
    Unit,
)
from lib.workdays import TimeLimit, WorkCalendar, end_of_day, load_calendar, working_days

from .models import ApprovalCase, ApprovalPause, Matter

SUBSYSTEM = "APPROVAL"
PAUSE_KINDS = {"hearing": "听证", "tender": "招标", "auction": "拍卖", "inspection": "检验",
               "testing": "检测", "quarantine": "检疫", "appraisal": "鉴定", "expert": "专家评审"}
DECISIONS = {"grant": "准予许可", "refuse": "不予许可"}
STEP_NAMES = {"accept": "受理（补正告知）", "decide": "审批决定", "deliver": "送达"}
SUFFIX = {"accept": ".SL", "decide": "", "deliver": ".SD"}
MAX_REASON = 500


class ApprovalError(ValueError):
    """A refused change to an approval case; the message is for the user, in Chinese."""


def local_day(dt: datetime) -> date:
    return dt.astimezone(TZ).date()


end_of = end_of_day  # 24:00 of a day, Asia/Shanghai (the moment a limit ending that day runs out)


@dataclass(frozen=True)
class Step:
    code: str  # accept / decide / deliver
    external_id: str
    received_at: datetime
    deadline: datetime
    completed_at: datetime | None
    limit: TimeLimit
    basis: str  # how the deadline was reached, in Chinese

    @property
    def name(self) -> str:
        return STEP_NAMES[self.code]

    @cached_property
    def seconds(self) -> tuple[int | None, int | None, int | None]:
        """(received, deadline, completed) as epoch seconds (None where none): converted once
        per step (schedules are kept by their inputs), for `lights.clock_light(seconds=…)`."""
        r, c = self.received_at, self.completed_at
        d = self.deadline
        return (None if r is None else epoch(r), None if d is None else _deadline_epoch(d),
                None if c is None else epoch(c))


@lru_cache(maxsize=65_536)
def _deadline_epoch(deadline: datetime) -> int:
    """A deadline's epoch seconds: deadlines fall on few moments (the ends of days), and an
    Asia/Shanghai datetime's conversion costs more than a look-up."""
    return epoch(deadline)


@dataclass
class Schedule:
    """A case's steps and how its decision deadline was reached."""

    correction_due: datetime
    clock_start: datetime | None  # acceptance (or deemed acceptance): the decision clock
    deemed: bool  # counted as accepted on the day of receipt
    refused_at_acceptance: bool  # 不予受理 within the limit: no decision step
    base_due: datetime | None = None  # promised limit alone
    paused_days: int = 0  # working days inside the pauses
    extension: str = "none"  # none / counted / too_late
    due: datetime | None = None
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def step(self, code: str) -> Step | None:
        return next((s for s in self.steps if s.code == code), None)


def paused_working_days(cal: WorkCalendar, pauses, after: date) -> int:
    """Working days inside the pauses (start and end dates included), counted once where pauses
    overlap, and only after `after` (the clock's first day is the day after acceptance)."""
    days: set[date] = set()
    for start, end in pauses:
        d = max(start, after + timedelta(days=1))
        while d <= end:
            if cal.is_workday(d):
                days.add(d)
            d += timedelta(days=1)
    return len(days)


def schedule(cal: WorkCalendar, *, external_id: str, received_at: datetime,
             correction_notice_at: datetime | None = None, accepted_at: datetime | None = None,
             extension_days: int | None = None, extension_approved_at: datetime | None = None,
             decided_at: datetime | None = None, decision: str | None = None,
             delivered_at: datetime | None = None, promised_days: int = 20,
             correction_days: int = 5, delivery_days: int = 10,
             pauses=()) -> Schedule:
    """The case's steps with their deadlines, by the rules in this module's docstring."""
    correction_due = cal.deadline(received_at, working_days(correction_days))
    notice_ok = correction_notice_at is not None and correction_notice_at <= correction_due
    accepted_ok = accepted_at is not None and accepted_at <= correction_due
    refused_early = (decision == "refuse" and accepted_at is None and decided_at is not None
                     and decided_at <= correction_due and not notice_ok)
    if notice_ok and accepted_at is None and decision == "refuse" and decided_at is not None:
        refused_early = True  # materials never completed: refused without acceptance
    first_answer = min([t for t in (correction_notice_at, accepted_at,
                                    decided_at if decision == "refuse" and accepted_at is None
                                    else None) if t is not None], default=None)
    sch = Schedule(correction_due, None, False, refused_early)
    sch.steps.append(Step(
        "accept", external_id + SUFFIX["accept"], received_at, correction_due, first_answer,
        working_days(correction_days),
        f"收件后 {correction_days} 个工作日内一次性告知补正或受理"))
    if refused_early:
        sch.notes.append("不予受理：受理环节办结，无审批决定环节")
        return sch
    if accepted_ok or (notice_ok and accepted_at is not None):
        sch.clock_start = accepted_at
    elif notice_ok:
        if decided_at is None:
            sch.notes.append("已告知补正，待申请人补齐材料后受理（审批时限未起算）")
            return sch
        sch.clock_start = received_at
        sch.notes.append("未记录受理即作出决定：按收件时间起算审批时限")
    else:
        sch.clock_start, sch.deemed = received_at, True
        if correction_notice_at is not None or accepted_at is not None:
            sch.notes.append(f"补正告知或受理晚于 {fmt_time(correction_due)}：视为收件当日受理，"
                             "审批时限自收件时起算")
        else:
            sch.notes.append(f"{fmt_time(correction_due)} 前未告知补正也未受理的，视为收件当日受理")
    start_day = local_day(sch.clock_start)
    base_last = cal.add_working_days(start_day, promised_days)
    sch.base_due = end_of(base_last)
    sch.paused_days = paused_working_days(cal, pauses, start_day)
    last = cal.add_working_days(base_last, sch.paused_days) if sch.paused_days else base_last
    basis = f"受理后承诺时限 {promised_days} 个工作日"
    if sch.paused_days:
        basis += f"，特别程序暂停 {sch.paused_days} 个工作日顺延"
    if extension_days:
        in_force = end_of(last)
        if extension_approved_at is not None and extension_approved_at < in_force:
            sch.extension = "counted"
            last = cal.add_working_days(last, extension_days)
            basis += f"，延期 {extension_days} 个工作日（{fmt_time(extension_approved_at)} 批准）"
        else:
            sch.extension = "too_late"
            basis += "；延期批准晚于当时期限，不予顺延"
            sch.notes.append(f"延期于 {fmt_time(extension_approved_at)} 批准，晚于当时期限 "
                             f"{fmt_time(in_force)}：延期无效")
    sch.due = end_of(last)
    sch.steps.append(Step("decide", external_id + SUFFIX["decide"], sch.clock_start, sch.due,
                          decided_at, working_days(promised_days), basis))
    if decision == "grant" and decided_at is not None:
        sch.steps.append(Step(
            "deliver", external_id + SUFFIX["deliver"], decided_at,
            cal.deadline(decided_at, working_days(delivery_days)), delivered_at,
            working_days(delivery_days), f"准予许可后 {delivery_days} 个工作日内送达"))
    return sch


def case_schedule(cal: WorkCalendar, case: ApprovalCase, matter: Matter,
                  pauses: list[ApprovalPause]) -> Schedule:
    return schedule(
        cal, external_id=case.external_id, received_at=case.received_at,
        correction_notice_at=case.correction_notice_at, accepted_at=case.accepted_at,
        extension_days=case.extension_days, extension_approved_at=case.extension_approved_at,
        decided_at=case.decided_at, decision=case.decision, delivered_at=case.delivered_at,
        promised_days=matter.promised_days, correction_days=matter.correction_days,
        delivery_days=matter.delivery_days, pauses=[(p.start_date, p.end_date) for p in pauses])


def step_title(matter: Matter, step_code: str) -> str:
    return f"{matter.name}·{STEP_NAMES[step_code]}"[:200]


def region_for(session: Session, case: ApprovalCase) -> int | None:
    if case.region_id is not None:
        return case.region_id
    unit = session.get(Unit, case.unit_id)
    return unit.region_id if unit is not None and unit.level == "county" else None


def _referenced(session: Session, item_id: int) -> bool:
    for model in (Notice, Appeal, Flag, AccountabilityRecord):
        if session.scalar(select(func.count()).select_from(model)
                          .where(model.item_id == item_id)):
            return True
    return False


def sync_case(session: Session, cal: WorkCalendar, case: ApprovalCase, *, actor: str,
              note: str | None = None, subsystem: Subsystem | None = None) -> Schedule:
    """Bring the case's step items in line with its record. A step that no longer applies (a
    provisional decision step of a case then refused at acceptance) is removed, unless a notice,
    appeal or flag already rests on it: then it is closed at the case's last recorded time."""
    matter = session.get(Matter, case.matter_id)
    pauses = list(session.scalars(select(ApprovalPause).where(ApprovalPause.case_id == case.id)
                                  .order_by(ApprovalPause.start_date)))
    sch = case_schedule(cal, case, matter, pauses)
    sub = subsystem or session.scalar(select(Subsystem).where(Subsystem.code == SUBSYSTEM))
    region_id = region_for(session, case)
    for step in sch.steps:
        upsert_item(session, cal, external_id=step.external_id, subsystem=sub,
                    unit_id=case.unit_id, received_at=step.received_at, limit=step.limit,
                    completed_at=step.completed_at, actor=actor,
                    title=step_title(matter, step.code), region_id=region_id, note=note,
                    deadline=step.deadline)
    wanted = {s.external_id for s in sch.steps}
    for code, suffix in SUFFIX.items():
        ext = case.external_id + suffix
        if ext in wanted:
            continue
        item = session.scalar(select(Item).where(Item.external_id == ext))
        if item is None:
            continue
        if _referenced(session, item.id):
            end = case.decided_at or case.updated_at or now_utc()
            upsert_item(session, cal, external_id=ext, subsystem=sub, unit_id=case.unit_id,
                        received_at=item.received_at, limit=None, completed_at=end, actor=actor,
                        note="环节不再适用，按办件记录关闭", deadline=item.deadline)
            continue
        audit.record(session, actor=actor, action="item.delete", entity="item", entity_id=ext,
                     before={"external_id": ext, "reason": f"{STEP_NAMES[code]}环节不再适用"})
        session.execute(delete(ItemEvent).where(ItemEvent.item_id == item.id))
        session.delete(item)
    session.flush()
    return sch


# -- validation shared by the importer and the forms ---------------------------------------------

CASE_FIELDS = ("received_at", "correction_notice_at", "accepted_at", "extension_days",
               "extension_approved_at", "decided_at", "decision", "reason", "delivered_at")


def problems(values: dict, matter: Matter, *, now: datetime | None = None) -> list[str]:
    """What is impossible in a case's record (times out of order, a delivery without a grant …),
    in Chinese. A missing reason or acceptance is not refused: the rules warn about it."""
    now = now or now_utc()
    v = values
    out = []
    times = {"correction_notice_at": "补正告知时间", "accepted_at": "受理时间",
             "extension_approved_at": "延期批准时间", "decided_at": "决定时间",
             "delivered_at": "送达时间"}
    if v["received_at"] > now:
        out.append("收件时间晚于当前时间")
    for key, label in times.items():
        t = v.get(key)
        if t is None:
            continue
        if t < v["received_at"]:
            out.append(f"{label}早于收件时间")
        if t > now:
            out.append(f"{label}晚于当前时间")
    if v.get("accepted_at") and v.get("correction_notice_at") and \
            v["accepted_at"] < v["correction_notice_at"]:
        out.append("受理时间早于补正告知时间（补齐材料后方可受理）")
    if v.get("decided_at") and v.get("accepted_at") and v["decided_at"] < v["accepted_at"]:
        out.append("决定时间早于受理时间")
    if (v.get("decision") is None) != (v.get("decided_at") is None):
        out.append("决定结果与决定时间须同时填写（decision 为 grant 或 refuse）")
    if v.get("delivered_at") is not None:
        if v.get("decision") != "grant":
            out.append("只有准予许可的办件才有送达时间")
        elif v.get("decided_at") and v["delivered_at"] < v["decided_at"]:
            out.append("送达时间早于决定时间")
    if (v.get("extension_days") is None) != (v.get("extension_approved_at") is None):
        out.append("延期天数与延期批准时间须同时填写")
    days = v.get("extension_days")
    if days is not None:
        if days <= 0:
            out.append("延期天数须为正数")
        elif days > matter.extension_days:
            out.append(f"延期 {days} 个工作日超过事项“{matter.name}”允许的 "
                       f"{matter.extension_days} 个工作日（只可延期一次）")
        if v.get("accepted_at") is None and v.get("decided_at") is None \
                and v.get("correction_notice_at") is not None:
            out.append("尚未受理的办件不能延期")
    if v.get("reason") and len(v["reason"]) > MAX_REASON:
        out.append(f"理由不能超过 {MAX_REASON} 字")
    return out


def pause_problems(case: ApprovalCase, kind: str, reason: str, start: date, end: date,
                   others: list[ApprovalPause]) -> list[str]:
    out = []
    if kind not in PAUSE_KINDS:
        out.append(f"暂停类型“{kind}”无效（可选：{'、'.join(PAUSE_KINDS.values())}）")
    if len((reason or "").strip()) < 4:
        out.append("须写明暂停理由（至少 4 个字）")
    if end < start:
        out.append("暂停结束日期早于开始日期")
    if start < local_day(case.received_at):
        out.append("暂停开始日期早于收件日期")
    if case.decided_at is not None and start > local_day(case.decided_at):
        out.append("办件已作出决定，不能再暂停")
    for p in others:
        if p.start_date <= end and start <= p.end_date:
            out.append(f"与已登记的暂停（{p.start_date}～{p.end_date}）重叠")
    return out


# -- staff's steps through the forms -------------------------------------------------------------

ACTIONS = {"correct": "告知补正", "accept": "受理", "pause": "暂停计时（特别程序）",
           "resume": "恢复计时", "extend": "延期", "decide": "作出决定", "deliver": "送达"}


def _case(session: Session, user: CurrentUser, case_id: int) -> tuple[ApprovalCase, Matter]:
    require(user, "update_items")
    case = session.get(ApprovalCase, case_id)
    if case is None:
        raise ApprovalError("办件不存在")
    check_unit(user, case.unit_id)
    return case, session.get(Matter, case.matter_id)


def case_snapshot(case: ApprovalCase) -> dict:
    return {k: getattr(case, k) for k in ("external_id",) + CASE_FIELDS}


def record_step(session: Session, user: CurrentUser, case_id: int, action: str, *,
                at: datetime | None = None, decision: str | None = None, reason: str = "",
                days: int | None = None, kind: str | None = None, start: date | None = None,
                end: date | None = None) -> Schedule:
    """Staff record one step of their unit's case (告知补正、受理、暂停、恢复、延期、决定、送达).
    Refused, with the reason in Chinese, when the step does not fit the case's record."""
    case, matter = _case(session, user, case_id)
    if action not in ACTIONS:
        raise ApprovalError(f"未知操作“{action}”")
    reason = (reason or "").strip()
    before = case_snapshot(case)
    values = {k: getattr(case, k) for k in CASE_FIELDS}
    label = ACTIONS[action]
    pauses = list(session.scalars(select(ApprovalPause).where(ApprovalPause.case_id == case.id)
                                  .order_by(ApprovalPause.start_date)))
    if action in ("correct", "accept") and (case.accepted_at or case.decided_at):
        raise ApprovalError("该办件已受理或已作出决定")
    if action in ("pause", "resume", "extend", "decide") and case.decided_at is not None:
        raise ApprovalError("该办件已作出决定")
    if action == "correct":
        if case.correction_notice_at is not None:
            raise ApprovalError("已告知过补正（补正告知应一次性作出）")
        values["correction_notice_at"] = at
    elif action == "accept":
        values["accepted_at"] = at
    elif action == "extend":
        if case.extension_days is not None:
            raise ApprovalError("该办件已延期过一次，不能再次延期")
        if len(reason) < 4:
            raise ApprovalError("须写明延期理由（至少 4 个字）")
        values["extension_days"], values["extension_approved_at"] = days, at
    elif action == "decide":
        if decision not in DECISIONS:
            raise ApprovalError("请选择决定结果（准予许可或不予许可）")
        if decision == "refuse" and len(reason) < 4:
            raise ApprovalError("不予许可须说明理由（至少 4 个字）")
        if decision == "grant" and case.accepted_at is None:
            raise ApprovalError("尚未登记受理，不能准予许可：请先登记受理（网上流转不可跳过受理环节）")
        values.update(decided_at=at, decision=decision, reason=reason or None)
    elif action == "deliver":
        if case.delivered_at is not None:
            raise ApprovalError("该办件已送达")
        values["delivered_at"] = at
    elif action == "pause":
        errs = pause_problems(case, kind or "", reason, start, end, pauses)
        if errs:
            raise ApprovalError("；".join(errs))
        session.add(ApprovalPause(case_id=case.id, kind=kind, reason=reason, start_date=start,
                                  end_date=end))
    elif action == "resume":
        if not pauses:
            raise ApprovalError("该办件没有暂停记录")
        p = pauses[-1]  # the latest pause: its actual last day replaces the planned one
        if end is None or end < p.start_date:
            raise ApprovalError(f"暂停结束日期不能早于暂停开始日期 {p.start_date}")
        if end > local_day(now_utc()):
            raise ApprovalError("暂停结束日期不能晚于今天")
        kind, reason, start = p.kind, reason or p.reason, p.start_date
        p.end_date = end
    if at is not None or action in ("extend", "decide"):
        errs = problems(values, matter)
        if errs:
            raise ApprovalError("；".join(errs))
    for k in CASE_FIELDS:
        setattr(case, k, values[k])
    case.updated_at = now_utc()
    session.flush()
    after = case_snapshot(case)
    if action in ("pause", "resume"):
        after["pause"] = {"kind": kind, "reason": reason, "start": start, "end": end}
    if reason and action == "extend":
        after["extension_reason"] = reason
    audit.record(session, actor=user.username, action=f"approval.{action}", entity="approval_case",
                 entity_id=case.external_id, before=before, after=after)
    return sync_case(session, load_calendar(session), case, actor=user.username,
                     note=f"经办登记：{label}" + (f"（{reason}）" if reason else ""))


# -- reading -------------------------------------------------------------------------------------

def cases_for(session: Session, user: CurrentUser, *, unit_id: int | None = None):
    """(case, matter) pairs the user may read (staff: their unit's)."""
    from lib.access import scoped_unit

    require(user, "view_items")
    scope = scoped_unit(user, unit_id)
    q = select(ApprovalCase, Matter).join(Matter, Matter.id == ApprovalCase.matter_id)
    if scope is not None:
        q = q.where(ApprovalCase.unit_id == scope)
    return session.execute(q.order_by(ApprovalCase.received_at.desc())).all()
