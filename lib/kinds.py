"""Import kinds of the core records (lib.exchange): units, users, public complaints, key projects
and their nodes. (Items are `lib.importer`; each domain registers its own kinds.)

Each kind checks every row against the database first and writes through the same library
functions the forms use, so the rules and the audit trail are the same whichever way a record
comes in. Users are created without a password: each gets a one-time activation code, shown
once to the administrator who imported them, with which they set their own password at their
first sign-in.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit, auth, settings, submissions
from lib.access import ROLES, SYSTEM, parse_roles
from lib.clock import now_utc
from lib.config import TZ
from lib.exchange import Column, ImportResult, Kind, Row, register, row_error
from lib.items import upsert_item
from lib.models import (
    Item,
    KeyProject,
    ProjectNode,
    Region,
    Submission,
    SubmissionEvent,
    Subsystem,
    Unit,
    User,
)
from lib.workdays import TimeLimit, load_calendar

IMPORTER = SYSTEM  # imports run with the system's rights; the actor's name goes in the audit


def _units(session: Session) -> tuple[dict, dict]:
    units = list(session.scalars(select(Unit)))
    return {u.code: u for u in units}, {u.name: u for u in units}


def _unit_of(row: Row, code_map: dict, name_map: dict, col: str, errors: list, required=True):
    value = row[col]
    if value is None:
        if required:
            errors.append(row_error(row, f"缺少单位（{col}）"))
        return None
    unit = code_map.get(value) or name_map.get(value)
    if unit is None:
        errors.append(row_error(row, f"未知单位“{value}”（请填写单位代码或全称）"))
    return unit


def _counties(session: Session) -> dict[str, Region]:
    return {r.code: r for r in session.scalars(select(Region).where(Region.level == "county"))}


def _county_of(row: Row, counties: dict, col: str, errors: list):
    value = row[col]
    if value is None:
        return None
    region = counties.get(value) or next((r for r in counties.values() if r.name == value), None)
    if region is None:
        errors.append(row_error(row, f"未知区县“{value}”（请填写行政区划代码，如 440823，或名称）"))
    return region


# -- units ---------------------------------------------------------------------------------------

UNIT_COLUMNS = (
    Column("code", "单位代码", max_len=16, example="440823.WJ",
           help="唯一代码，建议“区划代码.部门简称”（市直单位为 ZJ.简称）；再次导入同一代码即更名"),
    Column("name", "单位名称", max_len=64, example="遂溪县卫生健康局"),
    Column("level", "层级", "choice", choices=("municipal", "county"),
           choice_labels=("市直", "县级"), example="county", help="municipal（市直）或 county（县级）"),
    Column("county", "所属区县", required=False, example="440823",
           help="县级单位填所属县（市、区）的行政区划代码或名称；市直单位留空"),
)


def _resolve_units(session: Session, rows: list[Row]) -> list[str]:
    counties = _counties(session)
    errors: list[str] = []
    for row in rows:
        county = _county_of(row, counties, "county", errors)
        if row["level"] == "county" and county is None and row["county"] is None:
            errors.append(row_error(row, "县级单位须填写所属区县"))
        if row["level"] == "municipal" and row["county"] is not None:
            errors.append(row_error(row, "市直单位不填所属区县"))
        row.refs["region_id"] = county.id if county else None
    return errors


def _apply_units(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    by_code, _ = _units(session)
    for row in rows:
        unit = by_code.get(row["code"])
        if unit is None:
            settings.create_unit(session, IMPORTER, code=row["code"], name=row["name"],
                                 level=row["level"], region_id=row.refs["region_id"])
            result.count("created", row["code"])
        elif unit.name != row["name"]:
            settings.rename_unit(session, IMPORTER, unit.id, row["name"])
            result.count("updated", row["code"])
        else:
            result.count("unchanged", row["code"])
    return result


def _export_units(session: Session):
    codes = dict(session.execute(select(Region.id, Region.code)).all())
    levels = dict(session.execute(select(Region.id, Region.level)).all())
    # Towns' governments (level town) come from the catalog's towns (lib.domains.disclosure),
    # not from this kind.
    for u in session.scalars(select(Unit).where(Unit.level != "town").order_by(Unit.code)):
        yield {"code": u.code, "name": u.name, "level": u.level,
               "county": codes[u.region_id] if levels[u.region_id] == "county" else None}


# -- users ---------------------------------------------------------------------------------------

ROLE_LABELS = {label: code for code, label in ROLES.items()}

USER_COLUMNS = (
    Column("username", "用户名", max_len=32, example="zhangsan",
           help="3–32 位小写字母、数字或 _ . -，以字母开头；再次导入同一用户名即更新姓名、角色和单位"),
    Column("display_name", "姓名", max_len=32, example="张三"),
    Column("roles", "角色", example="staff",
           help="一个或多个，用逗号或顿号分隔：" + "、".join(f"{c}（{n}）" for c, n in ROLES.items())),
    Column("unit", "所属单位", required=False, example="440823.ZRZY",
           help="单位代码或全称；部门经办人必填"),
    Column("active", "启用", "bool", required=False, example="1", help="1 启用，0 停用；留空为启用"),
)


def _roles_of(text: str) -> tuple[frozenset[str], list[str]]:
    parts = [p.strip() for p in text.replace("、", ",").replace("，", ",").split(",") if p.strip()]
    roles, unknown = set(), []
    for p in parts:
        code = p if p in ROLES else ROLE_LABELS.get(p)
        if code is None:
            unknown.append(p)
        else:
            roles.add(code)
    return frozenset(roles), unknown


def _resolve_users(session: Session, rows: list[Row]) -> list[str]:
    by_code, by_name = _units(session)
    errors: list[str] = []
    for row in rows:
        name = row["username"].strip().lower()
        if not auth.USERNAME_RE.match(name):
            errors.append(row_error(row, f"用户名“{row['username']}”不合规：3–32 位小写字母、数字或"
                                         " _ . -，以字母开头"))
        roles, unknown = _roles_of(row["roles"])
        if unknown:
            errors.append(row_error(row, f"未知角色：{'、'.join(unknown)}"))
        unit = _unit_of(row, by_code, by_name, "unit", errors, required=False)
        if "staff" in roles and row["unit"] is None:
            errors.append(row_error(row, "部门经办人必须填写所属单位"))
        row.refs.update(username=name, roles=roles, unit=unit)
    return errors


def _apply_users(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    for row in rows:
        name, roles, unit = row.refs["username"], row.refs["roles"], row.refs["unit"]
        active = True if row["active"] is None else row["active"]
        user = session.scalar(select(User).where(User.username == name))
        if user is None:
            code = auth.create_inactive_user(session, IMPORTER, username=name,
                                             display_name=row["display_name"], roles=roles,
                                             unit_id=unit.id if unit else None, actor_name=actor)
            result.count("created", name)
            result.secrets.append((name, code))
            continue
        same = (user.display_name == row["display_name"].strip() and parse_roles(user.roles) == roles
                and user.unit_id == (unit.id if unit else None) and user.active == active)
        if same:
            result.count("unchanged", name)
            continue
        auth.update_user(session, IMPORTER, user.id, display_name=row["display_name"],
                         roles=roles, unit_id=unit.id if unit else None, active=active)
        result.count("updated", name)
    return result


def _export_users(session: Session):
    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    for u in session.scalars(select(User).order_by(User.username)):
        yield {"username": u.username, "display_name": u.display_name, "roles": u.roles,
               "unit": codes.get(u.unit_id), "active": u.active}


# -- public complaints (a hotline's work orders) -------------------------------------------------

KIND_LABELS = {code: label for code, (label, _subsystem) in submissions.KINDS.items()}
CODE_RE = __import__("re").compile(r"^[A-Z0-9-]{6,16}$")

COMPLAINT_COLUMNS = (
    Column("code", "查询码", max_len=16, example="RX26000123",
           help="诉求的查询码（如 12345 热线的工单号），群众凭此查询；再次导入同一查询码即更新标题和内容"),
    Column("kind", "类别", "choice", choices=tuple(KIND_LABELS),
           choice_labels=tuple(KIND_LABELS.values()), example="complaint",
           help="report（举报）、complaint（投诉）、consult（咨询）、suggest（建议），或中文"),
    Column("subject", "标题", max_len=100, example="道路积水多日无人处理"),
    Column("body", "内容", max_len=submissions.MAX_BODY, example="主干道一下雨就积水，已反映多次。"),
    Column("received_at", "受理时间", "datetime", example="2026-10-08T09:30"),
    Column("county", "区县", required=False, example="440823", help="行政区划代码或名称"),
    Column("unit", "承办单位", required=False, example="ZJ.CGZF",
           help="单位代码或全称；留空按分派规则自动派单"),
    Column("anonymous", "匿名", "bool", required=False, example="0"),
    Column("name", "反映人", required=False, max_len=32, example="",
           help="加密存储，仅纪检监察人员可查看（每次查看留痕）"),
    Column("contact", "联系方式", required=False, max_len=64, example="", help="加密存储"),
)


def _resolve_complaints(session: Session, rows: list[Row]) -> list[str]:
    by_code, by_name = _units(session)
    counties = _counties(session)
    now = now_utc()
    errors: list[str] = []
    for row in rows:
        row.values["code"] = row["code"].strip().upper()
        if not CODE_RE.match(row["code"]):
            errors.append(row_error(row, f"查询码“{row['code']}”须为 6–16 位字母、数字或 -"))
        county = _county_of(row, counties, "county", errors)
        unit = _unit_of(row, by_code, by_name, "unit", errors, required=False)
        if row["received_at"] > now:
            errors.append(row_error(row, "受理时间晚于当前时间"))
        row.refs.update(region_id=county.id if county else None,
                        unit_id=unit.id if unit else None)
        problems = submissions.validate(submissions.NewSubmission(
            kind=row["kind"], region_id=None, unit_id=None, subject=row["subject"],
            body=row["body"], anonymous=bool(row["anonymous"]), name=row["name"] or "",
            contact=row["contact"] or ""))
        errors.extend(row_error(row, p) for p in problems)
    return errors


def _apply_complaints(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    for row in rows:
        existing = session.scalar(select(Submission).where(Submission.code == row["code"]))
        if existing is None:
            submissions.submit(session, submissions.NewSubmission(
                kind=row["kind"], region_id=row.refs["region_id"], unit_id=row.refs["unit_id"],
                subject=row["subject"], body=row["body"], anonymous=bool(row["anonymous"]),
                name=row["name"] or "", contact=row["contact"] or ""),
                now=row["received_at"], code=row["code"])
            result.count("created", row["code"])
            continue
        subject, body = submissions.clean(row["subject"]), submissions.clean(row["body"])
        if (existing.subject, existing.body) == (subject, body):
            result.count("unchanged", row["code"])
            continue
        before = {"subject": existing.subject, "body": existing.body}
        existing.subject, existing.body, existing.updated_at = subject, body, now_utc()
        session.add(SubmissionEvent(submission_id=existing.id, at=now_utc(), actor=actor,
                                    action="corrected", note="导入更正标题或内容"))
        audit.record(session, actor=actor, action="submission.correct", entity="submission",
                     entity_id=existing.code, before=before, after={"subject": subject,
                                                                    "body": body})
        result.count("updated", row["code"])
    return result


def _export_complaints(session: Session):
    counties = dict(session.execute(select(Region.id, Region.code)).all())
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    for s in session.scalars(select(Submission).order_by(Submission.id)):
        # No personal data leaves in an export: names and contacts stay encrypted at home.
        yield {"code": s.code, "kind": s.kind, "subject": s.subject, "body": s.body,
               "received_at": s.created_at, "county": counties.get(s.region_id),
               "unit": units.get(s.chosen_unit_id), "anonymous": s.anonymous}


# -- key projects and their nodes ----------------------------------------------------------------

PROJECT_COLUMNS = (
    Column("code", "项目编号", max_len=16, example="XM3001", help="再次导入同一编号即更新"),
    Column("name", "项目名称", max_len=100, example="遂溪县城区供水管网改造工程"),
    Column("unit", "责任单位", example="ZJ.ZJ"),
    Column("county", "所在区县", required=False, example="440823"),
    Column("budget_wan", "投资额（万元）", "int", required=False, minimum=0, example="12000"),
    Column("start_date", "开工日期", "date", example="2026-03-01"),
    Column("due_date", "计划完工日期", "date", example="2027-06-30"),
    Column("completed_on", "实际完工日期", "date", required=False, example=""),
)


def _resolve_projects(session: Session, rows: list[Row]) -> list[str]:
    by_code, by_name = _units(session)
    counties = _counties(session)
    errors: list[str] = []
    for row in rows:
        unit = _unit_of(row, by_code, by_name, "unit", errors)
        county = _county_of(row, counties, "county", errors)
        if row["due_date"] < row["start_date"]:
            errors.append(row_error(row, "计划完工日期早于开工日期"))
        if row["completed_on"] and row["completed_on"] < row["start_date"]:
            errors.append(row_error(row, "实际完工日期早于开工日期"))
        row.refs.update(unit=unit, region_id=county.id if county else None)
    return errors


def _apply_projects(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    for row in rows:
        values = {"name": row["name"], "unit_id": row.refs["unit"].id,
                  "region_id": row.refs["region_id"], "budget_wan": row["budget_wan"],
                  "start_date": row["start_date"], "due_date": row["due_date"],
                  "completed_on": row["completed_on"]}
        project = session.scalar(select(KeyProject).where(KeyProject.code == row["code"]))
        if project is None:
            session.add(KeyProject(code=row["code"], **values))
            audit.record(session, actor=actor, action="project.create", entity="project",
                         entity_id=row["code"], after=values)
            result.count("created", row["code"])
            continue
        before = {k: getattr(project, k) for k in values}
        if before == values:
            result.count("unchanged", row["code"])
            continue
        for k, v in values.items():
            setattr(project, k, v)
        audit.record(session, actor=actor, action="project.update", entity="project",
                     entity_id=row["code"], before=before, after=values)
        result.count("updated", row["code"])
    session.flush()
    return result


def _export_projects(session: Session):
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    regions = dict(session.execute(select(Region.id, Region.code)).all())
    for p in session.scalars(select(KeyProject).order_by(KeyProject.code)):
        yield {"code": p.code, "name": p.name, "unit": units[p.unit_id],
               "county": regions.get(p.region_id), "budget_wan": p.budget_wan,
               "start_date": p.start_date, "due_date": p.due_date,
               "completed_on": p.completed_on}


NODE_TYPES = ("立项", "招标", "合同", "进度", "监理", "安全生产", "资金拨付")

NODE_COLUMNS = (
    Column("project", "项目编号", max_len=16, example="XM3001"),
    Column("seq", "节点序号", "int", minimum=1, example="1", help="项目内的节点顺序，与项目编号一起识别节点"),
    Column("node_type", "节点", "choice", choices=NODE_TYPES, example="立项",
           help="、".join(NODE_TYPES)),
    Column("planned_start", "计划开始", "date", example="2026-03-01"),
    Column("planned_end", "计划完成", "date", example="2026-04-15"),
    Column("percent_done", "完成进度（%）", "int", required=False, minimum=0, example="40"),
    Column("completed_at", "完成时间", "datetime", required=False, example=""),
)


def _resolve_nodes(session: Session, rows: list[Row]) -> list[str]:
    known = {p.code: p for p in session.scalars(select(KeyProject))}
    now = now_utc()
    errors: list[str] = []
    seen: dict = {}
    for row in rows:
        project = known.get(row["project"])
        if project is None:
            errors.append(row_error(row, f"未知项目“{row['project']}”（请先导入重点项目）"))
        key = (row["project"], row["seq"])
        if key in seen:
            errors.append(row_error(row, f"项目 {key[0]} 的第 {key[1]} 个节点与第{seen[key]}行重复"))
        seen[key] = row.line
        if row["planned_end"] < row["planned_start"]:
            errors.append(row_error(row, "计划完成日期早于计划开始日期"))
        pct = row["percent_done"]
        if pct is not None and pct > 100:
            errors.append(row_error(row, "完成进度不能超过 100%"))
        if row["completed_at"] is not None and row["completed_at"] > now:
            errors.append(row_error(row, "完成时间晚于当前时间"))
        row.refs["project"] = project
    return errors


def _apply_nodes(session: Session, rows: list[Row], actor: str) -> ImportResult:
    cal = load_calendar(session)
    sub = session.scalar(select(Subsystem).where(Subsystem.code == "KEYPROJ"))
    result = ImportResult()
    for row in rows:
        project = row.refs["project"]
        received = datetime.combine(row["planned_start"], time(9, 0), tzinfo=TZ)
        deadline = datetime.combine(row["planned_end"] + timedelta(days=1), time(0), tzinfo=TZ)
        days = max(1, (row["planned_end"] - row["planned_start"]).days)
        done = row["completed_at"]
        pct = 100 if done is not None else (row["percent_done"] or 0)
        ext = f"{project.code}-{row['seq']}"
        item, outcome = upsert_item(
            session, cal, external_id=ext, subsystem=sub, unit_id=project.unit_id,
            received_at=received, limit=TimeLimit(days, "d"), completed_at=done, actor=actor,
            title=f"{project.name}·{row['node_type']}", region_id=project.region_id,
            note="文件导入", deadline=deadline)
        node = session.get(ProjectNode, item.id)
        values = {"project_id": project.id, "node_type": row["node_type"], "seq": row["seq"],
                  "planned_start": row["planned_start"], "planned_end": row["planned_end"],
                  "percent_done": pct}
        if node is None:
            session.add(ProjectNode(item_id=item.id, **values))
        elif any(getattr(node, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(node, k, v)
            outcome = "updated" if outcome == "unchanged" else outcome
        result.count(outcome, ext)
    session.flush()
    return result


def _export_nodes(session: Session):
    codes = dict(session.execute(select(KeyProject.id, KeyProject.code)).all())
    for node, done in session.execute(select(ProjectNode, Item.completed_at)
                                      .join(Item, Item.id == ProjectNode.item_id)
                                      .order_by(ProjectNode.project_id, ProjectNode.seq)):
        yield {"project": codes[node.project_id], "seq": node.seq, "node_type": node.node_type,
               "planned_start": node.planned_start, "planned_end": node.planned_end,
               "percent_done": node.percent_done, "completed_at": done}


register(Kind("units", "单位", UNIT_COLUMNS, "code", _resolve_units, _apply_units,
              description="市直和县级责任单位", export=_export_units))
register(Kind("users", "用户", USER_COLUMNS, "username", _resolve_users, _apply_users,
              description="工作人员账号。新账号不含密码：导入后逐一生成一次性激活码（仅显示一次），"
                          "本人首次登录时凭激活码设置密码", export=_export_users))
register(Kind("complaints", "群众诉求", COMPLAINT_COLUMNS, "code", _resolve_complaints,
              _apply_complaints, description="热线等渠道受理的举报、投诉、咨询、建议，按强制回应办理",
              export=_export_complaints))
register(Kind("projects", "重点项目", PROJECT_COLUMNS, "code", _resolve_projects, _apply_projects,
              description="重点项目基本信息（其节点另行导入）", export=_export_projects))
register(Kind("nodes", "重点项目节点", NODE_COLUMNS, None, _resolve_nodes, _apply_nodes,
              description="立项、招标、合同、进度、监理、安全生产、资金拨付逐节点监察",
              export=_export_nodes))
