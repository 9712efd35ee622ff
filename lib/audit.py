"""The audit trail (审计日志): every write, who, when, what, before and after.

Rows are append-only (database triggers refuse UPDATE and DELETE) and hash-chained: each row's
hash covers its content and the previous row's hash, so altering or deleting any row breaks the
chain at that point, and `verify` names the first broken link. `prev_hash` is unique, so two
writers can never both extend the chain from the same row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lib.clock import now_utc
from lib.models import AuditLog

GENESIS = "0" * 64

ACTION_LABELS = {
    "auth.login": "登录", "auth.login_failed": "登录失败", "auth.login_refused": "锁定期间登录被拒",
    "auth.locked": "账号锁定", "auth.logout": "退出登录",
    "user.create": "新建用户", "user.update": "修改用户", "user.unlock": "解除锁定",
    "user.reset_password": "重置密码", "user.change_password": "修改本人密码",
    "unit.create": "新增单位", "unit.rename": "单位更名",
    "item.create": "新增事项", "item.update": "修改事项", "item.complete": "办结登记",
    "subsystem.update": "修改灯色阈值/默认时限", "calendar.set": "调整工作日历",
    "calendar.remove": "撤销日历调整", "personal.read": "查看个人信息", "demo.load": "载入演示数据",
    "scoring.scheme": "修改考核办法", "ranking.publish": "公布效能排名",
    "evaluation.submit": "网上测评",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)
_PG_LOCK = 727_001  # advisory lock serialising appends on PostgreSQL


def _json(value) -> str | None:
    if value is None:
        return None

    def default(o):
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        return str(o)

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=default)


def compute_hash(*, prev_hash: str, at: int, actor: str, action: str, entity: str,
                 entity_id: str | None, before: str | None, after: str | None) -> str:
    payload = json.dumps([prev_hash, at, actor, action, entity, entity_id, before, after],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(session: Session, *, actor: str, action: str, entity: str,
           entity_id: str | int | None = None, before=None, after=None) -> AuditLog:
    """Append one row in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    session.flush()
    prev = session.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)) or GENESIS
    at = now_utc()
    b, a = _json(before), _json(after)
    eid = None if entity_id is None else str(entity_id)
    row = AuditLog(at=at, actor=actor, action=action, entity=entity, entity_id=eid, before=b,
                   after=a, prev_hash=prev,
                   hash=compute_hash(prev_hash=prev, at=int(at.timestamp()), actor=actor,
                                     action=action, entity=entity, entity_id=eid, before=b,
                                     after=a))
    session.add(row)
    session.flush()
    return row


def search(session: Session, user, *, since: datetime | None = None, until: datetime | None = None,
           actor: str | None = None, action: str | None = None, entity_id: str | None = None,
           limit: int = 1000) -> list[AuditLog]:
    """Audit rows, newest first, for inspectors and administrators."""
    from lib.access import require

    require(user, "view_audit")
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at <= until)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor.strip().lower())
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id.strip())
    return list(session.scalars(stmt))


def actions(session: Session) -> list[str]:
    return sorted(session.scalars(select(AuditLog.action).distinct()))


def record_read(session: Session, user, *, entity: str, entity_id: str | int, what: str) -> None:
    """Reading personal data (a reporter's identity) is itself an audited event."""
    record(session, actor=user.username, action="personal.read", entity=entity,
           entity_id=entity_id, after={"viewed": what})


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_id: int | None = None
    position: int | None = None
    message: str = ""


def verify(session: Session) -> VerifyResult:
    """Walk the chain from the first row; report the first row whose hash or link is wrong."""
    prev = GENESIS
    n = 0
    stmt = select(AuditLog.id, AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.entity,
                  AuditLog.entity_id, AuditLog.before, AuditLog.after, AuditLog.prev_hash,
                  AuditLog.hash).order_by(AuditLog.id)
    for row in session.execute(stmt).yield_per(5000):
        n += 1
        (rid, at, actor, action, entity, eid, before, after, prev_hash, h) = row
        if prev_hash != prev:
            return VerifyResult(False, n, rid, n, f"第{n}条记录（id={rid}）与上一条的链接断开："
                                "上一条记录被删除、插入或篡改")
        expected = compute_hash(prev_hash=prev_hash, at=int(at.timestamp()), actor=actor,
                                action=action, entity=entity, entity_id=eid, before=before,
                                after=after)
        if expected != h:
            return VerifyResult(False, n, rid, n, f"第{n}条记录（id={rid}）的内容与其哈希不符：该记录被篡改")
        prev = h
    return VerifyResult(True, n, message=f"审计链完整：共 {n} 条记录，逐条校验通过")
