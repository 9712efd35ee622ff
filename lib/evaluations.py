"""Online evaluation (网上测评): anyone on the public portal rates a unit's service, 1–5.

Without sign-in, so each source (a salted hash of the address, never the address) may evaluate
a unit once in `PER_UNIT_DAYS` days and at most `PER_DAY` units a day; evaluations feed the
unit's 网上测评满意度 indicator (lib.scoring)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import audit, catalog, privacy
from lib.clock import now_utc
from lib.models import Evaluation, Unit
from lib.submissions import clean

PER_UNIT_DAYS = 30
PER_DAY = 10
MAX_COMMENT = 200
LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class EvaluationError(ValueError):
    """A refused evaluation; the message is for the citizen, in Chinese."""


@dataclass(frozen=True)
class UnitChoice:
    id: int
    code: str
    name: str


def units(session: Session) -> list[UnitChoice]:
    """The units the public may evaluate (every supervised unit)."""
    return [UnitChoice(u.id, u.code, u.name) for u in session.scalars(
        select(Unit).where(Unit.code != catalog.INSPECTORS_UNIT).order_by(Unit.code))]


def submit(session: Session, unit_id: int | None, rating: int | None, comment: str = "", *,
           source: str | None = None, now: datetime | None = None) -> Evaluation:
    """Record one evaluation; the caller commits."""
    now = now or now_utc()
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None or unit.code == catalog.INSPECTORS_UNIT:
        raise EvaluationError("请选择要评价的单位")
    if not isinstance(rating, int) or isinstance(rating, bool) or rating not in LABELS:
        raise EvaluationError("请选择满意程度（1–5 分）")
    comment = clean(comment)
    if len(comment) > MAX_COMMENT:
        raise EvaluationError(f"意见建议不能超过 {MAX_COMMENT} 字（现 {len(comment)} 字）")
    digest = privacy.source_hash(source)
    if digest:
        def recent(*conds) -> int:
            return session.scalar(select(func.count()).select_from(Evaluation).where(
                Evaluation.source_hash == digest, *conds)) or 0

        if recent(Evaluation.unit_id == unit.id,
                   Evaluation.at > now - timedelta(days=PER_UNIT_DAYS)):
            raise EvaluationError(f"您近 {PER_UNIT_DAYS} 天内已评价过{unit.name}，感谢参与")
        if recent(Evaluation.at > now - timedelta(days=1)) >= PER_DAY:
            raise EvaluationError(f"同一来源每天最多评价 {PER_DAY} 个单位，请明天再来")
    ev = Evaluation(unit_id=unit.id, at=now, rating=rating, comment=comment or None,
                    source_hash=digest)
    session.add(ev)
    session.flush()
    audit.record(session, actor="群众", action="evaluation.submit", entity="unit",
                 entity_id=unit.code, after={"rating": rating})
    return ev


def summary(session: Session, since: datetime) -> list[dict]:
    """Per unit since a moment: evaluations and mean rating (for the portal)."""
    rows = session.execute(
        select(Unit.code, Unit.name, func.count(Evaluation.id), func.avg(Evaluation.rating))
        .join(Evaluation, Evaluation.unit_id == Unit.id)
        .where(Evaluation.at >= since).group_by(Unit.code, Unit.name).order_by(Unit.code)).all()
    return [{"code": c, "name": n, "count": k, "mean": float(m)} for c, n, k, m in rows]
