"""Polls on policies and services (投票评价), as the source's public site offers them.

An administrator or an inspector opens a poll with 2–8 options and a closing time, and may close
it early. Anyone may vote once per poll from one source (the visitor's address, hashed): the
unique index on (poll, source) holds even when two requests race, and the second is told it has
already voted. The counts are shown to a visitor only after they have voted, or once the poll is
closed, so early figures do not steer the vote; staff who may read the forum queue see them at
any time. Every poll, closing and vote is audited (a vote without its source). Functions never
commit; the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lib import audit, privacy
from lib.access import CurrentUser, can, require
from lib.clock import now_utc
from lib.models import Poll, PollOption, PollVote
from lib.submissions import clean

SUBJECTS = {"policy": "政策", "service": "服务"}
MIN_OPTIONS, MAX_OPTIONS = 2, 8
MIN_TITLE, MAX_TITLE, MAX_DESCRIPTION, MAX_OPTION = 4, 100, 1000, 40
MAX_DAYS = 366
PUBLIC = "群众"


class PollError(ValueError):
    """A refused poll or vote; the message is for the user, in Chinese."""


def is_open(poll: Poll, now: datetime | None = None) -> bool:
    now = now or now_utc()
    return poll.closed_at is None and poll.closes_at > now


def create(session: Session, user: CurrentUser, *, subject: str, title: str, description: str,
           options: list[str], closes_at: datetime, now: datetime | None = None) -> Poll:
    require(user, "manage_polls")
    now = now or now_utc()
    if subject not in SUBJECTS:
        raise PollError("请选择评价对象（政策或服务）")
    title, description = clean(title), clean(description)
    if not MIN_TITLE <= len(title) <= MAX_TITLE:
        raise PollError(f"标题须为 {MIN_TITLE}–{MAX_TITLE} 字")
    if len(description) > MAX_DESCRIPTION:
        raise PollError(f"说明不能超过 {MAX_DESCRIPTION} 字")
    labels = [clean(o) for o in options if clean(o)]
    if not MIN_OPTIONS <= len(labels) <= MAX_OPTIONS:
        raise PollError(f"选项须为 {MIN_OPTIONS}–{MAX_OPTIONS} 个（每行一个）")
    if len(set(labels)) != len(labels):
        raise PollError("选项不能重复")
    if any(len(o) > MAX_OPTION for o in labels):
        raise PollError(f"每个选项不能超过 {MAX_OPTION} 字")
    if closes_at <= now:
        raise PollError("截止时间须晚于现在")
    if closes_at > now + timedelta(days=MAX_DAYS):
        raise PollError("投票期不能超过一年")
    poll = Poll(subject=subject, title=title, description=description, created_by=user.username,
                created_at=now, closes_at=closes_at)
    session.add(poll)
    session.flush()
    for i, label in enumerate(labels):
        session.add(PollOption(poll_id=poll.id, position=i, label=label))
    session.flush()
    audit.record(session, actor=user.username, action="poll.create", entity="poll",
                 entity_id=poll.id, after={"title": title, "subject": subject,
                                           "options": labels, "closes_at": closes_at})
    return poll


def close(session: Session, user: CurrentUser, poll_id: int, now: datetime | None = None) -> Poll:
    require(user, "manage_polls")
    now = now or now_utc()
    poll = session.get(Poll, poll_id)
    if poll is None:
        raise PollError("投票不存在")
    if not is_open(poll, now):
        raise PollError("该投票已结束")
    poll.closed_at, poll.closed_by = now, user.username
    session.flush()
    audit.record(session, actor=user.username, action="poll.close", entity="poll",
                 entity_id=poll.id, before={"closes_at": poll.closes_at}, after={"closed_at": now})
    return poll


def listing(session: Session) -> list[Poll]:
    """Every poll, open ones first (the soonest to close first), then the latest closed."""
    polls = list(session.scalars(select(Poll)))
    now = now_utc()
    opened = sorted((p for p in polls if is_open(p, now)), key=lambda p: p.closes_at)
    closed = sorted((p for p in polls if not is_open(p, now)),
                    key=lambda p: p.closed_at or p.closes_at, reverse=True)
    return opened + closed


def options(session: Session, poll_id: int) -> list[PollOption]:
    return list(session.scalars(select(PollOption).where(PollOption.poll_id == poll_id)
                                .order_by(PollOption.position)))


def has_voted(session: Session, poll_id: int, source: str | None) -> bool:
    hashed = privacy.source_hash(source)
    return bool(hashed) and session.scalar(select(PollVote.id).where(
        PollVote.poll_id == poll_id, PollVote.source_hash == hashed)) is not None


ALREADY = "您已参与过本次投票：每个来源每项投票限投一票"


def vote(session: Session, poll_id: int, option_id: int, *, source: str | None,
         now: datetime | None = None) -> PollVote:
    now = now or now_utc()
    poll = session.get(Poll, poll_id)
    if poll is None:
        raise PollError("投票不存在")
    if not is_open(poll, now):
        raise PollError("该投票已结束，不能再投票")
    option = session.get(PollOption, option_id)
    if option is None or option.poll_id != poll_id:
        raise PollError("请选择本次投票的一个选项")
    hashed = privacy.source_hash(source)
    if not hashed:
        raise PollError("无法识别访问来源，请刷新页面后重试")
    if has_voted(session, poll_id, source):
        raise PollError(ALREADY)
    row = PollVote(poll_id=poll_id, option_id=option_id, source_hash=hashed, created_at=now)
    try:
        with session.begin_nested():  # a concurrent vote from the same source loses here
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise PollError(ALREADY) from exc
    audit.record(session, actor=PUBLIC, action="poll.vote", entity="poll", entity_id=poll_id,
                 after={"option": option.label})
    return row


@dataclass(frozen=True)
class Result:
    label: str
    votes: int
    share: float  # 0–1 of all votes


def results(session: Session, poll_id: int, *, source: str | None = None,
            user: CurrentUser | None = None, now: datetime | None = None) -> list[Result] | None:
    """The counts per option, or None while this visitor may not see them yet (the poll is
    open and they have not voted). Staff who may read the forum queue always see them."""
    poll = session.get(Poll, poll_id)
    if poll is None:
        return None
    staff = user is not None and can(user, "view_forum")
    if not staff and is_open(poll, now) and not has_voted(session, poll_id, source):
        return None
    counts = dict(session.execute(select(PollVote.option_id, func.count())
                                  .where(PollVote.poll_id == poll_id)
                                  .group_by(PollVote.option_id)).all())
    total = sum(counts.values())
    return [Result(o.label, int(counts.get(o.id, 0)), counts.get(o.id, 0) / total if total else 0.0)
            for o in options(session, poll_id)]


def total_votes(session: Session, poll_id: int) -> int:
    return session.scalar(select(func.count()).select_from(PollVote)
                          .where(PollVote.poll_id == poll_id)) or 0
