"""The demo's past, lived (演示数据的经历): the supervision sweep run through the demo's history.

Without it, a fresh demo's notices were all issued in the same minute (the app's first sweep)
and none was ever acknowledged, escalated or closed. Here the real sweep (`lib.notices.sweep`)
runs as of 00:01 of every day on which an item went red (its deadline, 24:00, had just passed)
or a notice's reply date had passed, from the platform's go-live a year before the anchor (the
present) up to the anchor. Between
sweeps the units and the inspectors answer through the same library functions as the pages, each
at its own moment: most units acknowledge within the reply time, some only after the notice has
gone up to their head (level 2) or to the inspectors (level 3), a few never; a unit reports its
rectification once the item is done, the inspectors close the notice or return it for rework.
Some units appeal a red card; the inspectors cancel some cards and uphold the rest. Nothing
happens after the anchor, so the latest notices are still waiting, as in a live system.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, time, timedelta

from sqlalchemy import BigInteger, false, or_, select, type_coerce
from sqlalchemy.orm import Session

from lib import appeals, notices
from lib.access import CurrentUser
from lib.config import TZ
from lib.lights import VERDICT_RED
from lib.models import Domain, Item, Notice, NoticeEvent, Subsystem, Unit

# The platform's supervision notices have run for a year: the first sweep, at go-live, issued
# notices for every item then overdue; key tasks late before that have no notice.
LIVE_DAYS = 365
STAFF_NAME = "演示经办人"
INSPECTOR = CurrentUser(id=None, username="演示纪检监察员", display_name="演示纪检监察员",
                        roles=frozenset({"inspector"}))

# When a unit acknowledges: at level 1 (within the reply time), after going up to level 2 or 3,
# or not at all (only for items still open at the anchor).
ACK_AT_LEVEL = ((1, 0.72), (2, 0.16), (3, 0.08), (None, 0.04))
RETURN_SHARE = 0.15  # rectification reports the inspectors send back once
# Appeals: how often a unit appeals a card, and how often the inspectors cancel it.
APPEAL_SHARE, APPEAL_SHARE_RECENT, CANCEL_SHARE = 0.015, 0.12, 0.35
APPEALABLE_DOMAINS = ("POWER", "MARKET", "FUNDS", "DISCLOSURE")

REPORTS = [
    "逾期原因：申请材料需补正，内部流转环节衔接不畅。整改措施：已办结该事项，明确各环节时限，建立到期前两日提醒台账。",
    "逾期原因：经办人员调整，交接不到位。整改措施：事项已办结，已对相关人员进行提醒谈话，落实AB岗制度。",
    "逾期原因：需征求相关部门意见，会签时间较长。整改措施：事项已办结，已与协办部门建立并联办理机制。",
    "逾期原因：现场核查受天气影响延后。整改措施：事项已办结，今后对需现场核查的事项提前安排。",
]
RETURN_NOTES = ["整改报告未写明责任人处理情况，请补充", "整改措施过于笼统，请写明具体制度和时限",
                "请附办结文书编号并说明逾期天数"]
APPEAL_REASONS = [
    "申请人补正材料期间时限应当中止，系统未扣除补正时间，实际未超过法定时限。",
    "因台风停工，经市政府批准顺延办理，系统工作日历未及时调整。",
    "该事项已于期限内线下办结，办结信息录入系统时延误，附办结文书。",
    "需依法进行专家评审，评审时间不计入办理时限，已书面告知申请人。",
]
DECISIONS = {True: "经核查，申诉理由成立，撤销红牌", False: "经核查，申诉理由不成立，维持红牌"}


def _hours(rng: random.Random, lo: float, hi: float) -> timedelta:
    return timedelta(hours=rng.uniform(lo, hi))


def _sweep_time(deadline: datetime) -> datetime:
    """00:01 of the first day after the deadline (a 24:00 deadline: one minute after it)."""
    local = deadline.astimezone(TZ)
    day = local.date() if local.time() == time(0) else local.date() + timedelta(days=1)
    return datetime.combine(day, time(0, 1), tzinfo=TZ)


class _History:
    def __init__(self, session: Session, rng: random.Random, anchor: datetime):
        self.s, self.rng, self.anchor = session, rng, anchor
        self.queue: list[tuple[datetime, int, str, tuple]] = []
        self.seq = 0
        self.swept: set[datetime] = set()
        self.staff: dict[int, CurrentUser] = {}
        self.ack_level: dict[int, int | None] = {}  # notice → the level its unit answers at
        self.returned: set[int] = set()  # notices whose report came back once
        self.appealable = set(session.scalars(
            select(Subsystem.id).join(Domain, Domain.id == Subsystem.domain_id)
            .where(Domain.code.in_(APPEALABLE_DOMAINS))))
        self.counts = {"sweeps": 0, "appeals": 0}
        self.last_sweep: datetime | None = None  # every crossing before it has its notice

    def at(self, when: datetime, kind: str, *args) -> None:
        if when <= self.anchor:
            self.seq += 1
            heapq.heappush(self.queue, (when, self.seq, kind, args))

    def sweep_at(self, when: datetime) -> None:
        if when not in self.swept and when <= self.anchor:
            self.swept.add(when)
            self.at(when, "sweep")

    def unit_user(self, unit_id: int) -> CurrentUser:
        if unit_id not in self.staff:
            unit = self.s.get(Unit, unit_id)
            self.staff[unit_id] = CurrentUser(id=None, username=STAFF_NAME, display_name=STAFF_NAME,
                                              roles=frozenset({"staff"}), unit_id=unit.id,
                                              unit_name=unit.name)
        return self.staff[unit_id]

    # -- the story ------------------------------------------------------------------------------
    def run(self) -> None:
        due = type_coerce(Item.deadline, BigInteger)
        done = type_coerce(Item.completed_at, BigInteger)
        go_live = _sweep_time(self.anchor - timedelta(days=LIVE_DAYS))
        crossings = self.s.scalars(
            select(Item.deadline).distinct()
            .where(due < int(self.anchor.timestamp()), due >= int(go_live.timestamp()),
                   or_(done.is_(None), done > due, Item.verdict == VERDICT_RED),
                   Item.card_cancelled == false())).all()
        self.sweep_at(go_live)
        for deadline in crossings:
            self.sweep_at(_sweep_time(deadline))
        self.sweep_at(self.anchor)  # today's sweep, up to the present
        while self.queue:
            when, _, kind, args = heapq.heappop(self.queue)
            getattr(self, kind)(when, *args)

    def sweep(self, now: datetime) -> None:
        # Nothing older than the last sweep is written in between (the history only answers,
        # appeals and cancels), so each sweep reads the crossings since the last one.
        notices.sweep(self.s, now, since=self.last_sweep)
        self.last_sweep = now
        self.counts["sweeps"] += 1
        for notice in self.s.scalars(select(Notice).where(Notice.issued_at == now)):
            self.issued(now, notice)
        escalated = self.s.execute(select(NoticeEvent.notice_id, NoticeEvent.level).where(
            NoticeEvent.at == now, NoticeEvent.action == "escalated")).all()
        for notice_id, level in escalated:
            if self.ack_level.get(notice_id) == level:
                self.at(now + _hours(self.rng, 2, 20), "acknowledge", notice_id)
        # The next look at the notices still waiting: the day after their reply date.
        for reply_due in self.s.scalars(select(Notice.reply_due).distinct().where(
                Notice.status == "issued", Notice.level < 3)):
            self.sweep_at(_sweep_time(reply_due))

    def issued(self, now: datetime, notice: Notice) -> None:
        item = self.s.get(Item, notice.item_id)
        finished = item.completed_at is not None and item.completed_at <= self.anchor
        levels, weights = zip(*ACK_AT_LEVEL, strict=True)
        level = self.rng.choices(levels, weights)[0]
        if level is None and finished:
            level = 3  # a unit that finished the work answers in the end
        self.ack_level[notice.id] = level
        if level == 1:
            self.at(now + _hours(self.rng, 1, 20), "acknowledge", notice.id)
        if item.subsystem_id in self.appealable:
            recent = self.anchor - now < timedelta(days=14)
            if self.rng.random() < (APPEAL_SHARE_RECENT if recent else APPEAL_SHARE):
                self.at(now + _hours(self.rng, 6, 96), "appeal", item.id)

    def acknowledge(self, now: datetime, notice_id: int) -> None:
        notice = self.s.get(Notice, notice_id)
        if notice.status != "issued":
            return
        notices.acknowledge(self.s, self.unit_user(notice.unit_id), notice_id, now=now)
        item = self.s.get(Item, notice.item_id)
        if item.completed_at is not None:  # the report follows the work, not the notice
            self.at(max(now, item.completed_at) + _hours(self.rng, 2, 72), "report", notice_id)

    def report(self, now: datetime, notice_id: int) -> None:
        notice = self.s.get(Notice, notice_id)
        if notice.status not in ("acknowledged", "returned"):
            return
        notices.report(self.s, self.unit_user(notice.unit_id), notice_id,
                       self.rng.choice(REPORTS), now=now)
        self.at(now + _hours(self.rng, 20, 140), "verify", notice_id)

    def verify(self, now: datetime, notice_id: int) -> None:
        notice = self.s.get(Notice, notice_id)
        if notice.status != "rectified":
            return
        # A report comes back once at most; the second one passes.
        passed = notice_id in self.returned or self.rng.random() >= RETURN_SHARE
        notices.verify(self.s, INSPECTOR, notice_id, passed,
                       "" if passed else self.rng.choice(RETURN_NOTES), now=now)
        if not passed:
            self.returned.add(notice_id)
            self.at(now + _hours(self.rng, 20, 96), "report", notice_id)

    def appeal(self, now: datetime, item_id: int) -> None:
        item = self.s.get(Item, item_id)
        try:
            filed = appeals.file(self.s, self.unit_user(item.unit_id), item_id,
                                 self.rng.choice(APPEAL_REASONS), "附件：相关文书及证明材料（纸质件已报送）",
                                 now=now)
        except appeals.AppealError:
            return  # no longer red, or already under appeal
        self.counts["appeals"] += 1
        self.at(now + _hours(self.rng, 30, 240), "decide", filed.id)

    def decide(self, now: datetime, appeal_id: int) -> None:
        cancel = self.rng.random() < CANCEL_SHARE
        appeals.decide(self.s, INSPECTOR, appeal_id, cancel, DECISIONS[cancel], now=now)


def live(session: Session, rng: random.Random, anchor: datetime) -> dict:
    """Run the demo's supervision history up to `anchor`; returns how many sweeps and appeals."""
    history = _History(session, rng, anchor)
    history.run()
    session.flush()
    return history.counts
