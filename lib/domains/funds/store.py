"""What the 专项资金 page and the public portal read, and an inspector's audited reading of a
payee's identity number and account.

Every function takes the user (or is the public's) and applies the same rules: staff see their
unit's payments only; a payee's name is masked for users who may not see personal names (the
provincial reviewer) and always on the public portal; identity numbers and accounts are never
returned, except by `reveal`, to inspectors, with each reading in the audit trail.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import BigInteger, and_, func, select, type_coerce
from sqlalchemy.orm import Session

from lib import audit, db, privacy
from lib.access import CurrentUser, can, require, scoped_unit
from lib.config import TZ
from lib.domains.funds.ids import masked_name
from lib.domains.funds.models import FundAccount, FundPayee, FundPayment, FundProgram
from lib.domains.funds.rules import THREEPUB, planned_share
from lib.models import Region, Subsystem, Unit

PUBLIC_LINES = ("RELIEF", "FARMSUB", "SOCSEC")  # paid to villagers: listed per village


class FundsError(ValueError):
    """A refused request; the message is for the user, in Chinese."""


def shows_names(user: CurrentUser) -> bool:
    return can(user, "view_staff_names")


def _name(user: CurrentUser, name: str) -> str:
    return name if shows_names(user) else masked_name(name)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def lines(session: Session) -> pd.DataFrame:
    """The fund lines (专项资金 subsystems) in catalog order: code, name."""
    from lib.models import Domain

    rows = session.execute(select(Subsystem.code, Subsystem.name).join(Domain)
                           .where(Domain.code == "FUNDS").order_by(Subsystem.sort_order)).all()
    return db.frame(rows, ["line", "line_name"])


def line_kpis(session: Session, user: CurrentUser, as_of: datetime,
              region_id: int | None = None) -> pd.DataFrame:
    """Per fund line, for the as-of year: programs, budget, paid to date, execution against the
    time-proportional plan, payments and payees (staff: their unit's)."""
    unit_id = scoped_unit(user, None)
    day = as_of.astimezone(TZ).date()
    paid = type_coerce(FundPayment.paid_at, BigInteger)
    stmt = (select(Subsystem.code, FundProgram.id, FundProgram.budget,
                   func.coalesce(func.sum(FundPayment.amount), 0), func.count(FundPayment.id),
                   func.count(func.distinct(FundPayment.payee_id)))
            .join(Subsystem, Subsystem.id == FundProgram.subsystem_id)
            .outerjoin(FundPayment, (FundPayment.program_id == FundProgram.id)
                       & paid.is_not(None) & (paid <= _ts(as_of)))
            .where(FundProgram.year == day.year)
            .group_by(Subsystem.code, FundProgram.id, FundProgram.budget))
    if unit_id is not None:
        stmt = stmt.where(FundProgram.unit_id == unit_id)
    if region_id is not None:
        stmt = stmt.join(Unit, Unit.id == FundProgram.unit_id).where(Unit.region_id == region_id)
    acc: dict[str, dict] = defaultdict(lambda: {"programs": 0, "budget": 0.0, "paid": 0.0,
                                                "payments": 0, "payees": 0})
    for line, _pid, budget, spent, n, payees in session.execute(stmt):
        a = acc[line]
        a["programs"] += 1
        a["budget"] += float(budget)
        a["paid"] += float(spent)
        a["payments"] += int(n)
        a["payees"] += int(payees)
    out = lines(session)
    for col in ("programs", "budget", "paid", "payments", "payees"):
        out[col] = [acc[c][col] if c in acc else 0 for c in out["line"]]
    out["execution"] = [p / b if b else None for p, b in zip(out["paid"], out["budget"], strict=True)]
    out["plan"] = planned_share(day)
    return out


def paid_by_day(session: Session, program_ids: list[int], start: datetime,
                end: datetime) -> list[tuple[int, date, float]]:
    """(program, local day, amount paid) for the payments paid from `start` to `end`, summed
    per program and local day in SQL (Asia/Shanghai is UTC+8 all year): a few hundred rows
    instead of every payment of the year."""
    paid = type_coerce(FundPayment.paid_at, BigInteger)
    local_day = ((paid + 8 * 3600) // 86400).label("day")  # integer division on both databases
    rows = db.raw_cursor(session, select(FundPayment.program_id, local_day,
                                         func.sum(FundPayment.amount))
                         .where(FundPayment.program_id.in_(program_ids), paid.is_not(None),
                                paid >= _ts(start), paid <= _ts(end))
                         .group_by(FundPayment.program_id, local_day)
                         .order_by(FundPayment.program_id, local_day)).fetchall()
    return [(pid, date.fromordinal(_EPOCH_ORDINAL + int(n)), float(amount))
            for pid, n, amount in rows]


def execution_curves(session: Session, user: CurrentUser, as_of: datetime,
                     line: str | None = None, region_id: int | None = None) -> pd.DataFrame:
    """Cumulative spending (as a share of the budget) by week of the as-of year, per fund line,
    beside the time-proportional plan (序时进度). Columns: line_name, day, series, share."""
    unit_id = scoped_unit(user, None)
    day = as_of.astimezone(TZ).date()
    base = (select(Subsystem.code, Subsystem.name, FundProgram.id, FundProgram.budget)
            .join(Subsystem, Subsystem.id == FundProgram.subsystem_id)
            .where(FundProgram.year == day.year))
    if unit_id is not None:
        base = base.where(FundProgram.unit_id == unit_id)
    if line:
        base = base.where(Subsystem.code == line)
    if region_id is not None:
        base = base.join(Unit, Unit.id == FundProgram.unit_id).where(Unit.region_id == region_id)
    progs = session.execute(base).all()
    if not progs:
        return pd.DataFrame(columns=["line_name", "day", "series", "share"])
    line_of = {pid: name for _c, name, pid, _b in progs}
    budget: dict[str, float] = defaultdict(float)
    for _c, name, _pid, b in progs:
        budget[name] += float(b)
    start = datetime(day.year, 1, 1, tzinfo=TZ)
    weeks = [date(day.year, 1, 1) + timedelta(days=7 * k)
             for k in range((day - date(day.year, 1, 1)).days // 7 + 1)] + [day]
    by_line: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for pid, d, amount in paid_by_day(session, list(line_of), start, as_of):
        by_line[line_of[pid]].append((d, amount))
    out = []
    for name, total in budget.items():
        if total <= 0:
            continue
        pays = sorted(by_line.get(name, []))
        i, running = 0, 0.0
        for w in weeks:
            while i < len(pays) and pays[i][0] <= w:
                running += pays[i][1]
                i += 1
            out.append({"line_name": name, "day": pd.Timestamp(w), "series": "实际支出",
                        "share": running / total})
            out.append({"line_name": name, "day": pd.Timestamp(w), "series": "序时进度",
                        "share": planned_share(w)})
    return pd.DataFrame(out)


def program_table(session: Session, user: CurrentUser, as_of: datetime,
                  line: str | None = None) -> pd.DataFrame:
    """Each program of the as-of year (and last year's "三公"): budget, paid, execution, plan."""
    unit_id = scoped_unit(user, None)
    day = as_of.astimezone(TZ).date()
    paid = type_coerce(FundPayment.paid_at, BigInteger)
    stmt = (select(FundProgram.code, FundProgram.name, Subsystem.code, Subsystem.name, Unit.name,
                   FundProgram.year, FundProgram.budget, FundProgram.standard_amount,
                   FundProgram.monthly_cap, FundProgram.pay_within_days,
                   func.coalesce(func.sum(FundPayment.amount), 0), func.count(FundPayment.id))
            .join(Subsystem, Subsystem.id == FundProgram.subsystem_id)
            .join(Unit, Unit.id == FundProgram.unit_id)
            .outerjoin(FundPayment, (FundPayment.program_id == FundProgram.id)
                       & paid.is_not(None) & (paid <= _ts(as_of)))
            .where(FundProgram.year.in_((day.year, day.year - 1)))
            .group_by(FundProgram.id, FundProgram.code, FundProgram.name, Subsystem.code,
                      Subsystem.name, Unit.name, FundProgram.year, FundProgram.budget,
                      FundProgram.standard_amount, FundProgram.monthly_cap,
                      FundProgram.pay_within_days)
            .order_by(Subsystem.code, FundProgram.code))
    if unit_id is not None:
        stmt = stmt.where(FundProgram.unit_id == unit_id)
    if line:
        stmt = stmt.where(Subsystem.code == line)
    plan = planned_share(day)
    rows = []
    for code, name, lc, ln, unit, year, budget, std, cap, days, spent, n in session.execute(stmt):
        if year != day.year and lc != THREEPUB:
            continue
        b, s = float(budget), float(spent)
        rows.append({"编号": code, "项目": name, "资金类别": ln, "主管单位": unit, "年度": year,
                     "预算（元）": b, "已支出（元）": s, "执行率": f"{s / b:.1%}" if b else "—",
                     "序时进度": f"{plan:.1%}" if year == day.year else "100.0%",
                     "笔数": int(n), "单笔标准（元）": None if std is None else float(std),
                     "每月上限（元）": None if cap is None else float(cap),
                     "发放时限（天）": days})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PaymentRow:
    id: int
    external_id: str
    program: str
    program_code: str
    line: str
    unit_id: int
    unit: str
    payee_id: int
    payee: str  # masked when the user may not see names
    village: str
    village_id: int | None
    amount: float
    approved_at: datetime
    paid_at: datetime | None


def _payment_rows(session: Session, user: CurrentUser, stmt) -> list[PaymentRow]:
    return [PaymentRow(pid, ext, prog, code, line, unit_id, unit, payee_id, _name(user, payee),
                       village or "", village_id, float(amount), approved, paid)
            for (pid, ext, prog, code, line, unit_id, unit, payee_id, payee, village, village_id,
                 amount, approved, paid) in session.execute(stmt)]


def _payments_stmt(user: CurrentUser):
    """A payment's row with its program, fund line, unit, payee and village named: the columns
    only (no ORM objects), the village joined (not every village read per call)."""
    unit_id = scoped_unit(user, None)
    p = FundPayment
    stmt = (select(p.id, p.external_id, FundProgram.name, FundProgram.code, Subsystem.name,
                   p.unit_id, Unit.name, p.payee_id, FundPayee.name, Region.name, p.village_id,
                   p.amount, p.approved_at, p.paid_at)
            .join(FundProgram, FundProgram.id == p.program_id)
            .join(Subsystem, Subsystem.id == FundProgram.subsystem_id)
            .join(Unit, Unit.id == p.unit_id)
            .join(FundPayee, FundPayee.id == p.payee_id)
            .outerjoin(Region, and_(Region.id == p.village_id, Region.level == "village")))
    if unit_id is not None:
        stmt = stmt.where(p.unit_id == unit_id)
    return stmt


def payments(session: Session, user: CurrentUser, externals) -> list[PaymentRow]:
    """The payments with these external ids that the user may see."""
    require(user, "view_items")
    externals = list(externals)
    if not externals:
        return []
    out = []
    for k in range(0, len(externals), 500):
        out += _payment_rows(session, user, _payments_stmt(user).where(
            FundPayment.external_id.in_(externals[k:k + 500])))
    return out


def payee_payments(session: Session, user: CurrentUser, payee_id: int,
                   as_of: datetime | None = None) -> list[PaymentRow]:
    """Every payment to one payee the user may see, oldest first (approved by the as-of time)."""
    require(user, "view_items")
    stmt = _payments_stmt(user).where(FundPayment.payee_id == payee_id)
    if as_of is not None:
        stmt = stmt.where(type_coerce(FundPayment.approved_at, BigInteger) <= _ts(as_of))
    return _payment_rows(session, user, stmt.order_by(FundPayment.approved_at, FundPayment.id))


def recent_payments(session: Session, user: CurrentUser, as_of: datetime, *, line: str | None = None,
                    limit: int = 500) -> list[PaymentRow]:
    """The latest payments approved by the as-of time (newest first)."""
    require(user, "view_items")
    stmt = _payments_stmt(user).where(
        type_coerce(FundPayment.approved_at, BigInteger) <= _ts(as_of))
    if line:
        stmt = stmt.where(Subsystem.code == line)
    return _payment_rows(session, user, stmt.order_by(FundPayment.approved_at.desc(),
                                                      FundPayment.id.desc()).limit(limit))


def reveal(session: Session, user: CurrentUser, payment_id: int) -> tuple[str, str]:
    """The payee's identity number and the account of one payment, for inspectors only; the
    reading is recorded in the audit trail."""
    require(user, "view_payee_identity")
    p = session.get(FundPayment, payment_id)
    if p is None:
        raise FundsError("该发放记录不存在")
    payee = session.get(FundPayee, p.payee_id)
    account = session.get(FundAccount, p.account_id)
    audit.record_read(session, user, entity="fund_payment", entity_id=p.external_id,
                      what="收款人证件号及收款账号")
    return privacy.decrypt(payee.id_enc) or "—", privacy.decrypt(account.enc) or "—"


# -- the public portal ---------------------------------------------------------------------------

def public_places(session: Session) -> pd.DataFrame:
    """Counties, towns and villages that have subsidies paid to list (county, town, village)."""
    county = Region.__table__.alias("county")
    town = Region.__table__.alias("town")
    village = Region.__table__.alias("village")
    stmt = (select(county.c.name, town.c.name, village.c.name, village.c.id)
            .select_from(village)
            .join(town, town.c.id == village.c.parent_id)
            .join(county, county.c.id == town.c.parent_id)
            .where(village.c.id.in_(select(FundPayment.village_id)
                                    .where(FundPayment.village_id.is_not(None),
                                           FundPayment.paid_at.is_not(None)).distinct()))
            .order_by(county.c.code, town.c.code, village.c.code))
    return db.frame(session.execute(stmt), ["county", "town", "village", "village_id"])


def public_village(session: Session, village_id: int, now: datetime,
                   year: int | None = None) -> pd.DataFrame:
    """The subsidies paid in a village (relief, farm subsidies, social security), names masked
    as village-affairs disclosure requires, amounts shown: for villagers to check. Nothing else
    (no identity number, account, unit's internal data or flag)."""
    paid = type_coerce(FundPayment.paid_at, BigInteger)
    stmt = (select(FundProgram.name, Subsystem.name, FundPayee.name, FundPayment.amount, paid)
            .join(FundProgram, FundProgram.id == FundPayment.program_id)
            .join(Subsystem, Subsystem.id == FundProgram.subsystem_id)
            .join(FundPayee, FundPayee.id == FundPayment.payee_id)
            .where(FundPayment.village_id == village_id, paid.is_not(None), paid <= _ts(now),
                   Subsystem.code.in_(PUBLIC_LINES), FundPayee.kind == "person")
            .order_by(FundProgram.name, paid))
    if year is not None:
        stmt = stmt.where(FundProgram.year == year)
    rows = [{"项目": prog, "资金类别": line, "收款人": masked_name(name),
             "金额（元）": f"{float(amount):,.2f}",
             "发放日期": datetime.fromtimestamp(int(ts), tz=TZ).date().isoformat()}
            for prog, line, name, amount, ts in session.execute(stmt)]
    return pd.DataFrame(rows, columns=["项目", "资金类别", "收款人", "金额（元）", "发放日期"])
