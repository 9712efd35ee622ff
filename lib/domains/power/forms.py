"""Staff's forms for fees and enforcement: a fee charged by their own unit (登记收费) and an
enforcement case's decision (登记处罚决定).

Like `approvals.record_step`, each write checks the permission (staff of the owning unit, with
`update_items`), refuses impossible input with a reason in Chinese (nothing is written), records
the change in the audit chain, and brings what hangs on the record in line: the enforcement
case's decision step item (`others.sync_enforcement`), and the domain's verdict flags of the
rules the record feeds (`lib.flags.refresh` limited to those rules, as the market's imports do),
so a charge over the standard or a penalty outside the band has its card at once rather than at
the next sweep. Functions never commit: the caller owns the transaction.

What the law requires of the one who records, the form requires (a reason for a penalty in the
upper edge of the band or outside it, or for a decision not to penalize); what the record shows,
the rules report (an abolished fee item still charged, a charge over the standard, a penalty
outside the band is saved and flagged red)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lib import audit, flags, privacy
from lib.access import CurrentUser, PermissionDenied, check_unit, require
from lib.clock import now_utc
from lib.lights import fmt_time
from lib.models import Flag, Unit
from lib.workdays import load_calendar

from .approvals import local_day
from .models import ApprovalCase, DiscretionStandard, EnforcementCase, FeeCharge, FeeItem
from .others import sync_enforcement
from .rules import band_edge

DOMAIN = "POWER"
FEE_RULES = ("F-SZ", "F-CB", "P-SF")  # unlisted_fee, overcharge, fee_on_free_matter
PENALTY_RULES = ("E-CL", "E-DG", "E-WJ")  # out of band, at the edge, closed without decision
MAX_AMOUNT = Decimal("1000000000")  # 10 亿元: beyond it, a typing slip
MAX_QUANTITY = 10000
MAX_PAYER = 100
MAX_REASON = 500
MIN_REASON = 4
_PG_CHARGE_LOCK = 727_002  # advisory lock: one fee charge numbered at a time (audit's is 727_001)


class FormError(ValueError):
    """A refused fee charge or enforcement decision; the message is for the user, in Chinese."""


@dataclass(frozen=True)
class Finding:
    """An open finding of a rule on the record just written (what the page warns about)."""

    code: str
    light: str
    reason: str
    amount: float | None


@dataclass(frozen=True)
class Saved:
    external_id: str
    findings: list[Finding]


def _money(value, label: str, *, allow_zero: bool) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise FormError(f"{label}不是有效的数字") from None
    if not amount.is_finite():
        raise FormError(f"{label}不是有效的数字")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise FormError(f"{label}须大于 0" if not allow_zero else f"{label}不能为负数")
    if amount != amount.quantize(Decimal("0.01")):
        raise FormError(f"{label}最多保留两位小数（分）")
    if amount > MAX_AMOUNT:
        raise FormError(f"{label}超过 {MAX_AMOUNT:,} 元，请核对")
    return amount.quantize(Decimal("0.01"))


def _findings(session: Session, codes, subjects) -> list[Finding]:
    rows = session.scalars(select(Flag).where(Flag.code.in_(codes), Flag.subject.in_(subjects),
                                              Flag.status != "withdrawn").order_by(Flag.code))
    return [Finding(f.code, f.light, f.reason, None if f.amount is None else float(f.amount))
            for f in rows]


# -- fees ----------------------------------------------------------------------------------------

def fee_catalogue(session: Session) -> list[FeeItem]:
    """The catalogue's items, current ones first (the form offers every item: one charged after
    its abolition is saved and reported by the rule 擅自收费)."""
    items = list(session.scalars(select(FeeItem).order_by(FeeItem.code)))
    return sorted(items, key=lambda f: f.valid_to is not None)


def _next_charge_id(session: Session, unit: Unit, at: datetime) -> str:
    prefix = f"SF-{unit.code}-{local_day(at):%Y%m%d}-"
    n = session.scalar(select(func.count()).select_from(FeeCharge)
                       .where(FeeCharge.external_id.like(prefix + "%"))) or 0
    while True:
        n += 1
        ext = f"{prefix}{n:03d}"
        if session.scalar(select(FeeCharge.id).where(FeeCharge.external_id == ext)) is None:
            return ext


def charge_snapshot(c: FeeCharge) -> dict:
    return {k: getattr(c, k) for k in ("external_id", "fee_code", "fee_name", "unit_id",
                                       "charged_at", "quantity", "amount", "case_ref")}


def record_charge(session: Session, user: CurrentUser, *, fee_code: str, amount,
                  charged_at: datetime, payer: str, quantity: int = 1,
                  case_ref: str | None = None, receipt_no: str | None = None,
                  now: datetime | None = None) -> Saved:
    """Staff record a fee their own unit charged: a catalogue item, the quantity and the amount
    actually received, when, from whom (a description: 缴费单位或事由), and the approval case it
    was charged on if any. The fee rules then check it against the catalogue; the findings on
    it come back with the saved charge's number."""
    require(user, "update_items")
    if user.unit_id is None:
        raise PermissionDenied("账号未绑定单位，不能登记收费")
    unit = session.get(Unit, user.unit_id)
    now = now or now_utc()
    errs = []
    item = session.scalar(select(FeeItem).where(FeeItem.code == (fee_code or "").strip()))
    if item is None:
        errs.append("请从收费目录中选择收费项目")
    try:
        money = _money(amount, "收费金额", allow_zero=False)
    except FormError as exc:
        errs.append(str(exc))
        money = None
    if not isinstance(quantity, int) or isinstance(quantity, bool) or \
            not 1 <= quantity <= MAX_QUANTITY:
        errs.append(f"数量须为 1～{MAX_QUANTITY} 的整数")
    if charged_at is None or charged_at.tzinfo is None:
        errs.append("请填写收费时间")
    elif charged_at > now:
        errs.append("收费时间晚于当前时间")
    payer = (payer or "").strip()
    if len(payer) < 2:
        errs.append("须填写缴费人说明（缴费单位或缴费事由，至少 2 个字）")
    elif len(payer) > MAX_PAYER:
        errs.append(f"缴费人说明不能超过 {MAX_PAYER} 字")
    elif held := privacy.personal_numbers(payer):
        errs.append(f"缴费人说明中不能填写{'、'.join(held)}等个人信息（写缴费单位或缴费事由即可）")
    case = None
    case_ref = (case_ref or "").strip() or None
    if case_ref is not None:
        case = session.scalar(select(ApprovalCase).where(ApprovalCase.external_id == case_ref))
        if case is None:
            errs.append(f"审批办件“{case_ref}”不存在")
        elif case.unit_id != unit.id:
            errs.append(f"审批办件“{case_ref}”不是本单位的办件")
        elif charged_at is not None and charged_at.tzinfo is not None and \
                charged_at < case.received_at:
            errs.append(f"收费时间早于办件收件时间 {fmt_time(case.received_at)}")
    receipt_no = (receipt_no or "").strip() or None
    if session.get_bind().dialect.name == "postgresql":
        # Two charges saved at once must not both take the same number (the next free one is
        # read, then written): on SQLite the write lock taken at BEGIN serializes them already.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHARGE_LOCK})
    if receipt_no is not None:
        if len(receipt_no) > 48:
            errs.append("收费单号不能超过 48 个字符")
        elif session.scalar(select(FeeCharge.id).where(FeeCharge.external_id == receipt_no)):
            errs.append(f"收费单号“{receipt_no}”已登记过")
    if errs:
        raise FormError("；".join(errs))
    charge = FeeCharge(
        external_id=receipt_no or _next_charge_id(session, unit, charged_at),
        fee_code=item.code, fee_name=item.name, unit_id=unit.id,
        region_id=(case.region_id if case is not None and case.region_id is not None
                   else unit.region_id if unit.level == "county" else None),
        charged_at=charged_at, quantity=quantity, amount=money, case_ref=case_ref)
    session.add(charge)
    session.flush()
    audit.record(session, actor=user.username, action="fee.charge", entity="fee_charge",
                 entity_id=charge.external_id,
                 after=charge_snapshot(charge) | {"payer": payer, "standard": item.standard})
    flags.refresh(session, domain=DOMAIN, codes=FEE_RULES, now=now)
    return Saved(charge.external_id,
                 _findings(session, FEE_RULES, [charge.external_id] + ([case_ref] if case_ref
                                                                       else [])))


# -- enforcement decisions -----------------------------------------------------------------------

def edge_pct(session: Session):
    """The rule 顶格处罚未说明理由's threshold: the top share of a band, in %, that wants a reason."""
    return flags.thresholds(session, flags.load_rules()["E-DG"])["edge_pct"]


def edge_of(session: Session, standard: DiscretionStandard) -> Decimal:
    """The lowest amount in the band's upper edge, by the rule 顶格处罚未说明理由's threshold."""
    return band_edge(standard, edge_pct(session))


def reason_needed(session: Session, standard: DiscretionStandard, penalty: Decimal | None) -> str:
    """Why this decision must state its reason ('' if it need not)."""
    if penalty is None:
        return "不予处罚须说明理由"
    if penalty > standard.max_amount:
        return "罚款高于裁量基准上限，须说明理由"
    if penalty < standard.min_amount:
        return "罚款低于裁量基准下限（减轻处罚），须说明理由"
    if penalty >= edge_of(session, standard):
        return "罚款处于裁量幅度上端（从重处罚），须说明理由"
    return ""


def open_cases(session: Session, user: CurrentUser) -> list[tuple[EnforcementCase,
                                                                    DiscretionStandard]]:
    """The user's unit's enforcement cases without a decision and not closed, oldest first."""
    require(user, "update_items")
    if user.unit_id is None:
        return []
    return list(session.execute(
        select(EnforcementCase, DiscretionStandard)
        .join(DiscretionStandard, DiscretionStandard.id == EnforcementCase.standard_id)
        .where(EnforcementCase.unit_id == user.unit_id, EnforcementCase.decided_at.is_(None),
               EnforcementCase.closed_at.is_(None))
        .order_by(EnforcementCase.filed_at, EnforcementCase.external_id)).all())


def case_snapshot(c: EnforcementCase) -> dict:
    return {k: getattr(c, k) for k in ("external_id", "filed_at", "told_at", "hearing_at",
                                       "decided_at", "penalty", "reason", "closed_at")}


def record_penalty(session: Session, user: CurrentUser, enforcement_case_id: int, *,
                   decided_at: datetime, penalty, reason: str = "",
                   closed_at: datetime | None = None, now: datetime | None = None) -> Saved:
    """Staff record the decision on their unit's enforcement case: the penalty (None: a decision
    not to penalize, 不予处罚), when, and the reason where the law wants one; optionally the case's
    closure (结案) at the same time. The decision step's item and the penalty rules follow."""
    require(user, "update_items")
    case = session.get(EnforcementCase, enforcement_case_id)
    if case is None:
        raise FormError("执法案件不存在")
    check_unit(user, case.unit_id)
    if user.unit_id != case.unit_id:
        raise PermissionDenied("只能登记本单位执法案件的处罚决定")
    if case.decided_at is not None:
        raise FormError(f"该案件已于 {fmt_time(case.decided_at)} 作出处理决定")
    if case.closed_at is not None:
        raise FormError(f"该案件已于 {fmt_time(case.closed_at)} 结案")
    standard = session.get(DiscretionStandard, case.standard_id)
    now = now or now_utc()
    errs = []
    if decided_at is None or decided_at.tzinfo is None:
        raise FormError("请填写决定时间")
    if decided_at > now:
        errs.append("决定时间晚于当前时间")
    if decided_at < case.filed_at:
        errs.append(f"决定时间早于立案时间 {fmt_time(case.filed_at)}")
    if case.told_at is not None and decided_at < case.told_at:
        errs.append(f"决定时间早于告知时间 {fmt_time(case.told_at)}")
    if case.hearing_at is not None and decided_at < case.hearing_at:
        errs.append(f"决定时间早于听证时间 {fmt_time(case.hearing_at)}")
    money = None
    if penalty is not None:
        try:
            money = _money(penalty, "罚款金额", allow_zero=True)
        except FormError as exc:
            errs.append(str(exc))
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        errs.append(f"理由不能超过 {MAX_REASON} 字")
    if money is not None or penalty is None:
        why = reason_needed(session, standard, money)
        if why and len(reason) < MIN_REASON:
            errs.append(f"{why}（至少 {MIN_REASON} 个字；裁量基准 "
                        f"{float(standard.min_amount):,.2f}～{float(standard.max_amount):,.2f} 元）")
    if closed_at is not None:
        if closed_at.tzinfo is None:
            errs.append("结案时间无效")
        elif closed_at < decided_at:
            errs.append("结案时间早于决定时间")
        elif closed_at > now:
            errs.append("结案时间晚于当前时间")
    if errs:
        raise FormError("；".join(errs))
    before = case_snapshot(case)
    case.decided_at, case.penalty, case.reason = decided_at, money, reason or None
    if closed_at is not None:
        case.closed_at = closed_at
    session.flush()
    audit.record(session, actor=user.username, action="enforcement.decide",
                 entity="enforcement_case", entity_id=case.external_id, before=before,
                 after=case_snapshot(case) | {"standard": standard.code})
    label = "不予处罚" if money is None else f"罚款 {float(money):,.2f} 元"
    sync_enforcement(session, load_calendar(session), case, actor=user.username,
                     note=f"经办登记：处罚决定（{label}）" + ("，结案" if closed_at else ""))
    flags.refresh(session, domain=DOMAIN, codes=PENALTY_RULES, now=now)
    return Saved(case.external_id, _findings(session, PENALTY_RULES, [case.external_id]))
