"""AppTest of 互动论坛, 投票评价 and 论坛审核: post, wait, approve, see it; bad inputs; the
rate limit; a vote once with the results after it; the reviewer reads only."""

import pytest
from sqlalchemy import select

from lib import db
from lib.models import AuditLog, ForumPost, PollVote
from tests.apptest_helpers import app, copy_sqlite, errors, login


@pytest.fixture
def url(sqlite_demo_url, tmp_path, monkeypatch):
    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def public(name):
    at = app()
    at.switch_page(f"pages/{name}.py")
    return at.run()


def new_thread(at, title, body, nickname=""):
    form = {t.label: t for t in at.text_input}
    form["标题"].input(title)
    form["昵称（选填）"].input(nickname)
    next(t for t in at.text_area if t.label == "内容").input(body)
    next(b for b in at.button if b.label == "提交审核").click()
    return at.run()


def texts(at):
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_post_waits_for_approval_then_shows_escaped(url):
    at = public("public_forum")
    assert not at.exception and [t.value for t in at.title] == ["互动论坛"]
    shown = texts(at)
    assert "霞山区海滨大道晚上路灯经常不亮" in shown
    assert "建议公布各区县河长制巡河记录" not in shown  # the demo's pending thread
    at = new_thread(at, "<script>alert(1)</script>路灯", "<img src=x onerror=alert(1)> **粗体**",
                    nickname="[链接](http://x)")
    assert not at.exception and not errors(at)
    assert any("审核后公开" in s.value for s in at.success)
    assert "<script>" not in texts(at)  # not public yet
    with db.session_scope(db.get_engine(url)) as s:
        post = s.scalar(select(ForumPost).order_by(ForumPost.id.desc()).limit(1))
        assert (post.title, post.status) == ("<script>alert(1)</script>路灯", "pending")
        post_id = post.id

    mod = login(app(), "inspector")
    mod.switch_page("pages/moderation.py").run()
    assert not mod.exception and not errors(mod)
    mod.selectbox(key="mod_pending_pick").set_value(post_id).run()
    next(b for b in mod.button if b.label == "审核通过，公开").click()
    mod.run()
    assert any("已审核通过" in s.value for s in mod.success)

    at = public("public_forum")
    shown = texts(at)
    assert r"\<script\>alert\(1\)\</script\>路灯" in shown  # escaped Markdown, shown as text
    at.button(key=f"open_{post_id}").click().run()
    assert not at.exception
    body = texts(at)
    assert r"\<img src=x onerror=alert\(1\)\> \*\*粗体\*\*" in body
    assert r"\[链接\]\(http\:\/\/x\)" in body or r"\[链接\]\(http\://x\)" in body
    with db.session_scope(db.get_engine(url)) as s:
        acts = s.scalars(select(AuditLog.action).where(
            AuditLog.entity == "forum_post", AuditLog.entity_id == str(post_id))).all()
        assert acts == ["forum.post", "forum.approve"]


def test_hidden_reply_shows_its_reason(url):
    at = public("public_forum")
    with db.session_scope(db.get_engine(url)) as s:
        hidden = s.scalar(select(ForumPost).where(ForumPost.status == "hidden"))
        thread_id = hidden.thread_id
    at.button(key=f"open_{thread_id}").click().run()
    shown = texts(at)
    assert "该内容已被管理人员隐藏。原因：含他人电话号码等个人信息" in shown
    assert "139xxxx" not in shown


@pytest.mark.parametrize("title,body,expected", [
    ("", "一段足够长的内容", "请填写标题"),
    ("标题", "一段足够长的内容", "标题至少 4 个字"),
    ("正常的标题", "短", "内容至少 5 个字"),
    ("正常的标题", "加我VX日结刷单", "不宜发布的词语"),
])
def test_bad_posts_show_why_and_write_nothing(url, title, body, expected):
    with db.session_scope(db.get_engine(url)) as s:
        before = len(s.scalars(select(ForumPost.id)).all())
    at = new_thread(public("public_forum"), title, body)
    assert any(expected in e for e in errors(at)), errors(at)
    with db.session_scope(db.get_engine(url)) as s:
        assert len(s.scalars(select(ForumPost.id)).all()) == before


def test_rate_limit_refuses_the_sixth_post_in_an_hour(url):
    at = public("public_forum")
    for i in range(5):
        at = new_thread(at, f"第{i + 1}个帖子的标题", "一段足够长的内容")
        assert not errors(at), (i, errors(at))
    at = new_thread(at, "第六个帖子的标题", "一段足够长的内容")
    assert any("每小时最多发帖 5 次" in e for e in errors(at))


def test_reply_and_report(url):
    at = public("public_forum")
    with db.session_scope(db.get_engine(url)) as s:
        thread_id = s.scalar(select(ForumPost.id).where(ForumPost.thread_id.is_(None),
                                                        ForumPost.status == "approved").limit(1))
    at.button(key=f"open_{thread_id}").click().run()
    next(t for t in at.text_area if t.label == "回复内容").input("同意楼上的意见。")
    next(b for b in at.button if b.label == "提交回复").click()
    at.run()
    assert any("回复已提交" in s.value for s in at.success)
    next(b for b in at.button if b.label == "提交举报").click()
    at.run()
    assert any("举报已收到" in s.value for s in at.success)
    next(b for b in at.button if b.label == "提交举报").click()
    at.run()
    assert any("已举报过该帖子" in e for e in errors(at))


def test_vote_once_then_see_results(url):
    from lib import polls

    with db.session_scope(db.get_engine(url)) as s:
        open_poll = next(p for p in polls.listing(s) if polls.is_open(p))
        first = polls.options(s, open_poll.id)[0].id
        before = len(s.scalars(select(PollVote.id)).all())
    at = public("public_polls")
    assert not at.exception and [t.value for t in at.title] == ["投票评价"]
    assert len(at.progress) == 4  # the closed poll's results; the open one hides them
    next(b for b in at.button if b.label == "投票").click()
    at.run()
    assert any("请先选择一项" in e for e in errors(at))
    at.radio[0].set_value(first)
    next(b for b in at.button if b.label == "投票").click()
    at.run()
    assert any("投票成功" in s.value for s in at.success)
    assert len(at.progress) == 8 and not at.radio  # results of both, no second ballot
    with db.session_scope(db.get_engine(url)) as s:
        assert len(s.scalars(select(PollVote.id)).all()) == before + 1


def test_reviewer_reads_the_queue_without_the_words_or_any_button(url):
    at = login(app(), "reviewer")
    at.switch_page("pages/moderation.py").run()
    assert not at.exception and not errors(at)
    assert {m.label: m.value for m in at.metric}["待审核"] == "2"
    assert not [b for b in at.button if "通过" in b.label or b.label in ("隐藏该帖", "添加")]
    assert "建议在河长制公示牌上增加二维码" not in texts(at)


def test_admin_adds_a_sensitive_word_that_then_refuses_a_post(url):
    at = login(app(), "admin")
    at.switch_page("pages/moderation.py").run()
    assert not at.exception and not errors(at)
    next(t for t in at.text_input if t.label == "新增敏感词").input("高息放贷")
    next(b for b in at.button if b.label == "添加").click()
    at.run()
    assert any("敏感词已添加" in s.value for s in at.success)
    assert not [b for b in at.button if b.label == "审核通过，公开"]  # administrators do not moderate
    post = new_thread(public("public_forum"), "有人在小区高 息 放 贷", "请有关部门查处。")
    assert any("“高息放贷”" in e for e in errors(post))
    with db.session_scope(db.get_engine(url)) as s:
        assert "forum.word_add" in s.scalars(select(AuditLog.action)).all()


def test_inspector_opens_a_poll_and_the_public_sees_it(url):
    at = login(app(), "inspector")
    at.switch_page("pages/moderation.py").run()
    next(t for t in at.text_input if t.label == "标题").input("您对12345热线答复质量满意吗？")
    next(b for b in at.button if b.label == "发起投票").click()
    at.run()
    assert not errors(at) and any("投票已发起" in s.value for s in at.success)
    pub = public("public_polls")
    assert "您对12345热线答复质量满意吗？" in texts(pub)
