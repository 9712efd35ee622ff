"""Enforcement (行政执法), fees (行政收费) and planning (城乡规划): their records' writes and
import kinds. An enforcement case's decision is a step item (due 90 days after filing unless its
violation's standard says otherwise); charges and permits are checked by the rules."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib.exchange import Column, ImportResult, Kind, register, row_error
from lib.items import upsert_item
from lib.models import Region, Subsystem, Unit
from lib.workdays import TimeLimit, WorkCalendar, load_calendar

from .models import (
    DiscretionStandard,
    EnforcementCase,
    FeeCharge,
    FeeItem,
    Plan,
    PlanningPermit,
)

ENFORCE = "ENFORCE"


def enforcement_step(cal: WorkCalendar, case: EnforcementCase, standard: DiscretionStandard):
    """(received, limit, deadline, completed) of the case's decision step."""
    limit = TimeLimit(standard.decision_days or 90, "d")
    return case.filed_at, limit, cal.deadline(case.filed_at, limit), case.decided_at


def sync_enforcement(session: Session, cal: WorkCalendar, case: EnforcementCase, *, actor: str,
                     note: str | None = None, subsystem: Subsystem | None = None) -> None:
    standard = session.get(DiscretionStandard, case.standard_id)
    sub = subsystem or session.scalar(select(Subsystem).where(Subsystem.code == ENFORCE))
    received, limit, deadline, done = enforcement_step(cal, case, standard)
    unit = session.get(Unit, case.unit_id)
    region = case.region_id or (unit.region_id if unit.level == "county" else None)
    upsert_item(session, cal, external_id=case.external_id, subsystem=sub, unit_id=case.unit_id,
                received_at=received, limit=limit, completed_at=done, actor=actor,
                title=f"{standard.name}·处罚决定"[:200], region_id=region, note=note,
                deadline=deadline)


def register_kinds(domain: str, units_of, unit_of, upsert) -> None:
    """The enforcement, fee and planning kinds (helpers shared with lib.domains.power.kinds)."""

    def counties(session):
        rs = list(session.scalars(select(Region).where(Region.level == "county")))
        return {r.code: r for r in rs} | {r.name: r for r in rs}

    # -- discretion standards
    std_cols = (
        Column("code", "违法行为编码", max_len=32, example="SCJG-WZJY"),
        Column("name", "违法行为", max_len=100, example="未取得营业执照从事经营活动"),
        Column("min_amount", "罚款下限（元）", "money", minimum=0, example="5000"),
        Column("max_amount", "罚款上限（元）", "money", minimum=0, example="50000"),
        Column("decision_days", "决定期限（日）", "int", required=False, minimum=1, example="90",
               help="自立案之日起作出处理决定的期限；留空为 90"),
    )

    def resolve_std(session, rows):
        return [row_error(r, "罚款上限低于下限") for r in rows if r["max_amount"] < r["min_amount"]]

    def apply_std(session, rows, actor):
        result = ImportResult()
        for r in rows:
            upsert(session, DiscretionStandard, "code", r["code"],
                   {"name": r["name"], "min_amount": r["min_amount"], "max_amount": r["max_amount"],
                    "decision_days": r["decision_days"] or 90}, actor, "discretion", result)
        return result

    def export_std(session):
        for s in session.scalars(select(DiscretionStandard).order_by(DiscretionStandard.code)):
            yield {"code": s.code, "name": s.name, "min_amount": s.min_amount,
                   "max_amount": s.max_amount, "decision_days": s.decision_days}

    # -- enforcement cases
    enf_cols = (
        Column("external_id", "案件编号", max_len=48, example="ZF-2026-000321"),
        Column("violation", "违法行为编码", max_len=32, example="SCJG-WZJY"),
        Column("unit", "执法单位", example="440823.SCJG"),
        Column("filed_at", "立案时间", "datetime", example="2026-08-03T10:00"),
        Column("told_at", "告知时间", "datetime", required=False, example="2026-09-10T10:00"),
        Column("hearing_at", "听证时间", "datetime", required=False, example=""),
        Column("decided_at", "决定时间", "datetime", required=False, example="2026-09-25T15:00"),
        Column("penalty", "罚款金额（元）", "money", required=False, minimum=0, example="20000"),
        Column("reason", "裁量理由", required=False, max_len=500, example=""),
        Column("closed_at", "结案时间", "datetime", required=False, example=""),
    )

    def resolve_enf(session, rows):
        units = units_of(session)
        stds = {s.code: s for s in session.scalars(select(DiscretionStandard))}
        errors: list[str] = []
        for r in rows:
            r.refs["unit"] = unit_of(r, units, errors)
            r.refs["std"] = stds.get(r["violation"])
            if r.refs["std"] is None:
                errors.append(row_error(r, f"未知违法行为“{r['violation']}”（请先导入裁量基准 discretion）"))
            for key, label in (("told_at", "告知"), ("hearing_at", "听证"), ("decided_at", "决定"),
                               ("closed_at", "结案")):
                if r[key] is not None and r[key] < r["filed_at"]:
                    errors.append(row_error(r, f"{label}时间早于立案时间"))
            if r["penalty"] is not None and r["decided_at"] is None:
                errors.append(row_error(r, "有罚款金额须填写决定时间"))
        return errors

    def apply_enf(session, rows, actor):
        cal = load_calendar(session)
        sub = session.scalar(select(Subsystem).where(Subsystem.code == ENFORCE))
        result = ImportResult()
        for r in rows:
            values = {"standard_id": r.refs["std"].id, "unit_id": r.refs["unit"].id,
                      "filed_at": r["filed_at"], "told_at": r["told_at"],
                      "hearing_at": r["hearing_at"], "decided_at": r["decided_at"],
                      "penalty": r["penalty"], "reason": r["reason"], "closed_at": r["closed_at"]}
            case, outcome = upsert(session, EnforcementCase, "external_id", r["external_id"],
                                   values, actor, "enforcement_case", result)
            if outcome != "unchanged":
                sync_enforcement(session, cal, case, actor=actor, note="文件导入", subsystem=sub)
        return result

    def export_enf(session):
        units = dict(session.execute(select(Unit.id, Unit.code)).all())
        stds = dict(session.execute(select(DiscretionStandard.id, DiscretionStandard.code)).all())
        for c in session.scalars(select(EnforcementCase).order_by(EnforcementCase.external_id)):
            yield {"external_id": c.external_id, "violation": stds[c.standard_id],
                   "unit": units[c.unit_id], "filed_at": c.filed_at, "told_at": c.told_at,
                   "hearing_at": c.hearing_at, "decided_at": c.decided_at, "penalty": c.penalty,
                   "reason": c.reason, "closed_at": c.closed_at}

    # -- fee catalogue
    fee_cols = (
        Column("code", "收费项目编码", max_len=32, example="BDCDJ"),
        Column("name", "收费项目", max_len=100, example="不动产登记费（住宅）"),
        Column("basis", "收费依据", max_len=200, example="发改价格规〔2016〕2559号"),
        Column("standard", "收费标准（元/件）", "money", minimum=0, example="80"),
        Column("valid_from", "起始日期", "date", example="2017-01-01"),
        Column("valid_to", "取消日期", "date", required=False, example="",
               help="该日之后取消；留空为现行有效"),
    )

    def resolve_fee(session, rows):
        return [row_error(r, "取消日期早于起始日期") for r in rows
                if r["valid_to"] is not None and r["valid_to"] < r["valid_from"]]

    def apply_fee(session, rows, actor):
        result = ImportResult()
        for r in rows:
            upsert(session, FeeItem, "code", r["code"],
                   {k: r[k] for k in ("name", "basis", "standard", "valid_from", "valid_to")},
                   actor, "fee_item", result)
        return result

    def export_fee(session):
        for f in session.scalars(select(FeeItem).order_by(FeeItem.code)):
            yield {k: getattr(f, k) for k in ("code", "name", "basis", "standard", "valid_from",
                                               "valid_to")}

    # -- charges
    charge_cols = (
        Column("external_id", "收费单号", max_len=48, example="SF-2026-001234"),
        Column("fee_code", "收费项目编码", max_len=32, example="BDCDJ",
               help="按实际收取的项目填写；不在目录内的将被判为擅自收费"),
        Column("fee_name", "收费项目名称", max_len=100, example="不动产登记费（住宅）"),
        Column("unit", "收费单位", example="440823.ZRZY"),
        Column("charged_at", "收费时间", "datetime", example="2026-10-12T10:20"),
        Column("quantity", "数量", "int", required=False, minimum=1, example="1", help="留空为 1"),
        Column("amount", "金额（元）", "money", minimum=0, example="80"),
        Column("case_ref", "审批办件编号", required=False, max_len=48, example="",
               help="审批办件收费时填写办件编号"),
    )

    def resolve_charge(session, rows):
        units = units_of(session)
        errors: list[str] = []
        for r in rows:
            r.refs["unit"] = unit_of(r, units, errors)
        return errors

    def apply_charge(session, rows, actor):
        result = ImportResult()
        for r in rows:
            unit = r.refs["unit"]
            upsert(session, FeeCharge, "external_id", r["external_id"],
                   {"fee_code": r["fee_code"], "fee_name": r["fee_name"], "unit_id": unit.id,
                    "region_id": unit.region_id if unit.level == "county" else None,
                    "charged_at": r["charged_at"], "quantity": r["quantity"] or 1,
                    "amount": r["amount"], "case_ref": r["case_ref"]},
                   actor, "fee_charge", result)
        return result

    def export_charge(session):
        units = dict(session.execute(select(Unit.id, Unit.code)).all())
        for c in session.scalars(select(FeeCharge).order_by(FeeCharge.external_id)):
            yield {"external_id": c.external_id, "fee_code": c.fee_code, "fee_name": c.fee_name,
                   "unit": units[c.unit_id], "charged_at": c.charged_at, "quantity": c.quantity,
                   "amount": c.amount, "case_ref": c.case_ref}

    # -- plans and permits
    plan_cols = (
        Column("code", "规划编号", max_len=32, example="KG-440823-07"),
        Column("name", "规划名称", max_len=100, example="遂溪县城北片区控制性详细规划"),
        Column("county", "区县", required=False, example="440823"),
        Column("far_max", "容积率上限", "number", minimum=0, example="2.5"),
        Column("density_max", "建筑密度上限（%）", "number", minimum=0, example="30"),
        Column("green_min", "绿地率下限（%）", "number", minimum=0, example="35"),
        Column("height_max", "限高（米）", "number", minimum=0, example="80"),
        Column("changed_on", "规划修改日期", "date", required=False, example=""),
        Column("change_hearing", "修改经听证", "bool", required=False, example="0"),
    )

    def resolve_plan(session, rows):
        cs = counties(session)
        errors = []
        for r in rows:
            r.refs["region"] = cs.get(r["county"]) if r["county"] else None
            if r["county"] and r.refs["region"] is None:
                errors.append(row_error(r, f"未知区县“{r['county']}”"))
        return errors

    def _num(v):
        from decimal import Decimal

        return Decimal(str(v)).quantize(Decimal("0.01"))

    def apply_plan(session, rows, actor):
        result = ImportResult()
        for r in rows:
            upsert(session, Plan, "code", r["code"],
                   {"name": r["name"], "region_id": r.refs["region"].id if r.refs["region"] else None,
                    "far_max": _num(r["far_max"]), "density_max": _num(r["density_max"]),
                    "green_min": _num(r["green_min"]), "height_max": _num(r["height_max"]),
                    "changed_on": r["changed_on"], "change_hearing": bool(r["change_hearing"])},
                   actor, "plan", result)
        return result

    def export_plan(session):
        regions = dict(session.execute(select(Region.id, Region.code)).all())
        for p in session.scalars(select(Plan).order_by(Plan.code)):
            yield {"code": p.code, "name": p.name, "county": regions.get(p.region_id),
                   "far_max": p.far_max, "density_max": p.density_max, "green_min": p.green_min,
                   "height_max": p.height_max, "changed_on": p.changed_on,
                   "change_hearing": p.change_hearing}

    permit_cols = (
        Column("external_id", "许可证号", max_len=48, example="建字第440823202600123号"),
        Column("plan", "规划编号", max_len=32, example="KG-440823-07"),
        Column("unit", "核发单位", example="440823.ZRZY"),
        Column("project", "建设项目", max_len=100, example="城北花园二期"),
        Column("issued_at", "核发时间", "datetime", example="2026-06-18T10:00"),
        Column("far", "容积率", "number", minimum=0, example="2.4"),
        Column("density", "建筑密度（%）", "number", minimum=0, example="28"),
        Column("green", "绿地率（%）", "number", minimum=0, example="35"),
        Column("height", "建筑高度（米）", "number", minimum=0, example="78"),
    )

    def resolve_permit(session, rows):
        units = units_of(session)
        plans = {p.code: p for p in session.scalars(select(Plan))}
        errors: list[str] = []
        for r in rows:
            r.refs["unit"] = unit_of(r, units, errors)
            r.refs["plan"] = plans.get(r["plan"])
            if r.refs["plan"] is None:
                errors.append(row_error(r, f"未知规划“{r['plan']}”（请先导入规划 plans）"))
        return errors

    def apply_permit(session, rows, actor):
        result = ImportResult()
        for r in rows:
            unit, plan = r.refs["unit"], r.refs["plan"]
            upsert(session, PlanningPermit, "external_id", r["external_id"],
                   {"plan_id": plan.id, "unit_id": unit.id,
                    "region_id": plan.region_id or (unit.region_id if unit.level == "county" else None),
                    "project": r["project"], "issued_at": r["issued_at"], "far": _num(r["far"]),
                    "density": _num(r["density"]), "green": _num(r["green"]),
                    "height": _num(r["height"])}, actor, "permit", result)
        return result

    def export_permit(session):
        units = dict(session.execute(select(Unit.id, Unit.code)).all())
        plans = dict(session.execute(select(Plan.id, Plan.code)).all())
        for p in session.scalars(select(PlanningPermit).order_by(PlanningPermit.external_id)):
            yield {"external_id": p.external_id, "plan": plans[p.plan_id], "unit": units[p.unit_id],
                   "project": p.project, "issued_at": p.issued_at, "far": p.far,
                   "density": p.density, "green": p.green, "height": p.height}

    for k in (
        Kind("discretion", "行政处罚裁量基准", std_cols, "code", resolve_std, apply_std,
             domain=domain, description="违法行为及其罚款幅度、决定期限", export=export_std),
        Kind("enforcement", "行政执法案件", enf_cols, "external_id", resolve_enf, apply_enf,
             domain=domain, chunk=500, description="立案、告知、听证、决定、结案；罚款对照裁量基准",
             export=export_enf),
        Kind("fee_items", "行政收费目录", fee_cols, "code", resolve_fee, apply_fee, domain=domain,
             description="收费项目、依据、标准与有效期", export=export_fee),
        Kind("fees", "行政收费记录", charge_cols, "external_id", resolve_charge, apply_charge,
             domain=domain, chunk=1000, description="每笔收费对照收费目录：擅自收费、超标准收费",
             export=export_charge),
        Kind("plans", "控制性详细规划", plan_cols, "code", resolve_plan, apply_plan, domain=domain,
             description="规划指标与规划修改", export=export_plan),
        Kind("permits", "建设工程规划许可", permit_cols, "external_id", resolve_permit,
             apply_permit, domain=domain, description="许可指标对照规划", export=export_permit),
    ):
        register(k)



