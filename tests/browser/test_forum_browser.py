"""互动论坛 in a real browser: a citizen posts (script tags and all), the post waits, an
inspector approves it on 论坛审核, and it shows on the forum as text; 投票评价 votes once."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.browser

TITLE = "<script>alert('x')</script>建议增设公交站"


def sign_in_at(pg, url: str, username: str) -> None:
    """Open a staff page by its link and sign in on the form it shows (the page itself, not the
    cockpit, renders after sign-in); generous waits, the test machine is shared."""
    pg.goto(url)
    pg.get_by_label("用户名", exact=True).first.wait_for(timeout=120_000)
    pg.get_by_label("用户名", exact=True).first.fill(username)
    pg.get_by_label("密码", exact=True).first.fill(PASSWORDS[username])
    pg.get_by_role("button", name="登录").click()
    pg.get_by_role("button", name="退出登录").wait_for(timeout=180_000)


def test_post_then_moderate_then_read(page, browser, app_url):
    page.goto(app_url + "/public_forum")
    page.get_by_role("heading", name="互动论坛").wait_for(timeout=90_000)
    page.get_by_role("button", name="提交审核").wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_role("button", name="查看").first.wait_for(timeout=60_000)
    assert_no_errors(page)
    screenshot(page, "public-forum")
    page.get_by_label("标题").fill(TITLE)
    page.get_by_label("内容").fill("<b>湖光岩</b>景区门口没有公交站，游客步行很远。")
    page.get_by_role("button", name="提交审核").click()
    page.get_by_text("帖子已提交，经工作人员审核后公开").wait_for(timeout=60_000)
    assert page.get_by_text(TITLE).count() == 0  # not public before approval

    citizen = page  # the inspector works in a browser of their own
    context = browser.new_context(viewport={"width": 1500, "height": 2400}, locale="zh-CN")
    page = context.new_page()
    sign_in_at(page, app_url + "/moderation", "inspector")
    page.get_by_role("button", name="审核通过，公开").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    screenshot(page, "inspector-论坛审核")
    # Oldest first: the demo's two waiting posts, then ours.
    # Each click is waited for by the queue's count in its tab's label: the success message of
    # the one before may still be on the page while the next run has not started.
    page.get_by_role("tab", name="待审核（3）").wait_for()
    for left in (2, 1, 0):
        page.get_by_role("button", name="审核通过，公开").first.click()
        page.get_by_role("tab", name=f"待审核（{left}）").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
    page.get_by_text("没有待审核的帖子").wait_for(timeout=60_000)
    page.get_by_text("已审核通过，已在论坛公开").wait_for()
    context.close()

    citizen.reload()
    citizen.get_by_role("heading", name="互动论坛").wait_for(timeout=90_000)
    citizen.get_by_text(TITLE).wait_for(timeout=60_000)  # shown as typed, never run
    wait_idle(citizen)
    assert_no_errors(citizen)


def test_vote_then_results(page, app_url):
    page.goto(app_url + "/public_polls")
    page.get_by_role("heading", name="投票评价").wait_for(timeout=90_000)
    wait_idle(page)
    page.get_by_text("支持", exact=True).click()
    page.get_by_role("button", name="投票").click()
    page.get_by_text("投票成功").wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_text("您已投票").wait_for()
    assert page.get_by_role("button", name="投票").count() == 0
    assert_no_errors(page)
    screenshot(page, "public-polls")
