"""The rules of 权力运行. Timing rules name the step items the clock has lit (each step against
its own limit: 环节超时); verdict rules find a red line crossed in the records."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Bundle

from lib import flags
from lib.config import TZ
from lib.lights import RED, YELLOW, fmt_time
from lib.models import Item, Subsystem

from .approvals import STEP_NAMES, SUFFIX, local_day
from .models import (
    ApprovalCase,
    DiscretionStandard,
    EnforcementCase,
    FeeCharge,
    FeeItem,
    Matter,
    Plan,
    PlanningPermit,
)

DOMAIN = "POWER"


# -- approval steps and enforcement decisions (timing) -------------------------------------------

def _lit_steps(ctx: flags.RuleContext, ext_col, join_model, reason):
    """The steps that can be lit as of T (open then, or completed late), and the population."""
    rows, population = flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct, join_model.external_id)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(join_model, Item.external_id == ext_col).where(Item.received_at <= ctx.as_of))
    return flags.timing_records(ctx, rows, subject=lambda r: r[2], reason=reason,
                                population=population)


def _steps(ctx: flags.RuleContext, step: str):
    ext = ApprovalCase.external_id + SUFFIX[step] if SUFFIX[step] else ApprovalCase.external_id
    return _lit_steps(ctx, ext, ApprovalCase, lambda r, lt: f"{STEP_NAMES[step]}环节：{lt.reason}")


@flags.rule(DOMAIN, "P-SL", "环节超时·受理", timing=True)
def accept_step_late(ctx: flags.RuleContext):
    """受理环节超时：收件后未在事项规定的期限（默认 5 个工作日）内一次性告知补正、受理或不予受理（逾期未告知的，自收件之日起即为受理）。出处：《行政许可法》第三十二条。"""
    return _steps(ctx, "accept")


@flags.rule(DOMAIN, "P-JD", "环节超时·审批决定", timing=True)
def decide_step_late(ctx: flags.RuleContext):
    """审批决定超期：受理后未在承诺时限内作出决定；特别程序（听证、招标、拍卖、检验、检测、检疫、鉴定、专家评审）暂停期间的工作日顺延，期限届满前批准的一次延期顺延。出处：《行政许可法》第四十二条、第四十五条，本市承诺时限。"""
    return _steps(ctx, "decide")


@flags.rule(DOMAIN, "P-SD", "环节超时·送达", timing=True)
def deliver_step_late(ctx: flags.RuleContext):
    """送达超时：准予许可决定作出后未在规定期限（默认 10 个工作日）内颁发、送达许可证件。出处：《行政许可法》第四十四条。"""
    return _steps(ctx, "deliver")


@flags.rule(DOMAIN, "E-JD", "执法决定超期", timing=True)
def enforcement_late(ctx: flags.RuleContext):
    """执法决定超期：行政处罚案件自立案之日起 90 日内（裁量基准另有规定的从其规定）未作出处理决定。出处：《行政处罚法》第六十条。"""
    return _lit_steps(ctx, EnforcementCase.external_id, EnforcementCase,
                      lambda r, lt: f"处罚决定：{lt.reason}")


# -- approval warnings (verdicts) ----------------------------------------------------------------

def _decided(ctx):
    """The cases decided by T with their matter's name, as plain rows of the columns the
    approval warnings read (thousands of cases: no ORM object each)."""
    c = ApprovalCase
    case = Bundle("case", c.external_id, c.unit_id, c.region_id, c.received_at, c.accepted_at,
                  c.decided_at, c.decision, c.reason)
    return ctx.session.execute(
        select(case, Bundle("matter", Matter.name)).join(Matter, Matter.id == c.matter_id)
        .where(c.decided_at.is_not(None), c.decided_at <= ctx.as_of)).all()


@flags.rule(DOMAIN, "P-LY", "不予受理/不予许可未说明理由", weight=1.0)
def refusal_without_reason(ctx: flags.RuleContext):
    """作出不予受理或不予许可决定而未说明理由。出处：《行政许可法》第三十八条第二款；本市网上审批电子监察预警规则。"""
    rows = _decided(ctx)
    ctx.population = sum(1 for c, _ in rows if c.decision == "refuse")
    for case, matter in rows:
        if case.decision == "refuse" and not (case.reason or "").strip():
            kind = "不予许可" if case.accepted_at else "不予受理"
            yield ctx.flag(subject=case.external_id, light=YELLOW,
                           reason=f"{matter.name}：{fmt_time(case.decided_at)} 作出{kind}决定，"
                                  "未说明理由",
                           unit_id=case.unit_id, at=case.decided_at, subsystem="APPROVAL",
                           region_id=case.region_id,
                           inputs={"决定": kind, "决定时间": fmt_time(case.decided_at),
                                   "理由": "（空）"})


@flags.rule(DOMAIN, "P-LZ", "办件未按规定网上流转", weight=1.5)
def decision_without_acceptance(ctx: flags.RuleContext):
    """作出准予许可决定，但系统中没有受理记录（办件未按规定网上流转、体外循环）。出处：本市网上审批电子监察预警规则。"""
    rows = _decided(ctx)
    ctx.population = sum(1 for c, _ in rows if c.decision == "grant")
    for case, matter in rows:
        if case.decision == "grant" and case.accepted_at is None:
            yield ctx.flag(subject=case.external_id, light=YELLOW,
                           reason=f"{matter.name}：{fmt_time(case.decided_at)} 准予许可，"
                                  "但无受理记录",
                           unit_id=case.unit_id, at=case.decided_at, subsystem="APPROVAL",
                           region_id=case.region_id,
                           inputs={"收件时间": fmt_time(case.received_at), "受理时间": "（无）",
                                   "决定时间": fmt_time(case.decided_at)})


@flags.rule(DOMAIN, "P-SF", "不收费事项收费", weight=2.0)
def fee_on_free_matter(ctx: flags.RuleContext):
    """审批事项目录载明不收费，办件却有收费记录。出处：《行政许可法》第五十八条；本市网上审批电子监察预警规则。涉及金额为该办件的收费合计。"""
    rows = ctx.session.execute(
        select(FeeCharge, ApprovalCase, Matter)
        .join(ApprovalCase, ApprovalCase.external_id == FeeCharge.case_ref)
        .join(Matter, Matter.id == ApprovalCase.matter_id)
        .where(FeeCharge.charged_at <= ctx.as_of)).all()
    ctx.population = len({c.id for _, c, _ in rows})
    per_case: dict = {}
    for charge, case, matter in rows:
        if matter.has_fee:
            continue
        entry = per_case.setdefault(case.external_id, [case, matter, Decimal(0), [], None])
        entry[2] += charge.amount
        entry[3].append(charge.external_id)
        entry[4] = min(entry[4] or charge.charged_at, charge.charged_at)
    for ext, (case, matter, total, charges, at) in sorted(per_case.items()):
        yield ctx.flag(subject=ext, light=RED,
                       reason=f"{matter.name}为不收费事项，办件收费 {float(total):,.2f} 元"
                              f"（{len(charges)} 笔）",
                       unit_id=case.unit_id, at=at, subsystem="APPROVAL", amount=total,
                       region_id=case.region_id,
                       inputs={"事项": matter.name, "事项是否收费": "否",
                               "收费记录": "、".join(charges)})


# -- fees ----------------------------------------------------------------------------------------

def _charges(ctx):
    return list(ctx.session.scalars(select(FeeCharge).where(FeeCharge.charged_at <= ctx.as_of)))


@flags.rule(DOMAIN, "F-SZ", "擅自收费", weight=2.0)
def unlisted_fee(ctx: flags.RuleContext):
    """擅自收费：收费项目不在行政事业性收费目录内，或在该项目取消之后、设立之前收取。出处：《价格法》、行政事业性收费目录清单制度。涉及金额为所收金额。"""
    catalogue = {f.code: f for f in ctx.session.scalars(select(FeeItem))}
    charges = _charges(ctx)
    ctx.population = len(charges)
    for c in charges:
        item = catalogue.get(c.fee_code)
        day = local_day(c.charged_at)
        if item is None:
            why = f"收费项目“{c.fee_name}”（{c.fee_code}）不在收费目录内"
        elif item.valid_to is not None and day > item.valid_to:
            why = f"收费项目“{item.name}”已于 {item.valid_to} 后取消，仍于 {day} 收取"
        elif day < item.valid_from:
            why = f"收费项目“{item.name}”自 {item.valid_from} 起设立，{day} 即已收取"
        else:
            continue
        yield ctx.flag(subject=c.external_id, light=RED, reason=f"{why}，金额 {float(c.amount):,.2f} 元",
                       unit_id=c.unit_id, at=c.charged_at, subsystem="FEES", amount=c.amount,
                       region_id=c.region_id,
                       inputs={"收费项目": f"{c.fee_code} {c.fee_name}", "收费日期": str(day),
                               "目录有效期": f"{item.valid_from}～{item.valid_to or '—'}"
                               if item else "（目录无此项）"})


@flags.rule(DOMAIN, "F-CB", "超标准收费", weight=2.0, labels={"tolerance": "容差（元）"},
            tolerance=0.0)
def overcharge(ctx: flags.RuleContext):
    """超标准收费：所收金额高于目录标准 × 数量（超出部分大于容差）。出处：《价格法》第十二条、行政事业性收费目录。涉及金额为多收部分。"""
    catalogue = {f.code: f for f in ctx.session.scalars(select(FeeItem))}
    charges = _charges(ctx)
    ctx.population = len(charges)
    tol = Decimal(str(ctx.t["tolerance"]))
    for c in charges:
        item = catalogue.get(c.fee_code)
        if item is None:
            continue
        allowed = item.standard * c.quantity
        over = c.amount - allowed
        if over > tol:
            yield ctx.flag(subject=c.external_id, light=RED,
                           reason=f"“{item.name}”标准 {float(item.standard):,.2f} 元 × {c.quantity}"
                                  f" = {float(allowed):,.2f} 元，实收 {float(c.amount):,.2f} 元，"
                                  f"多收 {float(over):,.2f} 元",
                           unit_id=c.unit_id, at=c.charged_at, subsystem="FEES", amount=over,
                           region_id=c.region_id,
                           inputs={"收费标准": f"{float(item.standard):,.2f}", "数量": c.quantity,
                                   "实收": f"{float(c.amount):,.2f}", "依据": item.basis})


# -- enforcement ---------------------------------------------------------------------------------

def _penalties(ctx):
    return ctx.session.execute(
        select(EnforcementCase, DiscretionStandard)
        .join(DiscretionStandard, DiscretionStandard.id == EnforcementCase.standard_id)
        .where(EnforcementCase.decided_at.is_not(None),
               EnforcementCase.decided_at <= ctx.as_of)).all()


def _band(s: DiscretionStandard) -> str:
    return f"{float(s.min_amount):,.2f}～{float(s.max_amount):,.2f} 元"


def band_edge(s: DiscretionStandard, edge_pct) -> Decimal:
    """The lowest amount in the band's upper edge: the top `edge_pct` % of the band (the rule
    顶格处罚未说明理由's threshold; the penalty form asks for a reason from there on)."""
    return s.max_amount - (s.max_amount - s.min_amount) * (Decimal(str(edge_pct)) / 100)


@flags.rule(DOMAIN, "E-CL", "处罚超出裁量基准", weight=2.0)
def penalty_out_of_band(ctx: flags.RuleContext):
    """处罚金额超出该违法行为裁量基准的幅度（低于下限或高于上限）。出处：《行政处罚法》第三十四条、本市行政处罚裁量基准。涉及金额为超出幅度的部分。"""
    rows = [(c, s) for c, s in _penalties(ctx) if c.penalty is not None]
    ctx.population = len(rows)
    for case, s in rows:
        if s.min_amount <= case.penalty <= s.max_amount:
            continue
        gap = case.penalty - s.max_amount if case.penalty > s.max_amount else \
            s.min_amount - case.penalty
        side = "高于上限" if case.penalty > s.max_amount else "低于下限"
        yield ctx.flag(subject=case.external_id, light=RED,
                       reason=f"“{s.name}”罚款 {float(case.penalty):,.2f} 元，{side}"
                              f"（基准 {_band(s)}），相差 {float(gap):,.2f} 元",
                       unit_id=case.unit_id, at=case.decided_at, subsystem="ENFORCE",
                       amount=gap, region_id=case.region_id,
                       inputs={"违法行为": s.name, "裁量基准": _band(s),
                               "罚款": f"{float(case.penalty):,.2f}"})


@flags.rule(DOMAIN, "E-DG", "顶格处罚未说明理由", weight=1.0,
            labels={"edge_pct": "上限附近（幅度的 %）"}, edge_pct=10)
def penalty_at_edge(ctx: flags.RuleContext):
    """处罚金额处于裁量幅度的上端（最高 edge_pct% 以内）而未说明从重的理由。出处：《行政处罚法》第五条（过罚相当）、本市行政处罚裁量基准。"""
    rows = [(c, s) for c, s in _penalties(ctx) if c.penalty is not None]
    ctx.population = len(rows)
    for case, s in rows:
        edge = band_edge(s, ctx.t["edge_pct"])
        if edge <= case.penalty <= s.max_amount and not (case.reason or "").strip():
            yield ctx.flag(subject=case.external_id, light=YELLOW,
                           reason=f"“{s.name}”罚款 {float(case.penalty):,.2f} 元，处于基准"
                                  f" {_band(s)} 上端（≥ {float(edge):,.2f} 元），未说明理由",
                           unit_id=case.unit_id, at=case.decided_at, subsystem="ENFORCE",
                           region_id=case.region_id,
                           inputs={"违法行为": s.name, "裁量基准": _band(s),
                                   "罚款": f"{float(case.penalty):,.2f}", "理由": "（空）"})


@flags.rule(DOMAIN, "E-WJ", "结案无处理决定", weight=1.5)
def closed_without_decision(ctx: flags.RuleContext):
    """执法案件已结案，却没有处理决定（处罚或不予处罚决定）。出处：《行政处罚法》第五十七条。"""
    rows = list(ctx.session.scalars(select(EnforcementCase).where(
        EnforcementCase.closed_at.is_not(None), EnforcementCase.closed_at <= ctx.as_of)))
    ctx.population = len(rows)
    for case in rows:
        if case.decided_at is None or case.decided_at > ctx.as_of:
            yield ctx.flag(subject=case.external_id, light=YELLOW,
                           reason=f"案件于 {fmt_time(case.closed_at)} 结案，无处理决定",
                           unit_id=case.unit_id, at=case.closed_at, subsystem="ENFORCE",
                           region_id=case.region_id,
                           inputs={"立案时间": fmt_time(case.filed_at),
                                   "结案时间": fmt_time(case.closed_at), "决定时间": "（无）"})


# -- planning ------------------------------------------------------------------------------------

INDICATORS = (("far", "far_max", "容积率", ">"), ("density", "density_max", "建筑密度(%)", ">"),
              ("green", "green_min", "绿地率(%)", "<"), ("height", "height_max", "建筑高度(m)", ">"))


def _permits(ctx):
    return ctx.session.execute(
        select(PlanningPermit, Plan).join(Plan, Plan.id == PlanningPermit.plan_id)
        .where(PlanningPermit.issued_at <= ctx.as_of)).all()


@flags.rule(DOMAIN, "G-TP", "许可突破规划指标", weight=2.0)
def permit_beyond_plan(ctx: flags.RuleContext):
    """规划许可的容积率、建筑密度、建筑高度高于控制性详细规划的上限，或绿地率低于下限。出处：《城乡规划法》第三十八条、第四十条。"""
    rows = _permits(ctx)
    ctx.population = len(rows)
    for permit, plan in rows:
        beyond = []
        for attr, limit_attr, label, op in INDICATORS:
            v, lim = getattr(permit, attr), getattr(plan, limit_attr)
            if (op == ">" and v > lim) or (op == "<" and v < lim):
                beyond.append(f"{label} {float(v):g}（规划{'上限' if op == '>' else '下限'}"
                              f" {float(lim):g}）")
        if beyond:
            yield ctx.flag(subject=permit.external_id, light=RED,
                           reason=f"{permit.project}：" + "；".join(beyond),
                           unit_id=permit.unit_id, at=permit.issued_at, subsystem="PLANNING",
                           region_id=permit.region_id or plan.region_id,
                           inputs={"规划": f"{plan.code} {plan.name}"} | {
                               label: f"{float(getattr(permit, a)):g} / {float(getattr(plan, la)):g}"
                               for a, la, label, _ in INDICATORS})


@flags.rule(DOMAIN, "G-XG", "许可后修改规划未听证", weight=2.0)
def plan_changed_after_permit(ctx: flags.RuleContext):
    """规划许可核发后修改控制性详细规划，而未听取利害关系人意见（听证）。出处：《城乡规划法》第五十条。"""
    rows = _permits(ctx)
    ctx.population = len(rows)
    for permit, plan in rows:
        if plan.changed_on is None or plan.change_hearing:
            continue
        issued = local_day(permit.issued_at)
        if plan.changed_on > issued and plan.changed_on <= local_day(ctx.as_of):
            yield ctx.flag(subject=permit.external_id, light=RED,
                           reason=f"{permit.project}：{issued} 核发许可后，规划 {plan.name} 于 "
                                  f"{plan.changed_on} 修改，未经听证",
                           unit_id=permit.unit_id, subsystem="PLANNING",
                           at=datetime.combine(plan.changed_on, time(12), tzinfo=TZ),
                           region_id=permit.region_id or plan.region_id,
                           inputs={"许可日期": str(issued), "规划修改日期": str(plan.changed_on),
                                   "听证": "否"})
