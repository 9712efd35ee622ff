"""Import kinds of 权力运行: the matter catalogue, approval cases and their pauses (the columns
the issue fixes), discretion standards and enforcement cases, the fee catalogue and charges,
plans and planning permits. Rows are checked against the database before anything is written
(all rows or none); cases are written through the same step logic the forms use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit
from lib.clock import now_utc
from lib.exchange import Column, ImportResult, Kind, Row, register, row_error
from lib.models import Subsystem, Unit
from lib.workdays import load_calendar

from . import approvals, others
from .approvals import CASE_FIELDS, PAUSE_KINDS, ApprovalCase, ApprovalPause, Matter

DOMAIN = "POWER"


def _units(session: Session) -> dict[str, Unit]:
    units = list(session.scalars(select(Unit)))
    return {u.code: u for u in units} | {u.name: u for u in units}


def _unit(row: Row, units: dict, errors: list, col: str = "unit"):
    unit = units.get(row[col])
    if unit is None:
        errors.append(row_error(row, f"未知单位“{row[col]}”（请填写单位代码，见 python -m lib catalog）"))
    return unit


def _changed(obj, values: dict) -> dict:
    return {k: v for k, v in values.items() if getattr(obj, k) != v}


def _upsert(session: Session, model, key: str, row_key, values: dict, actor: str, entity: str,
            result: ImportResult):
    obj = session.scalar(select(model).where(getattr(model, key) == row_key))
    if obj is None:
        obj = model(**{key: row_key}, **values)
        session.add(obj)
        session.flush()
        audit.record(session, actor=actor, action=f"{entity}.create", entity=entity,
                     entity_id=str(row_key), after=values)
        result.count("created", row_key)
        return obj, "created"
    changed = _changed(obj, values)
    if not changed:
        result.count("unchanged", row_key)
        return obj, "unchanged"
    before = {k: getattr(obj, k) for k in changed}
    for k, v in changed.items():
        setattr(obj, k, v)
    audit.record(session, actor=actor, action=f"{entity}.update", entity=entity,
                 entity_id=str(row_key), before=before, after=changed)
    result.count("updated", row_key)
    return obj, "updated"


# -- matters -------------------------------------------------------------------------------------

MATTER_COLUMNS = (
    Column("code", "事项编码", max_len=32, example="440823.ZRZY-003", help="唯一编码；再次导入即更新"),
    Column("name", "事项名称", max_len=100, example="建设用地规划许可证核发"),
    Column("unit", "实施单位", example="440823.ZRZY", help="单位代码或全称"),
    Column("legal_days", "法定时限（工作日）", "int", minimum=1, example="20"),
    Column("promised_days", "承诺时限（工作日）", "int", minimum=1, example="12",
           help="受理后作出决定的承诺时限，电子监察按此计时"),
    Column("has_fee", "是否收费", "bool", example="0", help="1 收费，0 不收费"),
    Column("correction_days", "补正告知时限（工作日）", "int", required=False, minimum=1,
           example="5", help="留空为 5"),
    Column("extension_days", "可延期（工作日）", "int", required=False, minimum=0, example="10",
           help="只可延期一次；留空为 10"),
    Column("delivery_days", "送达时限（工作日）", "int", required=False, minimum=1, example="10",
           help="留空为 10"),
)


def _resolve_matters(session: Session, rows: list[Row]) -> list[str]:
    units = _units(session)
    errors: list[str] = []
    for row in rows:
        row.refs["unit"] = _unit(row, units, errors)
        if row["promised_days"] > row["legal_days"]:
            errors.append(row_error(row, "承诺时限不能长于法定时限"))
    return errors


def _apply_matters(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    for row in rows:
        values = {"name": row["name"], "unit_id": row.refs["unit"].id,
                  "legal_days": row["legal_days"], "promised_days": row["promised_days"],
                  "has_fee": bool(row["has_fee"]),
                  "correction_days": row["correction_days"] or 5,
                  "extension_days": 10 if row["extension_days"] is None else row["extension_days"],
                  "delivery_days": row["delivery_days"] or 10}
        _upsert(session, Matter, "code", row["code"], values, actor, "matter", result)
    return result


def _export_matters(session: Session):
    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    for m in session.scalars(select(Matter).order_by(Matter.code)):
        yield {"code": m.code, "name": m.name, "unit": codes[m.unit_id],
               "legal_days": m.legal_days, "promised_days": m.promised_days,
               "has_fee": m.has_fee, "correction_days": m.correction_days,
               "extension_days": m.extension_days, "delivery_days": m.delivery_days}


# -- approval cases ------------------------------------------------------------------------------

APPROVAL_COLUMNS = (
    Column("external_id", "办件编号", max_len=48, example="SP-2026-000123",
           help="审批系统的办件编号；再次导入同一编号即更新"),
    Column("matter", "审批事项", max_len=32, example="440823.ZRZY-003",
           help="事项编码（python -m lib catalog 中 kind 为 matter 的行）"),
    Column("unit", "实施单位", example="440823.ZRZY", help="须为该事项的实施单位（catalog 中事项的 parent）"),
    Column("received_at", "收件时间", "datetime", example="2026-09-28T09:30",
           help="ISO 8601，北京时间，不带时区"),
    Column("correction_notice_at", "补正告知时间", "datetime", required=False, example=""),
    Column("accepted_at", "受理时间", "datetime", required=False, example="2026-09-29T10:00"),
    Column("extension_days", "延期（工作日）", "int", required=False, minimum=1, example=""),
    Column("extension_approved_at", "延期批准时间", "datetime", required=False, example=""),
    Column("decided_at", "决定时间", "datetime", required=False, example="2026-10-20T16:00"),
    Column("decision", "决定", "choice", required=False, choices=("grant", "refuse"),
           choice_labels=("准予许可", "不予许可"), example="grant",
           help="grant（准予许可）、refuse（不予许可；未受理即拒绝为不予受理），或留空"),
    Column("reason", "理由", required=False, max_len=approvals.MAX_REASON, example="",
           help="不予受理、不予许可的理由"),
    Column("delivered_at", "送达时间", "datetime", required=False, example="2026-10-22T10:00"),
)


def _resolve_approvals(session: Session, rows: list[Row]) -> list[str]:
    units = _units(session)
    matters = {m.code: m for m in session.scalars(select(Matter))}
    now = now_utc()
    errors: list[str] = []
    for row in rows:
        unit = _unit(row, units, errors)
        matter = matters.get(row["matter"])
        if matter is None:
            errors.append(row_error(row, f"未知审批事项“{row['matter']}”（请先导入事项目录 matters）"))
            continue
        if unit is not None and matter.unit_id != unit.id:
            errors.append(row_error(row, f"事项“{matter.name}”不由单位“{row['unit']}”实施"))
        values = {k: row.get(k) for k in CASE_FIELDS}
        errors.extend(row_error(row, p) for p in approvals.problems(values, matter, now=now))
        row.refs.update(unit=unit, matter=matter, values=values)
    return errors


def _apply_approvals(session: Session, rows: list[Row], actor: str) -> ImportResult:
    cal = load_calendar(session)
    sub = session.scalar(select(Subsystem).where(Subsystem.code == approvals.SUBSYSTEM))
    result = ImportResult()
    for row in rows:
        values = dict(row.refs["values"], matter_id=row.refs["matter"].id,
                      unit_id=row.refs["unit"].id)
        case, outcome = _upsert(session, ApprovalCase, "external_id", row["external_id"], values,
                                actor, "approval_case", result)
        if outcome != "unchanged":
            case.updated_at = now_utc()
            approvals.sync_case(session, cal, case, actor=actor, note="文件导入", subsystem=sub)
    return result


def _export_approvals(session: Session):
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    matters = dict(session.execute(select(Matter.id, Matter.code)).all())
    for c in session.scalars(select(ApprovalCase).order_by(ApprovalCase.external_id)):
        yield {"external_id": c.external_id, "matter": matters[c.matter_id],
               "unit": units[c.unit_id]} | {k: getattr(c, k) for k in CASE_FIELDS}


# -- pauses --------------------------------------------------------------------------------------

PAUSE_COLUMNS = (
    Column("external_id", "办件编号", max_len=48, example="SP-2026-000123"),
    Column("kind", "特别程序", "choice", choices=tuple(PAUSE_KINDS),
           choice_labels=tuple(PAUSE_KINDS.values()), example="expert",
           help="、".join(f"{k}（{v}）" for k, v in PAUSE_KINDS.items())),
    Column("reason", "暂停理由", max_len=approvals.MAX_REASON, example="组织专家评审环评报告"),
    Column("start_date", "暂停开始日期", "date", example="2026-10-09", help="当日计入暂停"),
    Column("end_date", "暂停结束日期", "date", example="2026-10-15",
           help="当日计入暂停；尚未结束的填预计结束日期，结束后再次导入同一办件和开始日期即更正"),
)


def _resolve_pauses(session: Session, rows: list[Row]) -> list[str]:
    cases = {c.external_id: c for c in session.scalars(select(ApprovalCase).where(
        ApprovalCase.external_id.in_({r["external_id"] for r in rows})))}
    errors: list[str] = []
    in_file: dict[str, list] = {}
    for row in rows:
        case = cases.get(row["external_id"])
        if case is None:
            errors.append(row_error(row, f"未知办件“{row['external_id']}”（请先导入办件 approvals）"))
            continue
        existing = [p for p in session.scalars(select(ApprovalPause).where(
            ApprovalPause.case_id == case.id)) if p.start_date != row["start_date"]]
        others_in_file = [p for p in in_file.get(case.external_id, [])
                          if p.start_date != row["start_date"]]
        for p in approvals.pause_problems(case, row["kind"], row["reason"], row["start_date"],
                                          row["end_date"], existing + others_in_file):
            errors.append(row_error(row, p))
        in_file.setdefault(case.external_id, []).append(ApprovalPause(
            start_date=row["start_date"], end_date=row["end_date"]))
        row.refs["case"] = case
    return errors


def _apply_pauses(session: Session, rows: list[Row], actor: str) -> ImportResult:
    cal = load_calendar(session)
    result = ImportResult()
    touched = {}
    for row in rows:
        case = row.refs["case"]
        key = f"{case.external_id}@{row['start_date']}"
        p = session.scalar(select(ApprovalPause).where(ApprovalPause.case_id == case.id,
                                                       ApprovalPause.start_date == row["start_date"]))
        values = {"kind": row["kind"], "reason": row["reason"].strip(), "end_date": row["end_date"]}
        if p is None:
            session.add(ApprovalPause(case_id=case.id, start_date=row["start_date"], **values))
            audit.record(session, actor=actor, action="approval.pause", entity="approval_case",
                         entity_id=case.external_id, after=values | {"start_date": row["start_date"]})
            result.count("created", key)
        elif _changed(p, values):
            before = {k: getattr(p, k) for k in values}
            for k, v in values.items():
                setattr(p, k, v)
            audit.record(session, actor=actor, action="approval.pause", entity="approval_case",
                         entity_id=case.external_id, before=before, after=values)
            result.count("updated", key)
        else:
            result.count("unchanged", key)
            continue
        touched[case.id] = case
    session.flush()
    for case in touched.values():
        approvals.sync_case(session, cal, case, actor=actor, note="文件导入：特别程序暂停")
    return result


def _export_pauses(session: Session):
    for p, ext in session.execute(select(ApprovalPause, ApprovalCase.external_id)
                                  .join(ApprovalCase, ApprovalCase.id == ApprovalPause.case_id)
                                  .order_by(ApprovalCase.external_id, ApprovalPause.start_date)):
        yield {"external_id": ext, "kind": p.kind, "reason": p.reason,
               "start_date": p.start_date, "end_date": p.end_date}


register(Kind("matters", "审批事项目录", MATTER_COLUMNS, "code", _resolve_matters, _apply_matters,
              domain=DOMAIN, description="审批事项：实施单位、法定与承诺时限、补正/延期/送达时限、是否收费",
              export=_export_matters))
register(Kind("approvals", "行政审批办件", APPROVAL_COLUMNS, "external_id", _resolve_approvals,
              _apply_approvals, domain=DOMAIN, chunk=500,
              description="办件的收件、补正告知、受理、延期、决定、送达；各环节按法定规则计时",
              export=_export_approvals))
register(Kind("pauses", "审批暂停计时", PAUSE_COLUMNS, None, _resolve_pauses, _apply_pauses,
              domain=DOMAIN, description="听证、招标、拍卖、检验、检测、检疫、鉴定、专家评审暂停计时，"
                                         "期限按暂停期间的工作日顺延", export=_export_pauses))
others.register_kinds(DOMAIN, _units, _unit, _upsert)
