"""The forum (pre-moderation, sensitive words, rate limit, reports, hidden posts keep their
reason) and the polls (one vote per source, results after voting or closing), on both DBs."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lib import db, forum, polls
from lib.access import CurrentUser, PermissionDenied
from lib.models import AuditLog, ForumPost, PollVote

T0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
INSPECTOR = CurrentUser(None, "zhou_jc", "周纪检", frozenset({"inspector"}))
ADMIN = CurrentUser(None, "admin", "管理员", frozenset({"admin"}))
REVIEWER = CurrentUser(None, "reviewer", "检查", frozenset({"reviewer"}))
LEADER = CurrentUser(None, "leader", "领导", frozenset({"leader"}))


def actions(s, entity_id=None):
    stmt = select(AuditLog.action).order_by(AuditLog.id)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == str(entity_id))
    return list(s.scalars(stmt))


def test_a_post_is_public_only_after_approval_and_every_step_is_audited(empty_engine):
    with db.session_scope(empty_engine) as s:
        t = forum.post_thread(s, topic="life", title="小区路灯长期不亮", body="赤坎区某小区路灯坏了一个月。",
                              nickname="老街坊", source="10.0.0.1", now=T0)
        assert t.status == "pending"
        assert forum.threads(s) == [] and forum.thread(s, t.id) is None
        assert [r.id for r in forum.pending(s, INSPECTOR)] == [t.id]
        forum.moderate(s, INSPECTOR, t.id, "approve", version=1, now=T0 + timedelta(hours=1))
        assert [p.title for p in forum.threads(s)] == ["小区路灯长期不亮"]
        r = forum.post_reply(s, thread_id=t.id, body="我们小区也一样。", source="10.0.0.2",
                             now=T0 + timedelta(hours=2))
        head, replies = forum.thread(s, t.id)
        assert head.replies == 0 and replies == []  # the reply waits
        forum.moderate(s, INSPECTOR, r.id, "approve", now=T0 + timedelta(hours=3))
        head, replies = forum.thread(s, t.id)
        assert [x.body for x in replies] == ["我们小区也一样。"]
        assert forum.threads(s)[0].replies == 1
        # Refused with a reason: never shown, the reason kept.
        bad = forum.post_reply(s, thread_id=t.id, body="楼上说的不对", source="10.0.0.3", now=T0)
        with pytest.raises(forum.ForumError, match="须填写原因"):
            forum.moderate(s, INSPECTOR, bad.id, "reject", "")
        forum.moderate(s, INSPECTOR, bad.id, "reject", "与主题无关")
        assert s.get(ForumPost, bad.id).reason == "与主题无关"
        assert len(forum.thread(s, t.id)[1]) == 1
        # A public post hidden: a placeholder with its reason, the text withheld.
        forum.moderate(s, INSPECTOR, r.id, "hide", "含他人电话号码")
        shown = forum.thread(s, t.id)[1][0]
        assert shown.body is None and shown.nickname is None and shown.hidden_reason == "含他人电话号码"
        with pytest.raises(forum.ForumError, match="不能审核通过"):
            forum.moderate(s, INSPECTOR, r.id, "approve")
        forum.moderate(s, INSPECTOR, r.id, "restore")
        assert forum.thread(s, t.id)[1][0].body == "我们小区也一样。"
        assert actions(s, r.id) == ["forum.reply", "forum.approve", "forum.hide", "forum.restore"]
        assert actions(s, bad.id) == ["forum.reply", "forum.reject"]
        assert forum.counts(s) == {"pending": 0, "approved": 2, "rejected": 1, "hidden": 0,
                                   "reports": 0}


def test_stale_version_and_replies_to_unapproved_threads_are_refused(empty_engine):
    with db.session_scope(empty_engine) as s:
        t = forum.post_thread(s, topic="policy", title="医保报销政策咨询", body="异地就医如何报销？",
                              source="a", now=T0)
        with pytest.raises(forum.ForumError, match="无法回复"):
            forum.post_reply(s, thread_id=t.id, body="同问", source="b", now=T0)
        forum.moderate(s, INSPECTOR, t.id, "approve", version=1)
        with pytest.raises(forum.ForumError, match="其他人处理过"):
            forum.moderate(s, INSPECTOR, t.id, "hide", "重复", version=1)


def test_only_inspectors_moderate_and_only_administrators_keep_the_word_list(empty_engine):
    with db.session_scope(empty_engine) as s:
        t = forum.post_thread(s, topic="life", title="公交线路调整", body="建议增加班次。", source="a",
                              now=T0)
        for user in (REVIEWER, ADMIN, LEADER):
            with pytest.raises(PermissionDenied):
                forum.moderate(s, user, t.id, "approve")
        for user in (REVIEWER, INSPECTOR, LEADER):
            with pytest.raises(PermissionDenied):
                forum.add_word(s, user, "赌博")
        with pytest.raises(PermissionDenied):
            forum.pending(s, LEADER)
        assert [r.id for r in forum.pending(s, REVIEWER)] == [t.id]  # read-only
        with pytest.raises(PermissionDenied):
            polls.create(s, REVIEWER, subject="policy", title="一项政策", description="",
                         options=["好", "不好"], closes_at=T0 + timedelta(days=9), now=T0)


def test_sensitive_words_refuse_a_post_and_flag_a_waiting_one(empty_engine):
    with db.session_scope(empty_engine) as s:
        waiting = forum.post_thread(s, topic="life", title="网上兼职刷单", body="有人在群里拉人刷单。",
                                    source="a", now=T0)
        w = forum.add_word(s, ADMIN, "刷单")
        with pytest.raises(forum.ForumError, match="已在敏感词表"):
            forum.add_word(s, ADMIN, " 刷 单 ")
        with pytest.raises(forum.ForumError, match="请填写敏感词"):
            forum.add_word(s, ADMIN, "  ")
        forum.add_word(s, ADMIN, "VX")
        for title, body in (("招聘刷单员", "日结工资很高"), ("正常标题", "加我ｖｘ：12345"),
                            ("正常标题", "刷 · 单 日结")):
            with pytest.raises(forum.ForumError, match="不宜发布的词语"):
                forum.post_thread(s, topic="life", title=title, body=body, source="b", now=T0)
        assert forum.pending(s, INSPECTOR)[0].words == ("刷单",)  # posted before the word
        forum.remove_word(s, ADMIN, w.id)
        forum.post_thread(s, topic="life", title="招聘刷单员", body="日结工资很高", source="b", now=T0)
        assert [a for a in actions(s) if a.startswith("forum.word")] == [
            "forum.word_add", "forum.word_add", "forum.word_remove"]
        assert waiting.status == "pending"


@pytest.mark.parametrize("title,body,nickname,message", [
    ("", "内容足够长的一段话", "", "请填写标题"),
    ("标题", "内容足够长的一段话", "", "标题至少 4 个字"),
    ("一个正常的标题", "短", "", "内容至少 5 个字"),
    ("标" * 61, "内容足够长的一段话", "", "标题不能超过 60 字"),
    ("一个正常的标题", "长" * 2001, "", "内容不能超过 2000 字（现 2001 字）"),
    ("一个正常的标题", "内容足够长的一段话", "昵" * 21, "昵称不能超过 20 字"),
    ("一个正常的标题", "\x00\x01   \n ", "", "请填写内容"),
])
def test_bad_posts_are_refused_and_write_nothing(empty_engine, title, body, nickname, message):
    with db.session_scope(empty_engine) as s:
        with pytest.raises(forum.ForumError, match=message):
            forum.post_thread(s, topic="life", title=title, body=body, nickname=nickname,
                              source="a", now=T0)
        with pytest.raises(forum.ForumError, match="请选择版块"):
            forum.post_thread(s, topic="x", title="一个正常的标题", body="内容足够长", source="a", now=T0)
        with pytest.raises(forum.ForumError, match="无法识别访问来源"):
            forum.post_thread(s, topic="life", title="一个正常的标题", body="内容足够长", source=None,
                              now=T0)
        assert s.scalars(select(ForumPost)).all() == []


def test_script_tags_are_stored_as_typed(empty_engine):
    """Stored as typed, never cleaned into something else; the pages escape it (AppTest)."""
    with db.session_scope(empty_engine) as s:
        t = forum.post_thread(s, topic="life", title="<script>alert(1)</script>",
                              body="<img src=x onerror=alert(1)> **粗体**", source="a", now=T0)
        assert (t.title, t.body) == ("<script>alert(1)</script>", "<img src=x onerror=alert(1)> **粗体**")


def test_rate_limit_per_source(empty_engine):
    with db.session_scope(empty_engine) as s:
        for i in range(forum.RATE_LIMIT):
            forum.post_thread(s, topic="life", title=f"第{i}个帖子标题", body="内容足够长的一段话",
                              source="10.0.0.9", now=T0 + timedelta(minutes=i))
        with pytest.raises(forum.ForumError, match="每小时最多发帖 5 次"):
            forum.post_thread(s, topic="life", title="第六个帖子标题", body="内容足够长的一段话",
                              source="10.0.0.9", now=T0 + timedelta(minutes=10))
        # Another source is not held back; the same source is again an hour later.
        forum.post_thread(s, topic="life", title="另一个来源的帖", body="内容足够长的一段话",
                          source="10.0.0.10", now=T0 + timedelta(minutes=10))
        forum.post_thread(s, topic="life", title="一小时后再发帖", body="内容足够长的一段话",
                          source="10.0.0.9", now=T0 + timedelta(minutes=61))


def test_reports_once_per_source_then_hidden_or_dismissed(empty_engine):
    with db.session_scope(empty_engine) as s:
        t = forum.post_thread(s, topic="conduct", title="某窗口工作人员态度差", body="办事时被呵斥。",
                              source="a", now=T0)
        with pytest.raises(forum.ForumError, match="不存在或已不公开"):
            forum.report(s, post_id=t.id, category="abuse", source="b", now=T0)
        forum.moderate(s, INSPECTOR, t.id, "approve")
        forum.report(s, post_id=t.id, category="abuse", note="点名道姓", source="b", now=T0)
        with pytest.raises(forum.ForumError, match="已举报过"):
            forum.report(s, post_id=t.id, category="false", source="b", now=T0)
        with pytest.raises(forum.ForumError, match="请选择举报原因"):
            forum.report(s, post_id=t.id, category="nope", source="c", now=T0)
        forum.report(s, post_id=t.id, category="false", source="c", now=T0)
        rows = forum.reported(s, INSPECTOR)
        assert [(r.id, r.reports) for r in rows] == [(t.id, 2)]
        assert rows[0].report_notes == ("人身攻击、辱骂：点名道姓", "不实信息")
        assert forum.dismiss_reports(s, INSPECTOR, t.id, "反映属实，不属攻击") == 2
        assert forum.reported(s, INSPECTOR) == []
        with pytest.raises(forum.ForumError, match="没有待处理的举报"):
            forum.dismiss_reports(s, INSPECTOR, t.id)
        forum.report(s, post_id=t.id, category="privacy", source="d", now=T0)
        forum.moderate(s, INSPECTOR, t.id, "hide", "含个人信息")
        assert forum.reported(s, INSPECTOR) == []
        assert forum.threads(s)[0].hidden_reason == "含个人信息"
        assert "forum.reports_dismiss" in actions(s, t.id)


def test_many_reports_from_one_source_are_limited(empty_engine):
    with db.session_scope(empty_engine) as s:
        ids = []
        for i in range(forum.REPORT_LIMIT + 1):
            p = forum.post_thread(s, topic="life", title=f"帖子标题{i:02d}", body="内容足够长的一段话",
                                  source=f"s{i}", now=T0)
            forum.moderate(s, INSPECTOR, p.id, "approve")
            ids.append(p.id)
        for pid in ids[:-1]:
            forum.report(s, post_id=pid, category="ad", source="z", now=T0)
        with pytest.raises(forum.ForumError, match="举报过于频繁"):
            forum.report(s, post_id=ids[-1], category="ad", source="z", now=T0)


def new_poll(s, **kw):
    args = dict(subject="service", title="您对不动产登记“一窗受理”服务满意吗？", description="请评价。",
                options=["满意", "基本满意", "不满意"], closes_at=T0 + timedelta(days=30), now=T0)
    return polls.create(s, INSPECTOR, **(args | kw))


def test_one_vote_per_source_and_results_only_after_voting(empty_engine):
    with db.session_scope(empty_engine) as s:
        p = new_poll(s)
        opts = polls.options(s, p.id)
        assert polls.results(s, p.id, source="a", now=T0) is None  # not voted yet
        assert [r.votes for r in polls.results(s, p.id, user=REVIEWER, now=T0)] == [0, 0, 0]
        polls.vote(s, p.id, opts[0].id, source="a", now=T0)
        with pytest.raises(polls.PollError, match="限投一票"):
            polls.vote(s, p.id, opts[2].id, source="a", now=T0)
        polls.vote(s, p.id, opts[2].id, source="b", now=T0)
        polls.vote(s, p.id, opts[0].id, source="c", now=T0)
        res = polls.results(s, p.id, source="a", now=T0)
        assert [(r.label, r.votes) for r in res] == [("满意", 2), ("基本满意", 0), ("不满意", 1)]
        assert res[0].share == pytest.approx(2 / 3)
        assert polls.results(s, p.id, source="d", now=T0) is None
        other = new_poll(s, title="另一项投票的标题")
        with pytest.raises(polls.PollError, match="请选择本次投票的一个选项"):
            polls.vote(s, p.id, polls.options(s, other.id)[0].id, source="d", now=T0)
        with pytest.raises(polls.PollError, match="无法识别访问来源"):
            polls.vote(s, p.id, opts[0].id, source=None, now=T0)
        assert actions(s, p.id).count("poll.vote") == 3


def test_the_unique_index_holds_even_without_the_check(empty_engine, monkeypatch):
    """Two requests racing past the friendly check: the database refuses the second."""
    with db.session_scope(empty_engine) as s:
        p = new_poll(s)
        opt = polls.options(s, p.id)[0]
        polls.vote(s, p.id, opt.id, source="a", now=T0)
        monkeypatch.setattr(polls, "has_voted", lambda *a, **k: False)
        with pytest.raises(polls.PollError, match="限投一票"):
            polls.vote(s, p.id, opt.id, source="a", now=T0)
        assert len(s.scalars(select(PollVote)).all()) == 1  # the savepoint kept the first


def test_closing_shows_results_to_everyone_and_stops_votes(empty_engine):
    with db.session_scope(empty_engine) as s:
        p = new_poll(s)
        opt = polls.options(s, p.id)[1]
        polls.vote(s, p.id, opt.id, source="a", now=T0)
        polls.close(s, INSPECTOR, p.id, now=T0 + timedelta(days=1))
        with pytest.raises(polls.PollError, match="已结束"):
            polls.vote(s, p.id, opt.id, source="b", now=T0 + timedelta(days=2))
        with pytest.raises(polls.PollError, match="已结束"):
            polls.close(s, INSPECTOR, p.id, now=T0 + timedelta(days=2))
        assert [r.votes for r in polls.results(s, p.id, source="z")] == [0, 1, 0]
        # A poll past its closing time is closed too.
        late = new_poll(s, title="到期自动结束的投票", closes_at=T0 + timedelta(days=1))
        with pytest.raises(polls.PollError, match="已结束"):
            polls.vote(s, late.id, polls.options(s, late.id)[0].id, source="a",
                       now=T0 + timedelta(days=1, seconds=1))


@pytest.mark.parametrize("kw,message", [
    ({"options": ["只有一个"]}, "选项须为 2–8 个"),
    ({"options": ["同", "同"]}, "选项不能重复"),
    ({"options": ["长" * 41, "短"]}, "不能超过 40 字"),
    ({"title": "短"}, "标题须为 4–100 字"),
    ({"subject": "x"}, "请选择评价对象"),
    ({"closes_at": T0}, "截止时间须晚于现在"),
    ({"closes_at": T0 + timedelta(days=400)}, "不能超过一年"),
])
def test_bad_polls_are_refused(empty_engine, kw, message):
    with db.session_scope(empty_engine) as s, pytest.raises(polls.PollError, match=message):
        new_poll(s, **kw)
