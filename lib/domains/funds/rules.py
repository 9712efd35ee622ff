"""专项资金's rules: execution against plan, "三公" spending, and the anomalies of payments to the
person paid (after Serenata de Amor's Rosie: each rule simple, explained, with the money at stake).

Each rule reads the payments paid by the as-of time (a payment not yet paid then did not exist
as a payment) and reports one finding per subject: the payment that crossed the line (its
external id), or for a program-wide finding the program's code (and village). Reasons name the
payee only masked (陈**), never an identity number or an account. Thresholds are administrators'
(`rule.<CODE>.<name>`), defaults from the sources named in each docstring.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from sqlalchemy import BigInteger, Float, and_, cast, event, func, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased

from lib import db, flags
from lib.config import TZ
from lib.domains.funds.ids import masked_name
from lib.domains.funds.models import (
    FundPayee,
    FundPayment,
    FundProgram,
    FundRegisterEntry,
    FundResident,
)
from lib.lights import RED, YELLOW, light_of
from lib.models import Item, Region, Subsystem

DOMAIN = "FUNDS"
THREEPUB = "THREEPUB"


@dataclass(frozen=True)
class Program:
    id: int
    code: str
    name: str
    line: str  # subsystem code
    unit_id: int
    year: int
    budget: float
    standard: float | None
    cap: float | None
    days: int | None


class Pay(NamedTuple):
    """A payment paid by the as-of time, as a rule reports it (`Paid.pay`)."""
    id: int
    ext: str
    program_id: int
    unit_id: int
    payee_id: int
    account_id: int
    village_id: int | None
    amount: float
    paid_epoch: int
    item_id: int

    @property
    def paid_at(self) -> datetime:
        return datetime.fromtimestamp(self.paid_epoch, tz=UTC)

    @property
    def day(self) -> date:
        """The local (Asia/Shanghai, UTC+8 all year) day it was paid."""
        return _date_of(_day_number(self.paid_epoch))


def _day_number(epoch: int) -> int:
    """Days since 1970-01-01 of the local (UTC+8) day of an epoch second."""
    return (epoch + 8 * 3600) // 86400


@lru_cache(maxsize=8192)
def _date_of(day_number: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day_number)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Paid:
    """The payments paid by the as-of time, in the order they were paid, as columns. Every rule
    of the domain reads these ten thousand payments on each view: a rule groups and compares
    them as numpy arrays and builds a `Pay` only for the few it reports (looping over a tuple
    per payment took 5-30 ms a rule, about 90 ms for the domain in a profile of its page).

    Columns: `id`, `program`, `unit`, `payee`, `account`, `village` (-1 for none), `amount`
    (float64, the NUMERIC(18, 2) read as a float: equal amounts, equal floats), `epoch` (epoch
    seconds paid), and `day` and `month` derived from it (the local day and month numbers since
    1970)."""

    def __init__(self, rows: list[tuple]):
        self._rows = rows
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(Pay._fields)

        def ints(k: int) -> np.ndarray:
            return np.array(cols[k], dtype=np.int64)

        self.id, self.program, self.unit = ints(0), ints(2), ints(3)
        self.payee, self.account = ints(4), ints(5)
        village = np.array(cols[6], dtype=np.float64)  # None reads as NaN
        self.village = np.where(np.isnan(village), -1, village).astype(np.int64)
        self.amount = np.array(cols[7], dtype=np.float64)
        self.epoch = ints(8)
        self.day = (self.epoch + 8 * 3600) // 86400
        self.month = self.day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)

    def __len__(self) -> int:
        return len(self._rows)

    def pay(self, i) -> Pay:
        return Pay._make(self._rows[int(i)])

    def pays(self, rows) -> list[Pay]:
        return [Pay._make(self._rows[int(i)]) for i in rows]

    def of_programs(self, ids) -> dict[int, list[Pay]]:
        """The payments of these programs (few), each program's in the order paid."""
        rows = np.flatnonzero(np.isin(self.program, list(ids)))
        return {pid: self.pays(r) for pid, r in _in_order(rows, self.program).items()}

    def spent(self) -> dict[int, float]:
        """Each program's payments added up (in the order paid, as a running sum would)."""
        totals = np.bincount(self.program, weights=self.amount)
        return {int(i): float(totals[i]) for i in np.unique(self.program)}


def _month_label(month: int) -> tuple[int, int]:
    """(year, month) of a month number since 1970-01."""
    return 1970 + int(month) // 12, int(month) % 12 + 1


def _groups(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group (a number per distinct combination of the columns' values) and each
    group's size. The columns' values are numbered and combined into one integer key (sorting
    one key is twenty times cheaper than numpy's unique of rows)."""
    key, span = np.zeros(len(cols[0]), dtype=np.int64), 1
    for col in cols:
        values, code = np.unique(col, return_inverse=True)
        if span * max(len(values), 1) >= 2 ** 62:  # renumber the key so far (at most a row each)
            _, key = np.unique(key, return_inverse=True)
            span = int(key.max(initial=0)) + 1
        key, span = key * max(len(values), 1) + code.ravel(), span * max(len(values), 1)
    _, group, size = np.unique(key, return_inverse=True, return_counts=True)
    return group.ravel(), size


def _in_order(rows: np.ndarray, keys: np.ndarray) -> dict:
    """The rows (ascending: in the order paid) of each key, keys in the order first seen."""
    out: dict = defaultdict(list)
    for i, k in zip(rows.tolist(), keys[rows].tolist(), strict=True):
        out[k].append(i)
    return out


def _by_program(progs: dict[int, Program], value, default=np.nan) -> np.ndarray:
    """An array indexed by program id: `value(program)` (None reads as `default`)."""
    out = np.full(max(progs, default=0) + 1, default, dtype=np.float64)
    for pid, prog in progs.items():
        v = value(prog)
        out[pid] = default if v is None else v
    return out


# The rules of one evaluation read the same tables: each is read once per session and moment,
# and forgotten at the session's next flush or at the end of its transaction.
_CACHE_KEY = "funds.rules.cache"


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_transaction_end")
def _forget(session, *_args) -> None:
    session.info.pop(_CACHE_KEY, None)


def _cached(session: Session, key, load):
    cache = session.info.setdefault(_CACHE_KEY, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def programs(session: Session) -> dict[int, Program]:
    def load():
        lines = dict(session.execute(select(Subsystem.id, Subsystem.code)).all())
        return {p.id: Program(p.id, p.code, p.name, lines[p.subsystem_id], p.unit_id, p.year,
                              float(p.budget), _f(p.standard_amount), _f(p.monthly_cap),
                              p.pay_within_days)
                for p in session.scalars(select(FundProgram))}
    return _cached(session, "programs", load)


def _f(value) -> float | None:
    return None if value is None else float(value)


def paid(session: Session, as_of: datetime) -> Paid:
    """Payments paid by the as-of time, in the order they were paid."""
    t = FundPayment
    when = type_coerce(t.paid_at, BigInteger)

    def load():
        # Plain tuples from the driver, the amount cast to a float in SQL (both drivers), so
        # each row is the payment's tuple as it comes: every rule of the domain reads these
        # thousands of payments.
        rows = db.raw_cursor(session, select(
            t.id, t.external_id, t.program_id, t.unit_id, t.payee_id, t.account_id,
            t.village_id, cast(t.amount, Float), when, t.item_id)
            .where(when.is_not(None), when <= int(as_of.timestamp()))
            .order_by(when, t.id)).fetchall()
        return Paid(rows)
    return _cached(session, ("paid", int(as_of.timestamp())), load)


def payee_names(session: Session) -> dict[int, str]:
    return _cached(session, "names", lambda: dict(
        session.execute(select(FundPayee.id, FundPayee.name)).all()))


def _yuan(x: float) -> str:
    return f"{x:,.2f}"


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=TZ)


# -- anomalies of payments -----------------------------------------------------------------------

@flags.rule(DOMAIN, "FND-R01", "重复发放", weight=2.0)
def duplicate_payment(ctx: flags.RuleContext):
    """同一收款人在同一项目、同一期间内两次领取同一金额：按月发放的项目（设有每人每月上限的）期间为自然月，
    其余项目为项目年度。首笔之后的每一笔均为一条发现，涉及金额为该笔金额。出处：巴西公共支出监督项目 Serenata de Amor 的 Rosie 规则
    “同一受益人重复领取”；财政部《惠民惠农财政补贴资金“一卡通”管理办法》（重复发放）。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    names = payee_names(ctx.session)
    ctx.population = len(pays)
    # The period of each payment: the local month (programs paid monthly, with a cap) or the
    # program's year (a negative number, apart from the months).
    monthly = ~np.isnan(_by_program(progs, lambda p: p.cap))[pays.program]
    year = _by_program(progs, lambda p: p.year, 0)[pays.program].astype(np.int64)
    period = np.where(monthly, pays.month, -year)
    # Equal amounts are equal in cents: an imported amount is quantized to the cent
    # (`lib.exchange`'s money), and NUMERIC(18, 2) keeps cents on PostgreSQL.
    cents = np.rint(pays.amount * 100).astype(np.int64)
    group, size = _groups(pays.program, pays.payee, period, cents)
    for rows in _in_order(np.flatnonzero(size[group] >= 2), group).values():
        same = pays.pays(rows)
        first = same[0]
        prog = progs[first.program_id]
        label = ("{}年{}月".format(*_month_label(pays.month[rows[0]])) if monthly[rows[0]]
                 else f"{prog.year}年度")
        for k, p in enumerate(same[1:], start=2):
            yield ctx.flag(
                subject=p.ext, light=RED, unit_id=p.unit_id, at=p.paid_at, subsystem=prog.line,
                amount=p.amount,
                reason=(f"收款人{masked_name(names[p.payee_id])}在“{prog.name}”{label}已于 "
                        f"{first.day} 领取 {_yuan(first.amount)} 元，{p.day} 再次发放同额 "
                        f"{_yuan(p.amount)} 元（同期第 {k} 笔）"),
                inputs={"项目": prog.code, "期间": label, "首笔发放": first.ext,
                        "首笔日期": str(first.day), "本笔日期": str(p.day),
                        "金额（元）": _yuan(p.amount), "同期同额笔数": len(same)},
                used=[])


@flags.rule(DOMAIN, "FND-R02", "一个账户多人收款", weight=2.0, payees=3,
            labels={"payees": "同一账户收款人数（达到即触发）"})
def shared_account(ctx: flags.RuleContext):
    """一个账户多人收款：同一银行卡或社保卡账户收取至少 payees 名不同收款人的资金。发现记在使人数达到阈值的那一笔发放上；
    涉及金额为该账户中首位收款人以外各收款人的全部金额。出处：审计署惠农补贴审计常见问题（冒名套取、
    一卡多人）；财政部“一卡通”管理办法（补贴资金发放至补贴对象本人账户）。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    n_needed = int(ctx.t["payees"])
    pair, _ = _groups(pays.account, pays.payee)
    accounts, payees = np.unique(pays.account[np.unique(pair, return_index=True)[1]],
                                 return_counts=True)
    ctx.population = len(accounts)
    # Only the accounts paid to enough payees are read payment by payment.
    wanted = accounts[payees >= max(n_needed, 1)]
    by_account = _in_order(np.flatnonzero(np.isin(pays.account, wanted)), pays.account)
    for account_id, rows in by_account.items():
        group = pays.pays(rows)
        order: list[int] = []
        crossing = None
        for p in group:
            if p.payee_id not in order:
                order.append(p.payee_id)
                if len(order) == n_needed:
                    crossing = p
        if crossing is None:
            continue
        others = [p for p in group if p.payee_id != order[0]]
        at_stake = sum(p.amount for p in others)
        prog = progs[crossing.program_id]
        ref = f"账户#{account_id}"
        yield ctx.flag(
            subject=crossing.ext, light=RED, unit_id=crossing.unit_id, at=crossing.paid_at,
            subsystem=prog.line, amount=at_stake,
            reason=(f"同一收款账户（{ref}）收取 {len(order)} 名不同收款人的 {len(group)} 笔资金，"
                    f"其中非首位收款人的 {len(others)} 笔合计 {_yuan(at_stake)} 元（阈值：{n_needed} 人）"),
            inputs={"账户": ref, "收款人数": len(order), "笔数": len(group),
                    "合计（元）": _yuan(sum(p.amount for p in group)),
                    "涉及发放": ", ".join(p.ext for p in others[:10])
                    + (" …" if len(others) > 10 else "")})


@flags.rule(DOMAIN, "FND-R03", "死亡或注销后发放", weight=3.0, grace_days=0,
            labels={"grace_days": "死亡或注销后宽限天数"})
def paid_after_death(ctx: flags.RuleContext):
    """收款人死亡或企业注销后仍发放：发放日期晚于死亡登记（民政、公安）或企业注销登记（市场监管）
    日期超过 grace_days 天。涉及金额为该笔发放。出处：巴西公共支出监督项目 Serenata de Amor 的 Rosie 规则
    “收款人在付款日前已死亡或注销”；人社部、民政部关于防止死亡人员冒领养老金和低保金的比对要求。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    ctx.population = len(pays)
    # The payees found in a register (a few among thousands), matched in SQL.
    register = {i: (kind, died, name) for i, kind, died, name in ctx.session.execute(
        select(FundPayee.id, FundRegisterEntry.kind, FundRegisterEntry.died_on, FundPayee.name)
        .join(FundRegisterEntry, FundRegisterEntry.id_hash == FundPayee.id_hash))}
    if not register:
        return
    grace = int(ctx.t["grace_days"])
    for p in pays.pays(np.flatnonzero(np.isin(pays.payee, list(register)))):
        kind, died, name = register[p.payee_id]
        late = (p.day - died).days
        if late <= grace:
            continue
        prog = progs[p.program_id]
        what = "死亡" if kind == "person" else "注销"
        yield ctx.flag(
            subject=p.ext, light=RED, unit_id=p.unit_id, at=p.paid_at, subsystem=prog.line,
            amount=p.amount,
            reason=(f"收款人{masked_name(name)}已于 {died} {what}，{late} 天后"
                    f"（{p.day}）仍发放“{prog.name}”{_yuan(p.amount)} 元"),
            inputs={"登记类别": "死亡登记" if kind == "person" else "企业注销登记",
                    f"{what}日期": str(died), "发放日期": str(p.day), "相隔天数": late,
                    "金额（元）": _yuan(p.amount)})


@flags.rule(DOMAIN, "FND-R04", "超标准发放", weight=1.5, tolerance_pct=0.0,
            labels={"tolerance_pct": "允许超出标准的比例（%）"})
def above_standard(ctx: flags.RuleContext):
    """超标准发放：单笔金额高于项目的单笔标准超过 tolerance_pct %。涉及金额为超出标准的部分。
    出处：各类补贴资金管理办法规定的补助标准（超标准发放）；审计署专项资金审计。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    names = payee_names(ctx.session)
    tol = float(ctx.t["tolerance_pct"])
    standard = _by_program(progs, lambda p: p.standard)[pays.program]
    has = ~np.isnan(standard)
    ctx.population = int(has.sum())
    over = has & (pays.amount > np.where(has, standard, 0.0) * (1 + tol / 100) + 1e-9)
    for p in pays.pays(np.flatnonzero(over)):
        prog = progs[p.program_id]
        excess = p.amount - prog.standard
        yield ctx.flag(
            subject=p.ext, light=RED, unit_id=p.unit_id, at=p.paid_at, subsystem=prog.line,
            amount=excess,
            reason=(f"向{masked_name(names[p.payee_id])}发放“{prog.name}”{_yuan(p.amount)} 元，"
                    f"超出标准 {_yuan(prog.standard)} 元 {_yuan(excess)} 元"
                    f"（{excess / prog.standard:.0%}）"),
            inputs={"项目": prog.code, "标准（元）": _yuan(prog.standard),
                    "发放金额（元）": _yuan(p.amount), "超出（元）": _yuan(excess)})


@flags.rule(DOMAIN, "FND-R05", "金额远高于本人历史", weight=1.0, sigmas=3.0, min_history=6,
            min_excess_pct=20.0,
            labels={"sigmas": "超出本人均值的标准差倍数", "min_history": "最少历史笔数",
                    "min_excess_pct": "至少高于本人均值（%）"})
def above_own_history(ctx: flags.RuleContext):
    """金额远高于本人历史：在同一项目中，本笔金额高于该收款人此前各笔的均值加 sigmas 倍标准差，
    此前至少 min_history 笔，且至少高于均值 min_excess_pct %（固定补助的小幅调标不算异常）
    。涉及金额为高出均值的部分。出处：巴西公共支出监督项目 Serenata de Amor 的 Rosie 规则“高于自身均值加 3 倍标准差的异常值”。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    names = payee_names(ctx.session)
    k, need = float(ctx.t["sigmas"]), int(ctx.t["min_history"])
    excess_pct = float(ctx.t["min_excess_pct"])
    # Each payment's history in its payee's program (rows sorted by payee and program, each
    # group in the order paid): how many were paid before it, their sum and sum of squares,
    # added one position in the group at a time, every group at once (the same additions, in
    # the same order, as a running total).
    group, _ = _groups(pays.payee, pays.program)
    order = np.argsort(group, kind="stable")
    amount = pays.amount[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = group[order][1:] != group[order][:-1]
    starts = np.flatnonzero(start)
    count = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    total, squares = np.zeros(len(order)), np.zeros(len(order))
    for step in range(1, int(count.max(initial=0)) + 1):
        at = np.flatnonzero(count == step)
        total[at] = total[at - 1] + amount[at - 1]
        squares[at] = squares[at - 1] + amount[at - 1] * amount[at - 1]
    judged = count >= max(need, 1)
    ctx.population = int(judged.sum())
    n = np.maximum(count, 1).astype(np.float64)
    mean = total / n
    variance = (squares - n * mean * mean) / np.maximum(n - 1, 1)
    sd = np.where(count > 1, np.sqrt(np.maximum(0.0, variance)), 0.0)
    line = mean + k * sd
    high = judged & (amount > line + 1e-9) & (amount > mean * (1 + excess_pct / 100) + 1e-9)
    for j in np.flatnonzero(high):
        p = pays.pay(order[j])
        history, mean_j, sd_j, line_j = int(count[j]), float(mean[j]), float(sd[j]), float(line[j])
        prog = progs[p.program_id]
        yield ctx.flag(
            subject=p.ext, light=YELLOW, unit_id=p.unit_id, at=p.paid_at,
            subsystem=prog.line, amount=p.amount - mean_j,
            reason=(f"向{masked_name(names[p.payee_id])}发放“{prog.name}”{_yuan(p.amount)} 元，"
                    f"远高于其此前 {history} 笔的均值 {_yuan(mean_j)} 元（标准差 {_yuan(sd_j)}，"
                    f"界限 {_yuan(line_j)} 元）"),
            inputs={"历史笔数": history, "历史均值（元）": _yuan(mean_j),
                    "历史标准差（元）": _yuan(sd_j), "界限（元）": _yuan(line_j),
                    "本笔金额（元）": _yuan(p.amount)})


@flags.rule(DOMAIN, "FND-R06", "超过每月上限", weight=1.5)
def monthly_cap(ctx: flags.RuleContext):
    """超过每月上限：同一收款人在同一项目一个自然月内累计领取的金额超过项目的每人每月上限。发现记在使累计超限的那一笔上；
    涉及金额为当月超出上限的部分。出处：巴西公共支出监督项目 Serenata de Amor 的 Rosie 规则“每人每类每月限额”；
    低保、临时救助按月标准发放。"""
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    names = payee_names(ctx.session)
    cap = _by_program(progs, lambda p: p.cap)[pays.program]
    capped = np.flatnonzero(~np.isnan(cap))
    group, _ = _groups(pays.program[capped], pays.payee[capped], pays.month[capped])
    ctx.population = int(group.max(initial=-1)) + 1
    # Each payee's month, added in the order paid (as a running sum would).
    totals = np.bincount(group, weights=pays.amount[capped], minlength=ctx.population)
    over = totals[group] > cap[capped] + 1e-9
    month_of_row = np.full(len(pays), -1, dtype=np.int64)
    month_of_row[capped] = group
    for rows in _in_order(capped[over], month_of_row).values():
        group_pays = pays.pays(rows)
        first = group_pays[0]
        pid, payee = first.program_id, first.payee_id
        y, m = _month_label(pays.month[rows[0]])
        cap_ = progs[pid].cap
        total = sum(p.amount for p in group_pays)
        running = 0.0
        crossing = group_pays[-1]
        for p in group_pays:
            running += p.amount
            if running > cap_ + 1e-9:
                crossing = p
                break
        prog = progs[pid]
        yield ctx.flag(
            subject=crossing.ext, light=RED, unit_id=crossing.unit_id, at=crossing.paid_at,
            subsystem=prog.line, amount=total - cap_,
            reason=(f"收款人{masked_name(names[payee])}{y}年{m}月在“{prog.name}”累计领取 "
                    f"{_yuan(total)} 元（{len(group_pays)} 笔），超过每月上限 {_yuan(cap_)} 元 "
                    f"{_yuan(total - cap_)} 元"),
            inputs={"项目": prog.code, "月份": f"{y}-{m:02d}", "笔数": len(group_pays),
                    "当月合计（元）": _yuan(total), "每月上限（元）": _yuan(cap_),
                    "涉及发放": ", ".join(p.ext for p in group_pays)},
            used=[])


@flags.rule(DOMAIN, "FND-T01", "审批后逾期发放", timing=True, weight=1.0)
def paid_late(ctx: flags.RuleContext):
    """审批后逾期发放：每笔发放的“审批—发放”环节是一个监察事项，时限为项目的审批后发放时限（自然日；
    未设的按资金类别默认时限），由统一的亮灯引擎判定——超期发放或逾期未发放为红牌，未发放且剩余时间不足为黄牌。
    涉及金额为该笔发放。出处：财政部惠民惠农补贴资金发放时限要求；项目资金拨付时限。"""
    progs = programs(ctx.session)
    at = int(ctx.as_of.timestamp())
    received = type_coerce(Item.received_at, BigInteger)
    done = type_coerce(Item.completed_at, BigInteger)
    due = type_coerce(Item.deadline, BigInteger)
    joined = select(Item.id).join(FundPayment, FundPayment.item_id == Item.id) \
        .where(received <= at)
    ctx.population = ctx.session.scalar(select(func.count()).select_from(joined.subquery()))
    # Paid on time by then: green for good; the engine decides on the others.
    rows = ctx.session.execute(
        select(flags.item_timing(), Subsystem.yellow_pct, FundPayment.external_id, FundPayment.amount,
               FundPayment.program_id)
        .join(FundPayment, FundPayment.item_id == Item.id)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .where(received <= at, or_(done.is_(None), done > at, done > due))).all()
    for item, pct, ext, amount, pid in rows:
        lt = light_of(item, ctx.as_of, pct)
        if lt is None or lt.light not in (RED, YELLOW):
            continue
        prog = progs[pid]
        limit = f"{prog.days} 天" if prog.days else "默认时限"
        yield ctx.flag(
            subject=ext, light=lt.light, unit_id=item.unit_id, at=item.deadline, subsystem="",
            region_id=item.region_id, item_id=item.id, amount=float(amount),
            reason=f"“{prog.name}”审批后应在{limit}内发放：{lt.reason}", inputs=lt.inputs)


@flags.rule(DOMAIN, "FND-R07", "收款人集中于村干部家庭", weight=2.0, min_payees=3,
            share_pct=20.0,
            labels={"min_payees": "村干部家庭收款人最少人数", "share_pct": "占本村收款人比例（%）"})
def cadre_households(ctx: flags.RuleContext):
    """收款人集中于村干部家庭：在同一项目和同一个村，属于本村村干部（村两委，来自户籍登记的家庭关系）
    家庭的收款人至少 min_payees 名，且占本村收款人的 share_pct % 以上。
    仅在登记有家庭关系时适用。涉及金额为这些收款人领取的金额。出处：中央纪委“群众身边腐败和作风问题”专项整治（优亲厚友、
    虚报冒领）；民政部低保审核“近亲属备案”制度。"""
    r = FundResident
    if ctx.session.scalar(select(r.id_hash).limit(1)) is None:
        ctx.population = 0
        return

    def is_cadre(t):  # a resident with a cadre's post
        return and_(t.cadre_post.is_not(None), t.cadre_post != "")

    cadre_households: dict[int, set[str]] = defaultdict(set)
    posts: dict[int, set[str]] = defaultdict(set)
    for village, hh, post in ctx.session.execute(select(r.village_id, r.household, r.cadre_post)
                                                 .where(is_cadre(r))):
        cadre_households[village].add(hh)
        posts[village].add(post)
    # The household of each payee who lives in a cadre's household (in any village): the only
    # payees the rule can count, read in SQL instead of every resident and payee.
    cadre = aliased(FundResident)
    household = dict(ctx.session.execute(
        select(FundPayee.id, r.household).join(r, r.id_hash == FundPayee.id_hash)
        .where(r.household.in_(select(cadre.household).where(is_cadre(cadre))))).all())
    progs = programs(ctx.session)
    pays = paid(ctx.session, ctx.as_of)
    need, share_min = int(ctx.t["min_payees"]), float(ctx.t["share_pct"])
    # The groups (program and village) and, in each, its payees and those in a household of
    # one of its village's cadres, counted as columns: the payments are read one by one only
    # in the groups that cross both thresholds.
    rows = np.flatnonzero(pays.village >= 0)
    group, _ = _groups(pays.program[rows], pays.village[rows])
    ctx.population = n_groups = int(group.max(initial=-1)) + 1
    number = {hh: k for k, hh in enumerate(set(household.values()))}
    cadre_keys = [v * len(number) + number[hh] for v, hs in cadre_households.items()
                  for hh in hs if hh in number]
    payee_household = np.full(int(pays.payee.max(initial=0)) + 1, -1, dtype=np.int64)
    for payee, hh in household.items():
        if payee < len(payee_household):
            payee_household[payee] = number[hh]
    hh = payee_household[pays.payee[rows]]
    related = (hh >= 0) & np.isin(pays.village[rows] * len(number) + hh, cadre_keys)
    pair, _ = _groups(group, pays.payee[rows])
    once = np.unique(pair, return_index=True)[1]  # each payee of a group once
    payees = np.bincount(group[once], minlength=n_groups)
    related_payees = np.bincount(group[once][related[once]], minlength=n_groups)
    share = related_payees / np.maximum(payees, 1)
    wanted = np.isin(group, np.flatnonzero((related_payees >= max(need, 1))
                                           & (share * 100 >= share_min - 1e-9)))
    villages = dict(ctx.session.execute(select(Region.id, Region.name)
                                        .where(Region.level == "village")).all())
    codes = dict(ctx.session.execute(select(Region.id, Region.code)
                                     .where(Region.level == "village")).all())
    group_of = np.full(len(pays), -1, dtype=np.int64)
    group_of[rows] = group
    for group_rows in _in_order(rows[wanted], group_of).values():
        group_pays = pays.pays(group_rows)
        pid, village = group_pays[0].program_id, group_pays[0].village_id
        cadres = cadre_households[village]
        payees_here = {p.payee_id for p in group_pays}
        related_here = {i for i in payees_here if household.get(i) in cadres}
        share_here = len(related_here) / len(payees_here)
        if len(related_here) < need or share_here * 100 < share_min - 1e-9:
            continue
        prog = progs[pid]
        theirs = [p for p in group_pays if p.payee_id in related_here]
        at_stake = sum(p.amount for p in theirs)
        yield ctx.flag(
            subject=f"{prog.code}@{codes[village]}", light=YELLOW, unit_id=prog.unit_id,
            at=max(p.paid_at for p in theirs), subsystem=prog.line, amount=at_stake,
            reason=(f"{villages[village]}“{prog.name}”的 {len(payees_here)} 名收款人中有 "
                    f"{len(related_here)} 名（{share_here:.0%}）属于本村 {len(cadres)} 户村干部家庭，"
                    f"共领取 {_yuan(at_stake)} 元"),
            inputs={"村": villages[village], "项目": prog.code, "收款人数": len(payees_here),
                    "村干部家庭收款人数": len(related_here), "占比": f"{share_here:.1%}",
                    "村干部职务": "、".join(sorted(posts[village])),
                    "涉及发放": ", ".join(p.ext for p in theirs[:10])
                    + (" …" if len(theirs) > 10 else "")})


# -- execution against plan and "三公" ---------------------------------------------------------------

def planned_share(day: date) -> float:
    """序时进度: the share of the year elapsed by the end of `day`."""
    start = date(day.year, 1, 1)
    days = (date(day.year + 1, 1, 1) - start).days
    return ((day - start).days + 1) / days


@flags.rule(DOMAIN, "FND-E01", "支出进度滞后序时进度", weight=1.0, yellow_pp=10.0, red_pp=30.0,
            labels={"yellow_pp": "滞后黄牌（百分点，含）", "red_pp": "滞后红牌（超过，百分点）"})
def behind_plan(ctx: flags.RuleContext):
    """支出进度滞后序时进度：本年度项目截至查看日的累计支出占预算的比例，落后于本年已过天数占全年天数的比例（序时进度）
    yellow_pp 至 red_pp 个百分点为黄牌，超过 red_pp 个百分点为红牌（“三公”经费不适用：其要求是少花）
    。涉及金额为按序时进度应支未支的金额。出处：财政部预算执行进度考核（序时进度）；本平台重点项目的滞后档位（10–30 个百分点）
    。"""
    day = ctx.as_of.astimezone(TZ).date()
    progs = [p for p in programs(ctx.session).values()
             if p.year == day.year and p.line != THREEPUB and p.budget > 0]
    ctx.population = len(progs)
    if not progs:
        return
    spent = paid(ctx.session, ctx.as_of).spent()
    plan = planned_share(day)
    yellow, red = float(ctx.t["yellow_pp"]), float(ctx.t["red_pp"])
    for prog in progs:
        done = spent.get(prog.id, 0.0) / prog.budget
        gap = round((plan - done) * 100, 1)
        if gap < yellow:
            continue
        light = RED if gap > red else YELLOW
        behind = prog.budget * plan - spent.get(prog.id, 0.0)
        yield ctx.flag(
            subject=prog.code, light=light, unit_id=prog.unit_id, at=_day_start(day),
            subsystem=prog.line, amount=behind,
            reason=(f"“{prog.name}”截至 {day} 支出 {_yuan(spent.get(prog.id, 0.0))} 元，"
                    f"执行率 {done:.1%}，序时进度 {plan:.1%}，滞后 {gap:.1f} 个百分点"),
            inputs={"预算（元）": _yuan(prog.budget), "已支出（元）": _yuan(spent.get(prog.id, 0.0)),
                    "执行率": f"{done:.1%}", "序时进度": f"{plan:.1%}", "滞后（百分点）": gap})


@flags.rule(DOMAIN, "FND-E02", "“三公”经费超预算", weight=2.0)
def threepub_over_budget(ctx: flags.RuleContext):
    """“三公”经费超预算：单位的“三公”经费（公务接待、公务用车、因公出国境）支出超过当年预算。
    发现对象为该项目；涉及金额为超出预算的部分。出处：中央八项规定及其实施细则；《党政机关厉行节约反对浪费条例》（“三公”经费预算控制）
    。"""
    progs = [p for p in programs(ctx.session).values() if p.line == THREEPUB]
    ctx.population = len(progs)
    if not progs:
        return
    by_prog = paid(ctx.session, ctx.as_of).of_programs(p.id for p in progs)
    for prog in progs:
        running, crossing = 0.0, None
        for p in by_prog.get(prog.id, []):
            running += p.amount
            if crossing is None and running > prog.budget + 1e-9:
                crossing = p
        if crossing is None:
            continue
        over = running - prog.budget
        yield ctx.flag(
            subject=prog.code, light=RED, unit_id=prog.unit_id, at=crossing.paid_at,
            subsystem=THREEPUB, amount=over,
            reason=(f"“{prog.name}”已支出 {_yuan(running)} 元，超出年度预算 {_yuan(prog.budget)} 元 "
                    f"{_yuan(over)} 元（{over / prog.budget:.0%}）" if prog.budget else
                    f"“{prog.name}”无预算却支出 {_yuan(running)} 元"),
            inputs={"预算（元）": _yuan(prog.budget), "已支出（元）": _yuan(running),
                    "超预算（元）": _yuan(over), "超出时的发放": crossing.ext})


@flags.rule(DOMAIN, "FND-E03", "“三公”经费高于上年", weight=2.0)
def threepub_above_last_year(ctx: flags.RuleContext):
    """“三公”经费只减不增：单位当年“三公”经费预算高于上年，或截至查看日的支出高于上年同期。
    涉及金额为增加的部分。出处：国务院关于“三公”经费只减不增的要求（2013 年起）；中央八项规定。"""
    day = ctx.as_of.astimezone(TZ).date()
    progs = [p for p in programs(ctx.session).values() if p.line == THREEPUB and p.year <= day.year]
    ctx.population = len(progs)
    if not progs:
        return
    by_unit_year: dict[tuple, list[Program]] = defaultdict(list)
    for p in progs:
        by_unit_year[(p.unit_id, p.year)].append(p)
    by_prog = paid(ctx.session, ctx.as_of).of_programs(p.id for p in progs)
    for prog in progs:
        last = by_unit_year.get((prog.unit_id, prog.year - 1))
        if not last:
            continue
        last_budget = sum(p.budget for p in last)
        same_day = _same_day(day if prog.year == day.year else date(prog.year, 12, 31), -1)
        this_pays = by_prog.get(prog.id, [])
        spent_now = sum(p.amount for p in this_pays)
        spent_then = sum(p.amount for lp in last for p in by_prog.get(lp.id, []) if p.day <= same_day)
        reasons, amount, at = [], 0.0, _day_start(date(prog.year, 1, 1))
        if prog.budget > last_budget + 1e-9:
            reasons.append(f"年度预算 {_yuan(prog.budget)} 元高于上年 {_yuan(last_budget)} 元")
            amount = prog.budget - last_budget
        if spent_now > spent_then + 1e-9 and this_pays:
            span = f"截至 {day}" if prog.year == day.year else "全年"
            reasons.append(f"{span}已支出 {_yuan(spent_now)} 元，高于上年同期 {_yuan(spent_then)} 元")
            amount = max(amount, spent_now - spent_then)
            at = this_pays[-1].paid_at
        if not reasons:
            continue
        yield ctx.flag(
            subject=prog.code, light=RED, unit_id=prog.unit_id, at=at, subsystem=THREEPUB,
            amount=amount, reason=f"“{prog.name}”违反只减不增：" + "；".join(reasons),
            inputs={"本年预算（元）": _yuan(prog.budget), "上年预算（元）": _yuan(last_budget),
                    "本年已支出（元）": _yuan(spent_now), "上年同期支出（元）": _yuan(spent_then),
                    "上年同期截至": str(same_day)})


def _same_day(day: date, years: int) -> date:
    """The same calendar day `years` years away (29 Feb becomes 28 Feb)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return (day - timedelta(days=1)).replace(year=day.year + years)
