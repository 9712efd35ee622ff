"""The public forum (互动论坛, the source's BBS论坛), moderated before anything is public.

A citizen opens a thread (主题帖) on a board or replies to one, under a nickname, without an
account. Every post waits (pending) until an inspector approves it (先审后发); a rejected post is
never shown, an approved one may later be hidden, and both keep the reason they were given (a
hidden post shows as a placeholder with its reason, so removals are visible). Administrators keep
a list of sensitive words (敏感词) in the database; a post containing one is refused with the word
named. One source (the visitor's address, hashed) may post `RATE_LIMIT` times an hour and report
`REPORT_LIMIT` times an hour; it may report a post once. Every moderation, every change of the
word list and every public post or report is audited. Text is stored as typed (trimmed, control
characters removed) and escaped wherever it is shown (`lib.ui.esc`).

Functions never commit; the caller does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lib import audit, privacy
from lib.access import CurrentUser, require
from lib.clock import now_utc
from lib.models import ForumPost, ForumReport, SensitiveWord
from lib.submissions import clean

TOPICS = {"policy": "政策咨询", "life": "民生热点", "advice": "建言献策", "conduct": "作风监督"}
STATUS = {"pending": "待审核", "approved": "已公开", "rejected": "未通过", "hidden": "已隐藏"}
REPORT_CATEGORIES = {"ad": "广告或垃圾信息", "abuse": "人身攻击、辱骂", "false": "不实信息",
                     "privacy": "泄露他人隐私", "other": "其他"}
ACTIONS = {"approve": "审核通过", "reject": "不予通过", "hide": "隐藏", "restore": "恢复显示"}
MIN_TITLE, MAX_TITLE = 4, 60
MIN_BODY, MAX_BODY = 5, 2000
MIN_REPLY, MAX_REPLY = 2, 1000
MAX_NICKNAME, MAX_REASON, MAX_NOTE, MAX_WORD = 20, 200, 200, 30
RATE_LIMIT = 5  # posts (threads and replies) per source per hour
REPORT_LIMIT = 10  # reports per source per hour
DEFAULT_NICKNAME = "匿名网友"
PUBLIC = "群众"
# Characters a writer may slip between the letters of a word to get past the list.
_FILLER = set(" \t\n\u3000·.,，。、-_*~|/\\'\"“”‘’!！?？…()（）[]【】")


class ForumError(ValueError):
    """A refused post, report or moderation; the message is for the user, in Chinese."""


# -- sensitive words ---------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Full-width to half-width, lower case, filler characters dropped: what the word list is
    matched against, so "赌 博" and "ＶＸ" are caught as "赌博" and "vx"."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in folded if ch not in _FILLER)


def words(session: Session) -> list[SensitiveWord]:
    return list(session.scalars(select(SensitiveWord).order_by(SensitiveWord.word)))


def hits(text: str, word_list: list[str]) -> list[str]:
    """The listed words the text contains (after `normalize`), in list order."""
    flat = normalize(text)
    return [w for w in word_list if normalize(w) and normalize(w) in flat]


def add_word(session: Session, user: CurrentUser, word: str,
             now: datetime | None = None) -> SensitiveWord:
    require(user, "manage_settings")
    word = clean(word)
    if not normalize(word):
        raise ForumError("请填写敏感词")
    if len(word) > MAX_WORD:
        raise ForumError(f"敏感词不能超过 {MAX_WORD} 字")
    existing = {normalize(w.word) for w in words(session)}
    if normalize(word) in existing:
        raise ForumError(f"“{word}”已在敏感词表中")
    row = SensitiveWord(word=word, added_by=user.username, added_at=now or now_utc())
    session.add(row)
    session.flush()
    audit.record(session, actor=user.username, action="forum.word_add", entity="sensitive_word",
                 entity_id=row.id, after={"word": word})
    return row


def remove_word(session: Session, user: CurrentUser, word_id: int) -> None:
    require(user, "manage_settings")
    row = session.get(SensitiveWord, word_id)
    if row is None:
        raise ForumError("该敏感词已被删除")
    audit.record(session, actor=user.username, action="forum.word_remove",
                 entity="sensitive_word", entity_id=row.id, before={"word": row.word})
    session.delete(row)
    session.flush()


# -- posting (the public) ----------------------------------------------------------------------

def _source(source: str | None) -> str:
    hashed = privacy.source_hash(source)
    if not hashed:
        raise ForumError("无法识别访问来源，请刷新页面后重试")
    return hashed


def _text(text: str, lo: int, hi: int, what: str) -> str:
    text = clean(text)
    if len(text) < lo:
        raise ForumError(f"{what}至少 {lo} 个字" if text else f"请填写{what}")
    if len(text) > hi:
        raise ForumError(f"{what}不能超过 {hi} 字（现 {len(text)} 字）")
    return text


def _check_words(session: Session, *texts: str) -> None:
    found = hits("\n".join(texts), [w.word for w in words(session)])
    if found:
        shown = "、".join(f"“{w}”" for w in found)
        raise ForumError(f"内容含有不宜发布的词语 {shown}，请修改后再提交")


def _check_rate(session: Session, source_hash: str, now: datetime) -> None:
    recent = session.scalar(select(func.count()).select_from(ForumPost).where(
        ForumPost.source_hash == source_hash, ForumPost.created_at > now - timedelta(hours=1)))
    if recent >= RATE_LIMIT:
        raise ForumError(f"发帖过于频繁：同一来源每小时最多发帖 {RATE_LIMIT} 次，请稍后再试")


def _nickname(nickname: str) -> str:
    nickname = clean(nickname)
    if len(nickname) > MAX_NICKNAME:
        raise ForumError(f"昵称不能超过 {MAX_NICKNAME} 字")
    return nickname or DEFAULT_NICKNAME


def post_thread(session: Session, *, topic: str, title: str, body: str, nickname: str = "",
                source: str | None, now: datetime | None = None) -> ForumPost:
    """A new thread, pending until an inspector approves it."""
    now = now or now_utc()
    if topic not in TOPICS:
        raise ForumError("请选择版块")
    title = _text(title, MIN_TITLE, MAX_TITLE, "标题")
    body = _text(body, MIN_BODY, MAX_BODY, "内容")
    nickname = _nickname(nickname)
    source_hash = _source(source)
    _check_words(session, title, body, nickname)
    _check_rate(session, source_hash, now)
    post = ForumPost(thread_id=None, topic=topic, title=title, body=body, nickname=nickname,
                     source_hash=source_hash, status="pending", created_at=now, version=1)
    session.add(post)
    session.flush()
    audit.record(session, actor=PUBLIC, action="forum.post", entity="forum_post",
                 entity_id=post.id, after={"topic": topic, "title": title, "status": "pending"})
    return post


def post_reply(session: Session, *, thread_id: int, body: str, nickname: str = "",
               source: str | None, now: datetime | None = None) -> ForumPost:
    """A reply to a public thread, pending until an inspector approves it."""
    now = now or now_utc()
    thread = session.get(ForumPost, thread_id)
    if thread is None or thread.thread_id is not None or thread.status != "approved":
        raise ForumError("该主题帖不存在或已不公开，无法回复")
    body = _text(body, MIN_REPLY, MAX_REPLY, "回复内容")
    nickname = _nickname(nickname)
    source_hash = _source(source)
    _check_words(session, body, nickname)
    _check_rate(session, source_hash, now)
    post = ForumPost(thread_id=thread.id, body=body, nickname=nickname, source_hash=source_hash,
                     status="pending", created_at=now, version=1)
    session.add(post)
    session.flush()
    audit.record(session, actor=PUBLIC, action="forum.reply", entity="forum_post",
                 entity_id=post.id, after={"thread_id": thread.id, "status": "pending"})
    return post


def report(session: Session, *, post_id: int, category: str, note: str = "",
           source: str | None, now: datetime | None = None) -> ForumReport:
    """A citizen reports a public post; inspectors see it in the reports queue."""
    now = now or now_utc()
    post = session.get(ForumPost, post_id)
    if post is None or post.status != "approved":
        raise ForumError("该帖子不存在或已不公开")
    if category not in REPORT_CATEGORIES:
        raise ForumError("请选择举报原因")
    note = clean(note)
    if len(note) > MAX_NOTE:
        raise ForumError(f"举报说明不能超过 {MAX_NOTE} 字")
    source_hash = _source(source)
    if session.scalar(select(ForumReport.id).where(ForumReport.post_id == post_id,
                                                   ForumReport.source_hash == source_hash)):
        raise ForumError("您已举报过该帖子，工作人员会尽快处理")
    recent = session.scalar(select(func.count()).select_from(ForumReport).where(
        ForumReport.source_hash == source_hash, ForumReport.created_at > now - timedelta(hours=1)))
    if recent >= REPORT_LIMIT:
        raise ForumError(f"举报过于频繁：同一来源每小时最多举报 {REPORT_LIMIT} 次，请稍后再试")
    row = ForumReport(post_id=post_id, category=category, note=note or None,
                      source_hash=source_hash, created_at=now, status="open")
    session.add(row)
    session.flush()
    audit.record(session, actor=PUBLIC, action="forum.report", entity="forum_post",
                 entity_id=post_id, after={"category": category})
    return row


# -- reading (the public) ----------------------------------------------------------------------

@dataclass(frozen=True)
class PublicPost:
    id: int
    thread_id: int | None
    topic: str | None
    title: str | None  # None for a reply, and when hidden
    body: str | None  # None when hidden
    nickname: str | None
    created_at: datetime
    hidden_reason: str | None  # set when hidden: the placeholder says why
    replies: int = 0
    last_at: datetime | None = None


def _public(post: ForumPost, replies: int = 0, last_at: datetime | None = None) -> PublicPost:
    hidden = post.status == "hidden"
    return PublicPost(id=post.id, thread_id=post.thread_id, topic=post.topic,
                      title=None if hidden else post.title,
                      body=None if hidden else post.body,
                      nickname=None if hidden else post.nickname, created_at=post.created_at,
                      hidden_reason=post.reason if hidden else None, replies=replies,
                      last_at=last_at or post.created_at)


_SHOWN = ("approved", "hidden")


def threads(session: Session, topic: str | None = None, limit: int = 200) -> list[PublicPost]:
    """Public threads, the most recently active first, with their public reply counts."""
    counts = (select(ForumPost.thread_id, func.count().label("n"),
                     func.max(ForumPost.created_at).label("last"))
              .where(ForumPost.thread_id.is_not(None), ForumPost.status.in_(_SHOWN))
              .group_by(ForumPost.thread_id).subquery())
    last = func.coalesce(counts.c.last, ForumPost.created_at)
    stmt = (select(ForumPost, counts.c.n, counts.c.last)
            .outerjoin(counts, counts.c.thread_id == ForumPost.id)
            .where(ForumPost.thread_id.is_(None), ForumPost.status.in_(_SHOWN))
            .order_by(last.desc(), ForumPost.id.desc()).limit(limit))
    if topic:
        stmt = stmt.where(ForumPost.topic == topic)
    return [_public(p, n or 0, last_at) for p, n, last_at in session.execute(stmt)]


def thread(session: Session, thread_id: int) -> tuple[PublicPost, list[PublicPost]] | None:
    """A public thread and its public replies, oldest first; None if it is not public."""
    post = session.get(ForumPost, thread_id)
    if post is None or post.thread_id is not None or post.status not in _SHOWN:
        return None
    replies = session.scalars(select(ForumPost).where(
        ForumPost.thread_id == thread_id, ForumPost.status.in_(_SHOWN))
        .order_by(ForumPost.created_at, ForumPost.id))
    return _public(post), [_public(r) for r in replies]


# -- moderation (inspectors) -------------------------------------------------------------------

@dataclass(frozen=True)
class QueueRow:
    id: int
    version: int
    kind: str  # 主题帖 / 回复
    topic: str
    title: str  # the thread's title (for a reply, the thread it answers)
    body: str
    nickname: str
    status: str
    reason: str | None
    created_at: datetime
    moderated_at: datetime | None
    moderated_by: str | None
    reports: int  # open reports
    report_notes: tuple[str, ...]
    words: tuple[str, ...]  # listed sensitive words it contains (added since it was posted)


def _rows(session: Session, posts: list[ForumPost]) -> list[QueueRow]:
    if not posts:
        return []
    ids = [p.id for p in posts]
    parents = {p.id: p for p in session.scalars(select(ForumPost).where(
        ForumPost.id.in_({p.thread_id for p in posts if p.thread_id})))}
    reports: dict[int, list[str]] = {}
    for post_id, cat, note in session.execute(
            select(ForumReport.post_id, ForumReport.category, ForumReport.note)
            .where(ForumReport.post_id.in_(ids), ForumReport.status == "open")
            .order_by(ForumReport.id)):
        reports.setdefault(post_id, []).append(
            REPORT_CATEGORIES[cat] + (f"：{note}" if note else ""))
    word_list = [w.word for w in words(session)]
    rows = []
    for p in posts:
        head = parents.get(p.thread_id) if p.thread_id else p
        rows.append(QueueRow(
            id=p.id, version=p.version, kind="回复" if p.thread_id else "主题帖",
            topic=TOPICS.get(head.topic or "", "") if head else "",
            title=(head.title or "") if head else "",
            body=p.body, nickname=p.nickname, status=p.status, reason=p.reason,
            created_at=p.created_at, moderated_at=p.moderated_at, moderated_by=p.moderated_by,
            reports=len(reports.get(p.id, [])), report_notes=tuple(reports.get(p.id, [])),
            words=tuple(hits(f"{p.title or ''}\n{p.body}\n{p.nickname}", word_list))))
    return rows


def pending(session: Session, user: CurrentUser) -> list[QueueRow]:
    """Posts waiting for moderation, oldest first (threads and replies)."""
    require(user, "view_forum")
    return _rows(session, list(session.scalars(
        select(ForumPost).where(ForumPost.status == "pending")
        .order_by(ForumPost.created_at, ForumPost.id).limit(500))))


def reported(session: Session, user: CurrentUser) -> list[QueueRow]:
    """Public posts with open reports, the most reported first."""
    require(user, "view_forum")
    ids = [i for i, _ in session.execute(
        select(ForumReport.post_id, func.count()).where(ForumReport.status == "open")
        .group_by(ForumReport.post_id).order_by(func.count().desc(), ForumReport.post_id))]
    posts = {p.id: p for p in session.scalars(select(ForumPost).where(ForumPost.id.in_(ids)))}
    return _rows(session, [posts[i] for i in ids if i in posts])


def decided(session: Session, user: CurrentUser, limit: int = 500) -> list[QueueRow]:
    """Posts already moderated, the latest decision first (approved, rejected, hidden)."""
    require(user, "view_forum")
    return _rows(session, list(session.scalars(
        select(ForumPost).where(ForumPost.status != "pending")
        .order_by(ForumPost.moderated_at.desc(), ForumPost.id.desc()).limit(limit))))


_ALLOWED = {"approve": ("pending",), "reject": ("pending",), "hide": ("approved",),
            "restore": ("hidden",)}
_TO = {"approve": "approved", "reject": "rejected", "hide": "hidden", "restore": "approved"}


def moderate(session: Session, user: CurrentUser, post_id: int, action: str, reason: str = "",
             *, version: int | None = None, now: datetime | None = None) -> ForumPost:
    """approve / reject (reason required) a pending post; hide (reason required) a public one;
    restore a hidden one. Open reports of the post are closed by a hide or a restore."""
    require(user, "moderate_forum")
    if action not in ACTIONS:
        raise ForumError("未知的审核操作")
    now = now or now_utc()
    post = session.get(ForumPost, post_id)
    if post is None:
        raise ForumError("帖子不存在")
    if version is not None and post.version != version:
        raise ForumError("该帖子刚被其他人处理过，请刷新后再试")
    if post.status not in _ALLOWED[action]:
        raise ForumError(f"该帖子当前为“{STATUS[post.status]}”，不能{ACTIONS[action]}")
    reason = clean(reason)
    if action in ("reject", "hide") and len(reason) < 2:
        raise ForumError(f"{ACTIONS[action]}须填写原因（至少 2 个字），原因将随帖子保留")
    if len(reason) > MAX_REASON:
        raise ForumError(f"原因不能超过 {MAX_REASON} 字")
    if action == "approve" and post.thread_id is not None:
        head = session.get(ForumPost, post.thread_id)
        if head is None or head.status != "approved":
            raise ForumError("所属主题帖未公开，不能通过其回复")
    before = {"status": post.status, "reason": post.reason}
    post.status = _TO[action]
    if action in ("reject", "hide"):
        post.reason = reason
    elif action == "restore":
        post.reason = None  # the hiding and its reason stay in the audit log
    post.moderated_at, post.moderated_by = now, user.username
    post.version += 1
    closed = 0
    if action in ("hide", "restore"):
        closed = _close_reports(session, user, post.id, now)
    session.flush()
    audit.record(session, actor=user.username, action=f"forum.{action}", entity="forum_post",
                 entity_id=post.id, before=before,
                 after={"status": post.status, "reason": reason or None, "reports_closed": closed})
    return post


def _close_reports(session: Session, user: CurrentUser, post_id: int, now: datetime) -> int:
    return session.execute(
        update(ForumReport).where(ForumReport.post_id == post_id, ForumReport.status == "open")
        .values(status="handled", handled_by=user.username, handled_at=now)).rowcount or 0


def dismiss_reports(session: Session, user: CurrentUser, post_id: int, note: str = "",
                    now: datetime | None = None) -> int:
    """The reports of a post are unfounded: close them, the post stays public."""
    require(user, "moderate_forum")
    note = clean(note)
    if len(note) > MAX_REASON:
        raise ForumError(f"说明不能超过 {MAX_REASON} 字")
    closed = _close_reports(session, user, post_id, now or now_utc())
    if not closed:
        raise ForumError("该帖子没有待处理的举报")
    audit.record(session, actor=user.username, action="forum.reports_dismiss",
                 entity="forum_post", entity_id=post_id,
                 after={"reports_closed": closed, "note": note or None})
    return closed


def counts(session: Session) -> dict[str, int]:
    """Posts by status, and open reports: the moderation page's figures."""
    by = dict(session.execute(select(ForumPost.status, func.count()).group_by(ForumPost.status)).all())
    by["reports"] = session.scalar(select(func.count(func.distinct(ForumReport.post_id)))
                                   .where(ForumReport.status == "open")) or 0
    return {k: int(by.get(k, 0)) for k in (*STATUS, "reports")}

