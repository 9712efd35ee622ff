"""Health of a running installation (`python -m lib health`, the admin settings page).

Checks, each ok or not: the database answers; its schema is at the newest migration; the
supervision sweep ran recently (the app's thread or the cron job records each run); the audit
chain verifies from the first row to its head. Beside them, the figures an operator looks at:
items (open, open past the deadline), notices awaiting an answer, public submissions, accounts.
Read-only: it never takes a write lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, func, literal, select, text, type_coerce
from sqlalchemy.engine import Engine

from lib import audit, db, notices
from lib.clock import now_utc
from lib.lights import epoch, fmt_duration, fmt_time
from lib.models import AuditLog, Item, Notice, Submission, User

SWEEP_MAX_AGE = timedelta(minutes=10)  # the sweep runs every minute; this late is a fault


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)
    took: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        out = [f"{'正常' if c.ok else '异常'}  {c.name}：{c.detail}" for c in self.checks]
        if self.figures:
            out.append("数据：" + "，".join(f"{k} {v:,}" for k, v in self.figures.items()))
        out.append(f"结论：{'运行正常' if self.ok else '存在异常，请处理上面标为“异常”的项目'}"
                   f"（检查用时 {self.took:.1f} 秒）")
        return out

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checks": [c.__dict__ for c in self.checks],
                "figures": self.figures, "took_seconds": round(self.took, 2)}


def check(engine: Engine | None = None, *, now: datetime | None = None,
          sweep_max_age: timedelta = SWEEP_MAX_AGE, verify_chain: bool = True) -> Report:
    engine = engine or db.get_engine()
    now = now or now_utc()
    started = time.perf_counter()
    report = Report()
    where = engine.url.render_as_string(hide_password=True)
    try:
        with db.read_scope(engine) as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        report.checks.append(Check("数据库连接", False, f"无法连接 {where}（{reason}）"))
        report.took = time.perf_counter() - started
        return report
    report.checks.append(Check("数据库连接", True, f"{engine.dialect.name}，{where}"))

    current, head = db.current_revision(engine), db.head_revision()
    if current == head:
        report.checks.append(Check("数据库版本", True, f"已迁移到最新版本 {head}"))
    else:
        report.checks.append(Check("数据库版本", False, f"当前 {current or '未初始化'}，最新 {head}："
                                   "请运行 python -m lib init"))
        report.took = time.perf_counter() - started
        return report  # the tables below may not exist yet

    with db.read_scope(engine) as s:
        last = notices.last_swept(s)
        if last is None:
            report.checks.append(Check("督办扫描", False, "从未运行：请启用 cron 的 python -m lib sweep，"
                                       "或打开应用（应用内后台扫描每分钟一次）"))
        else:
            age = now - last
            detail = f"上次运行 {fmt_time(last)}（{fmt_duration(max(int(age.total_seconds()), 0))}前）"
            ok = age <= sweep_max_age
            if not ok:
                detail += f"，超过 {int(sweep_max_age.total_seconds() // 60)} 分钟未运行"
            report.checks.append(Check("督办扫描", ok, detail))

        head_row = s.execute(select(AuditLog.id, AuditLog.at, AuditLog.hash)
                             .order_by(AuditLog.id.desc()).limit(1)).first()
        if verify_chain:
            result = audit.verify(s)
            if result.ok:
                detail = f"{result.rows:,} 条，逐条校验通过"
            else:
                detail = result.message
            ok = result.ok
        else:
            ok, detail = True, "未逐条校验"
        if head_row:
            detail += f"；链头 id={head_row.id}，{fmt_time(head_row.at)}，哈希 {head_row.hash[:16]}…"
        else:
            detail += "；尚无审计记录"
        report.checks.append(Check("审计链", ok, detail))

        t = literal(epoch(now), BigInteger)
        due = type_coerce(Item.deadline, BigInteger)
        total, open_, overdue = s.execute(select(
            func.count(), func.count().filter(Item.completed_at.is_(None)),
            func.count().filter(Item.completed_at.is_(None), due < t))).one()
        report.figures = {
            "监察事项": int(total), "在办": int(open_), "在办逾期": int(overdue),
            "待回复督办通知": int(s.scalar(select(func.count()).select_from(Notice)
                                          .where(Notice.status.in_(("issued", "returned")))) or 0),
            "群众诉求": int(s.scalar(select(func.count()).select_from(Submission)) or 0),
            "账号": int(s.scalar(select(func.count()).select_from(User)) or 0),
        }
    report.took = time.perf_counter() - started
    return report
