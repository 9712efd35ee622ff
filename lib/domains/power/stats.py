"""What the 权力运行 page reads: every approval case as it stood at an as-of time, with its
steps' deadlines and lights (the schedule of `approvals`, the one light rule of `lib.lights`);
the step funnel; the 事前 / 事中 / 事后 views; the most overdue steps; a case's timeline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lib.access import CurrentUser, check_unit, require, scoped_unit
from lib.lights import GREY, Light, clock_light, epoch, light_for
from lib.models import Region, Subsystem, Unit
from lib.workdays import load_calendar

from .approvals import (
    DECISIONS,
    PAUSE_KINDS,
    STEP_NAMES,
    Schedule,
    local_day,
    schedule,
)
from .models import ApprovalCase, ApprovalPause, Matter

STAGES = {"before": "事前（收件与受理）", "during": "事中（审查与决定）", "after": "事后（决定与送达）"}
TIME_FIELDS = ("correction_notice_at", "accepted_at", "extension_approved_at", "decided_at",
               "delivered_at")


@dataclass
class CaseView:
    """A case as it stood at T: its record cut at T, its schedule and its steps' lights."""

    id: int
    external_id: str
    matter: str
    matter_code: str
    has_fee: bool
    promised_days: int
    unit_id: int
    unit: str
    region: str
    values: dict  # the record's fields known at T
    pauses: list  # (kind, reason, start, end) started by T
    schedule: Schedule
    lights: dict  # step code -> Light

    @property
    def stage(self) -> str:
        v = self.values
        if v["decided_at"] is not None:
            return "after"
        if self.schedule.clock_start is None and not self.schedule.refused_at_acceptance:
            return "before"
        if self.schedule.clock_start is not None and v["accepted_at"] is None and \
                not self.schedule.deemed:
            return "before"
        return "during" if self.schedule.clock_start is not None else "after"

    @property
    def worst(self) -> Light:
        order = {"red": 0, "yellow": 1, "green": 2, "grey": 3}
        return min(self.lights.values(), key=lambda lt: order[lt.light])

    def paused_on(self, day) -> bool:
        return any(a <= day <= b for _, _, a, b in self.pauses)


SCHEDULE_FIELDS = (*TIME_FIELDS, "extension_days", "decision")


@lru_cache(maxsize=8_192)  # about 2 KB a schedule
def _schedule(cal, external_id: str, received_at: datetime, times: tuple, promised_days: int,
              correction_days: int, delivery_days: int, pauses: tuple) -> Schedule:
    """`schedule` of a case as it stood at T, kept by its inputs: a view asks for every case's
    schedule (2,400 steps in the demo), and a case's schedule changes only when what it was
    computed from does (a field recorded by T, a pause, the calendar: a changed calendar is
    another object). The schedules are read, never changed, by the pages."""
    return schedule(cal, external_id=external_id, received_at=received_at,
                    promised_days=promised_days, correction_days=correction_days,
                    delivery_days=delivery_days, pauses=list(pauses),
                    **dict(zip(SCHEDULE_FIELDS, times, strict=True)))


def cases_at(session: Session, user: CurrentUser, as_of: datetime, *,
             region_id: int | None = None, window_days: int | None = None,
             unit_id: int | None = None, only: int | None = None) -> list[CaseView]:
    """The cases the user may read that existed at T (staff: their unit's), in the window:
    received within it, or still open at T."""
    require(user, "view_items")
    scope = scoped_unit(user, unit_id)
    cal = load_calendar(session)
    yellow = session.scalar(select(Subsystem.yellow_pct).where(Subsystem.code == "APPROVAL")) or 20
    units = {u.id: u for u in session.scalars(select(Unit))}
    regions = dict(session.execute(select(Region.id, Region.name)).all())
    c = ApprovalCase
    # Plain rows of the columns a case's view reads, unpacked by position (no ORM object nor
    # named bundle per case): the case's, its five times (TIME_FIELDS' order), its matter's.
    q = (select(c.id, c.external_id, c.unit_id, c.region_id, c.received_at, c.extension_days,
                c.decision, c.reason, *[getattr(c, k) for k in TIME_FIELDS], Matter.name,
                Matter.code, Matter.has_fee, Matter.promised_days, Matter.correction_days,
                Matter.delivery_days)
         .join(Matter, Matter.id == c.matter_id).where(c.received_at <= as_of))
    if scope is not None:
        q = q.where(ApprovalCase.unit_id == scope)
    if region_id is not None:
        q = q.where(ApprovalCase.region_id == region_id)
    if only is not None:
        q = q.where(ApprovalCase.id == only)
    start = as_of - timedelta(days=window_days) if window_days else None
    if start is not None:  # what the loop below leaves out, left out in SQL (the rows' times
        # converted are most of the cost): received before the window and decided before it
        q = q.where(or_(c.received_at >= start, c.decided_at.is_(None), c.decided_at >= start))
    pq = select(ApprovalPause).order_by(ApprovalPause.start_date)
    if only is not None:
        pq = pq.where(ApprovalPause.case_id == only)
    pauses: dict[int, list] = {}
    for p in session.scalars(pq):
        pauses.setdefault(p.case_id, []).append(p)
    today = local_day(as_of)
    asof_s = epoch(as_of)
    out = []
    q = q.order_by(ApprovalCase.received_at.desc(), ApprovalCase.id.desc())
    for (case_id, external_id, unit_id, case_region, received_at, extension_days, decision,
         reason, notice, accepted, approved, decided, delivered, matter_name, matter_code,
         has_fee, promised_days, correction_days, delivery_days) in session.execute(q):
        # The record as known at T: a time after T not yet recorded (nor what it carries).
        if notice is not None and notice > as_of:
            notice = None
        if accepted is not None and accepted > as_of:
            accepted = None
        if approved is None or approved > as_of:
            approved, extension_days = None, None
        if decided is None or decided > as_of:
            decided, decision, reason = None, None, None
        elif start is not None and received_at < start and decided < start:
            continue
        if delivered is not None and delivered > as_of:
            delivered = None
        v = {"correction_notice_at": notice, "accepted_at": accepted,
             "extension_approved_at": approved, "decided_at": decided, "delivered_at": delivered,
             "extension_days": extension_days, "decision": decision, "reason": reason}
        found = pauses.get(case_id)
        ps = [(p.kind, p.reason, p.start_date, min(p.end_date, max(today, p.start_date)))
              for p in found if p.start_date <= today] if found else []
        sch = _schedule(cal, external_id, received_at,
                        (notice, accepted, approved, decided, delivered, extension_days,
                         decision), promised_days, correction_days, delivery_days,
                        tuple((a, b) for _, _, a, b in ps) if ps else ())
        lights = {}
        for step in sch.steps:
            lt = clock_light(step.received_at, step.deadline, step.completed_at, as_of, yellow,
                             seconds=(asof_s, *step.seconds))
            if lt is not None:
                lights[step.code] = lt
        unit = units[unit_id]
        out.append(CaseView(case_id, external_id, matter_name, matter_code, has_fee,
                            promised_days, unit_id, unit.name,
                            regions.get(case_region or unit.region_id, ""), v, ps, sch, lights))
    return out


def funnel(session: Session, cases: list[CaseView]) -> list[dict]:
    """Received → accepted → decided → delivered: how many reached each, and the median working
    days the step took (from the step before)."""
    cal = load_calendar(session)

    def wd(a, b):  # thousands of pairs: the local days by arithmetic (`working_days_between_ts`)
        return cal.working_days_between_ts(int(a.timestamp()), int(b.timestamp()))

    accepted = [c for c in cases if c.values["accepted_at"] is not None or c.schedule.deemed]
    decided = [c for c in cases if c.values["decided_at"] is not None]
    delivered = [c for c in cases if c.values["delivered_at"] is not None]
    to_accept = [wd(c.schedule.step("accept").received_at, c.values["accepted_at"])
                 for c in cases if c.values["accepted_at"] is not None]
    to_decide = [wd(c.schedule.clock_start, c.values["decided_at"]) for c in decided
                 if c.schedule.clock_start is not None]
    to_deliver = [wd(c.values["decided_at"], c.values["delivered_at"]) for c in delivered]

    def med(xs):
        return round(statistics.median(xs), 1) if xs else None

    return [
        {"环节": "收件", "办件数": len(cases), "中位用时（工作日）": None, "说明": "收到申请材料"},
        {"环节": "受理", "办件数": len(accepted), "中位用时（工作日）": med(to_accept),
         "说明": "收件至受理（含补正期间；视为受理的计入件数）"},
        {"环节": "决定", "办件数": len(decided), "中位用时（工作日）": med(to_decide),
         "说明": "受理至作出决定（含暂停、延期）"},
        {"环节": "送达", "办件数": len(delivered), "中位用时（工作日）": med(to_deliver),
         "说明": "准予许可至送达"},
    ]


def step_rows(cases: list[CaseView], as_of: datetime) -> list[dict]:
    """Every step of every case with its light, most overdue first."""
    rows = []
    for c in cases:
        for step in c.schedule.steps:
            lt = c.lights.get(step.code)
            if lt is None or lt.light == GREY:
                continue
            end = step.completed_at or as_of
            over = (end - step.deadline).total_seconds()
            rows.append({"case": c, "step": step, "light": lt, "over": over,
                         "open": step.completed_at is None})
    rows.sort(key=lambda r: -r["over"])
    return rows


def timeline(session: Session, user: CurrentUser, case_id: int, as_of: datetime) -> CaseView:
    """One case as it stood at T (the user must be allowed to read its unit)."""
    case = session.get(ApprovalCase, case_id)
    if case is None:
        raise ValueError("办件不存在")
    check_unit(user, case.unit_id)
    found = cases_at(session, user, as_of, only=case_id,
                     unit_id=None if scoped_unit(user, None) is None else case.unit_id)
    if not found:
        raise ValueError("该办件在所选日期尚未收件")
    return found[0]


def pause_label(kind: str) -> str:
    return PAUSE_KINDS.get(kind, kind)


def decision_label(code: str | None) -> str:
    return DECISIONS.get(code or "", "—")


def step_label(code: str) -> str:
    return STEP_NAMES[code]


def enforcement_rows(session: Session, user: CurrentUser, as_of: datetime, *,
                     region_id: int | None = None) -> list[dict]:
    """Enforcement cases filed by T (staff: their unit's): the decision's deadline and light, the
    penalty against its discretion band."""
    from .models import DiscretionStandard, EnforcementCase
    from .others import enforcement_step

    require(user, "view_items")
    scope = scoped_unit(user, None)
    cal = load_calendar(session)
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    q = (select(EnforcementCase, DiscretionStandard)
         .join(DiscretionStandard, DiscretionStandard.id == EnforcementCase.standard_id)
         .where(EnforcementCase.filed_at <= as_of))
    if scope is not None:
        q = q.where(EnforcementCase.unit_id == scope)
    if region_id is not None:
        q = q.where(EnforcementCase.region_id == region_id)
    out = []
    for case, std in session.execute(q.order_by(EnforcementCase.filed_at.desc())):
        received, _, deadline, done = enforcement_step(cal, case, std)
        done = done if done is not None and done <= as_of else None
        lt = light_for(received_at=received, deadline=deadline, completed_at=done, as_of=as_of)
        penalty = case.penalty if done is not None else None
        band = "—"
        if penalty is not None:
            band = ("高于上限" if penalty > std.max_amount else "低于下限" if penalty < std.min_amount
                    else "幅度内")
        out.append({"light": lt, "external_id": case.external_id, "violation": std.name,
                    "unit": units[case.unit_id], "filed_at": received, "deadline": deadline,
                    "decided_at": done, "penalty": penalty,
                    "band_text": f"{float(std.min_amount):,.0f}～{float(std.max_amount):,.0f}",
                    "band": band})
    return out


# -- fees and planning ---------------------------------------------------------------------------

URGENCY = {"red": 0, "yellow": 1}


def _by_subject(records, codes) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records:
        if r.code in codes:
            out.setdefault(r.subject, []).append(r)
    return out


def _worst(found: list) -> tuple[str, str, float | None]:
    """(light, reason, amount at stake) of a record's findings; green with no finding."""
    if not found:
        return "green", "", None
    found = sorted(found, key=lambda r: URGENCY.get(r.light, 2))
    amounts = [r.amount for r in found if r.amount is not None]
    return found[0].light, "；".join(r.reason for r in found), max(amounts) if amounts else None


def fee_rows(session: Session, user: CurrentUser, as_of: datetime, records, *,
             region_id: int | None = None) -> list[dict]:
    """Fee charges made by T (staff: their unit's), each checked against the catalogue: in the
    catalogue and valid that day, the standard × quantity, what was charged over it; the light,
    reason and amount at stake are the fee rules' findings (`records`: the domain's rules
    evaluated as of T). Urgent first (red, yellow, then the rest), newest first within each."""
    from .models import FeeCharge, FeeItem

    require(user, "view_items")
    scope = scoped_unit(user, None)
    catalogue = {f.code: f for f in session.scalars(select(FeeItem))}
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    by_charge = _by_subject(records, ("F-SZ", "F-CB"))
    by_case = _by_subject(records, ("P-SF",))
    q = select(FeeCharge).where(FeeCharge.charged_at <= as_of)
    if scope is not None:
        q = q.where(FeeCharge.unit_id == scope)
    if region_id is not None:
        q = q.where(FeeCharge.region_id == region_id)
    out = []
    for c in session.scalars(q.order_by(FeeCharge.charged_at.desc(), FeeCharge.external_id)):
        item = catalogue.get(c.fee_code)
        day = local_day(c.charged_at)
        if item is None:
            listed = "目录外"
        elif item.valid_to is not None and day > item.valid_to:
            listed = f"已于 {item.valid_to} 后取消"
        elif day < item.valid_from:
            listed = f"{item.valid_from} 起设立"
        else:
            listed = "目录内"
        allowed = item.standard * c.quantity if item is not None else None
        over = c.amount - allowed if allowed is not None and c.amount > allowed else None
        found = by_charge.get(c.external_id, []) + (by_case.get(c.case_ref, []) if c.case_ref
                                                    else [])
        light, reason, at_stake = _worst(found)
        out.append({"light": light, "external_id": c.external_id,
                    "fee": f"{c.fee_code} {c.fee_name}", "unit": units.get(c.unit_id, ""),
                    "unit_id": c.unit_id, "charged_at": c.charged_at, "quantity": c.quantity,
                    "amount": c.amount, "allowed": allowed, "over": over, "listed": listed,
                    "case_ref": c.case_ref or "", "at_stake": at_stake, "reason": reason})
    out.sort(key=lambda r: URGENCY.get(r["light"], 2))
    return out


def permit_rows(session: Session, user: CurrentUser, as_of: datetime, records, *,
                region_id: int | None = None) -> list[dict]:
    """Planning permits issued by T (staff: their unit's) against their plan: each indicator
    beside the plan's limit, the planning rules' light and reason (`records` as for
    `fee_rows`). Urgent first, newest first within each light."""
    from .models import Plan, PlanningPermit
    from .rules import INDICATORS

    require(user, "view_items")
    scope = scoped_unit(user, None)
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    found_by = _by_subject(records, ("G-TP", "G-XG"))
    q = (select(PlanningPermit, Plan).join(Plan, Plan.id == PlanningPermit.plan_id)
         .where(PlanningPermit.issued_at <= as_of))
    if scope is not None:
        q = q.where(PlanningPermit.unit_id == scope)
    if region_id is not None:
        q = q.where(PlanningPermit.region_id == region_id)
    out = []
    for p, plan in session.execute(q.order_by(PlanningPermit.issued_at.desc(),
                                              PlanningPermit.external_id)):
        light, reason, _ = _worst(found_by.get(p.external_id, []))
        row = {"light": light, "external_id": p.external_id, "project": p.project,
               "plan": f"{plan.code} {plan.name}", "unit": units.get(p.unit_id, ""),
               "issued_at": p.issued_at, "reason": reason,
               "plan_changed": str(plan.changed_on) if plan.changed_on else ""}
        for attr, limit_attr, label, op in INDICATORS:
            v, lim = getattr(p, attr), getattr(plan, limit_attr)
            beyond = (op == ">" and v > lim) or (op == "<" and v < lim)
            row[label] = f"{float(v):g} / {'≤' if op == '>' else '≥'}{float(lim):g}" + \
                (" ✗" if beyond else "")
        out.append(row)
    out.sort(key=lambda r: URGENCY.get(r["light"], 2))
    return out
