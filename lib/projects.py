"""Key projects (重点项目督查督办), node by node: 立项, 招标, 合同, 进度, 监理, 安全生产, 资金拨付.

Lights as Chinese cities publish them (defaults, set in `app_settings`):
- a completed node: the item engine's light (on time green, late red);
- an open node behind plan by 10–30 percentage points yellow, by more than 30 red, where the
  plan is the share of its planned window that has elapsed;
- the fund-disbursement node (资金拨付) past its planned end and unpaid: red;
- two yellow reports in a row: red.
"Behind schedule" (for a whole project): start + (due − start) × done% < today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit
from lib.access import CurrentUser, PermissionDenied, check_unit, require, unit_scope
from lib.clock import now_utc
from lib.config import TZ
from lib.items import snapshot
from lib.lights import GREEN, GREY, RED, YELLOW, light_of
from lib.models import (
    AppSetting,
    Item,
    ItemEvent,
    KeyProject,
    NodeUpdate,
    Notice,
    ProjectNode,
    Region,
    Subsystem,
    Unit,
)

DEFAULTS = {"proj_yellow_pp": 10, "proj_red_pp": 30}
FUNDS_NODE = "资金拨付"


class ProjectError(ValueError):
    """A refused node update; the message is for the user, in Chinese."""


def thresholds(session: Session) -> tuple[int, int]:
    values = {k: int(session.get(AppSetting, k).value) if session.get(AppSetting, k) else v
              for k, v in DEFAULTS.items()}
    return values["proj_yellow_pp"], values["proj_red_pp"]


def planned_percent(start: date, end: date, today: date) -> int:
    if today <= start:
        return 0
    if today >= end or end <= start:
        return 100
    return round(100 * (today - start).days / (end - start).days)


def behind_schedule(start: date, due: date, done_pct: int, today: date) -> bool:
    """start + (due − start) × done% < today."""
    reached = start.toordinal() + (due.toordinal() - start.toordinal()) * done_pct / 100
    return reached < today.toordinal()


@dataclass(frozen=True)
class NodeLight:
    light: str
    reason: str
    behind_pp: int


def node_light(*, node_type: str, planned_start: date, planned_end: date, percent_done: int,
               item_light, today: date, yellow_pp: int, red_pp: int,
               previous: str | None) -> NodeLight:
    """The published rules, in the order they bite. `item_light` is the engine's `Light` for
    the node's item; `previous` is the light of the node's last progress report."""
    if item_light is None:
        return NodeLight(GREY, "尚未开始", 0)
    if item_light.rule in ("completed_on_time", "completed_late", "card_cancelled"):
        return NodeLight(item_light.light, item_light.reason, 0)
    behind = planned_percent(planned_start, planned_end, today) - percent_done
    if node_type == FUNDS_NODE and today > planned_end:
        return NodeLight(RED, f"资金拨付逾期：计划 {planned_end} 前拨付，尚未完成", behind)
    if behind > red_pp:
        return NodeLight(RED, f"进度滞后 {behind} 个百分点（超过 {red_pp}）", behind)
    if behind >= yellow_pp:
        if previous == YELLOW:
            return NodeLight(RED, f"连续两次黄灯：进度滞后 {behind} 个百分点", behind)
        return NodeLight(YELLOW, f"进度滞后 {behind} 个百分点（{yellow_pp}–{red_pp}）", behind)
    if item_light.light == RED:
        return NodeLight(RED, item_light.reason, behind)
    return NodeLight(GREEN, f"按计划推进（滞后 {max(behind, 0)} 个百分点以内）", behind)


def _last_update_lights(session: Session, item_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    if not item_ids:
        return out
    for item_id, light in session.execute(
            select(NodeUpdate.item_id, NodeUpdate.light).where(NodeUpdate.item_id.in_(item_ids))
            .order_by(NodeUpdate.item_id, NodeUpdate.at, NodeUpdate.id)):
        out[item_id] = light  # the last one wins
    return out


def nodes(session: Session, user: CurrentUser, project_id: int, as_of: datetime) -> list[dict]:
    """A project's nodes with plan, progress, light and why."""
    require(user, "view_items")
    project = session.get(KeyProject, project_id)
    if project is None:
        raise ProjectError("项目不存在")
    check_unit(user, project.unit_id)
    yellow_pp, red_pp = thresholds(session)
    today = as_of.astimezone(TZ).date()
    rows = session.execute(
        select(ProjectNode, Item, Subsystem.yellow_pct).join(Item, Item.id == ProjectNode.item_id)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .where(ProjectNode.project_id == project_id).order_by(ProjectNode.seq)).all()
    previous = _last_update_lights(session, [n.item_id for n, _, _ in rows])
    notices = dict(session.execute(select(Notice.item_id, Notice.id).where(
        Notice.item_id.in_([n.item_id for n, _, _ in rows]))).all())
    out = []
    for node, item, pct in rows:
        lt = light_of(item, as_of, pct)
        nl = node_light(node_type=node.node_type, planned_start=node.planned_start,
                        planned_end=node.planned_end, percent_done=node.percent_done,
                        item_light=lt, today=today, yellow_pp=yellow_pp, red_pp=red_pp,
                        previous=previous.get(node.item_id))
        out.append({"item_id": item.id, "external_id": item.external_id, "seq": node.seq,
                    "node": node.node_type, "planned_start": node.planned_start,
                    "planned_end": node.planned_end, "percent_done": node.percent_done,
                    "completed_at": item.completed_at if item.completed_at and item.completed_at <= as_of else None,
                    "light": nl.light, "reason": nl.reason, "behind_pp": nl.behind_pp,
                    "notice_id": notices.get(item.id)})
    return out


def projects(session: Session, user: CurrentUser, as_of: datetime) -> list[dict]:
    """Every key project the user may see, with its progress and its worst node light."""
    require(user, "view_items")
    today = as_of.astimezone(TZ).date()
    stmt = (select(KeyProject, Unit.name, Region.name).join(Unit, Unit.id == KeyProject.unit_id)
            .outerjoin(Region, Region.id == KeyProject.region_id).order_by(KeyProject.code))
    scope = unit_scope(user)
    if scope is not None:
        stmt = stmt.where(KeyProject.unit_id == scope)
    order = [RED, YELLOW, GREEN, GREY]
    out = []
    for project, unit, region in session.execute(stmt):
        ns = nodes(session, user, project.id, as_of)
        done = sum(n["completed_at"] is not None for n in ns)
        progress = round(sum(n["percent_done"] for n in ns) / len(ns)) if ns else 0
        worst = min((n["light"] for n in ns), key=order.index, default=GREY)
        completed = project.completed_on is not None and project.completed_on <= today
        out.append({"id": project.id, "code": project.code, "name": project.name, "unit": unit,
                    "region": region or "", "start": project.start_date, "due": project.due_date,
                    "budget_wan": project.budget_wan, "nodes_done": done, "nodes": len(ns),
                    "progress": progress, "completed": completed,
                    "behind": (not completed) and behind_schedule(project.start_date,
                                                                  project.due_date, progress, today),
                    "light": worst})
    # Leaders look at red first.
    out.sort(key=lambda r: (order.index(r["light"]), r["completed"], r["code"]))
    return out


def update_node(session: Session, user: CurrentUser, item_id: int, percent_done: int,
                note: str, now: datetime | None = None) -> NodeUpdate:
    """Staff of the project's unit report a node's progress; 100% completes the node."""
    require(user, "update_items")
    now = now or now_utc()
    node = session.get(ProjectNode, item_id)
    if node is None:
        raise ProjectError("节点不存在")
    item = session.get(Item, item_id)
    check_unit(user, item.unit_id)
    if user.unit_id != item.unit_id:
        raise PermissionDenied("只能更新本单位项目的节点")
    if item.state != "open":
        raise ProjectError("该节点已完成，不能再更新")
    if not isinstance(percent_done, int) or not 0 <= percent_done <= 100:
        raise ProjectError("完成进度须为 0–100 的整数")
    if item.received_at and item.received_at > now:
        raise ProjectError("该节点尚未到计划开始时间")
    note = (note or "").strip()
    if percent_done < node.percent_done and len(note) < 4:
        raise ProjectError("进度比上次低时，须说明原因")
    if len(note) > 500:
        raise ProjectError("说明不能超过 500 字")
    yellow_pp, red_pp = thresholds(session)
    pct = session.scalar(select(Subsystem.yellow_pct).where(Subsystem.id == item.subsystem_id))
    before = snapshot(item) | {"percent_done": node.percent_done}
    node.percent_done = percent_done
    if percent_done == 100:
        item.completed_at, item.state = now, "completed"
    item.updated_at = now
    lt = light_of(item, now, pct)
    previous = _last_update_lights(session, [item_id]).get(item_id)
    nl = node_light(node_type=node.node_type, planned_start=node.planned_start,
                    planned_end=node.planned_end, percent_done=percent_done, item_light=lt,
                    today=now.astimezone(TZ).date(), yellow_pp=yellow_pp, red_pp=red_pp,
                    previous=previous)
    update = NodeUpdate(item_id=item_id, at=now, actor=user.username, percent_done=percent_done,
                        behind_pp=nl.behind_pp, light=nl.light, note=note or None)
    session.add(update)
    session.add(ItemEvent(item_id=item_id, at=now, kind="completed" if percent_done == 100 else "progress",
                          from_state="open", to_state=item.state, actor=user.username,
                          note=f"进度 {percent_done}%" + (f"：{note}" if note else "")))
    audit.record(session, actor=user.username, action="node.update", entity="item",
                 entity_id=item.external_id, before=before,
                 after=snapshot(item) | {"percent_done": percent_done, "light": nl.light})
    return update


def set_thresholds(session: Session, user: CurrentUser, yellow_pp: int, red_pp: int) -> None:
    """Administrators set the behind-plan bands (percentage points) of the node lights."""
    require(user, "manage_settings")
    if not (isinstance(yellow_pp, int) and isinstance(red_pp, int) and 0 < yellow_pp < red_pp <= 100):
        raise ProjectError("须满足 0 < 黄灯起点 < 红灯起点 ≤ 100（百分点）")
    before = dict(zip(DEFAULTS, thresholds(session), strict=True))
    for key, value in (("proj_yellow_pp", yellow_pp), ("proj_red_pp", red_pp)):
        row = session.get(AppSetting, key)
        if row is None:
            session.add(AppSetting(key=key, value=str(value)))
        else:
            row.value = str(value)
    audit.record(session, actor=user.username, action="setting.update", entity="setting",
                 entity_id="project_thresholds", before=before,
                 after={"proj_yellow_pp": yellow_pp, "proj_red_pp": red_pp})
