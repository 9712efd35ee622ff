"""Signing in and out in a real browser, and every page opened by the roles that may."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser

PAGES = {
    "admin": [("领导驾驶舱", "最新红牌"), ("监察事项", "事项详情"), ("重点工作与项目", "重点工作督办完成"),
              ("要素市场", "项目风险队列"), ("网络投诉", "各单位办理情况"), ("行政效能", "红榜 · 前五名"),
              ("审计日志", "校验审计链"), ("用户与单位", "用户列表"), ("系统设置", "权限矩阵"),
              ("个人设置", "修改密码")],
    "staff": [("权力运行", "审批环节漏斗"), ("监察事项", "事项详情"), ("本单位工单", "群众诉求须先签收"),
              ("督办通知", "红牌申诉"), ("行政效能", "本单位得分")],
    "inspector": [("要素市场", "待核查的发现"), ("专项资金", "预算执行与序时进度"),
                  ("诉求分派与审核", "待审核答复"), ("审计日志", "校验审计链"),
                  ("行政效能", "区县平均得分"), ("论坛审核", "举报处理")],
    "reviewer": [("专项资金", "规则发现与涉及金额"), ("监察事项", "事项详情"), ("网络投诉", "满意度走势"),
                 ("行政效能", "红榜 · 前五名"), ("论坛审核", "举报处理")],
}


def test_login_survives_a_reload_and_logout_survives_one_too(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    page.get_by_text("最新红牌").first.wait_for(timeout=90_000)
    assert "esup_auth" in [c["name"] for c in page.context.cookies()]
    page.reload()
    page.get_by_text("最新红牌").first.wait_for(timeout=60_000)  # still signed in
    assert page.get_by_label("密码", exact=True).count() == 0
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名", exact=True).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the cookie is deleted by a component in that run
    page.reload()
    page.get_by_label("用户名", exact=True).first.wait_for(timeout=60_000)  # still signed out
    page.wait_for_timeout(2000)
    assert page.get_by_text("最新红牌").count() == 0
    assert "esup_auth" not in [c["name"] for c in page.context.cookies()]


def test_a_wrong_password_says_so(page, app_url):
    page.goto(app_url)
    page.get_by_label("用户名", exact=True).first.wait_for(timeout=90_000)
    page.get_by_label("用户名", exact=True).first.fill("reviewer")
    page.get_by_label("密码", exact=True).first.fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码错误").wait_for(timeout=30_000)


@pytest.mark.parametrize("role", list(PAGES))
def test_every_page_opens_without_errors(page, app_url, role):
    login(page, app_url, role, PASSWORDS[role])
    for title, marker in PAGES[role]:
        page.locator('[data-testid="stSidebar"]').get_by_role("link", name=title).click()
        page.get_by_text(marker).first.wait_for(timeout=60_000)
        wait_idle(page)
        assert_no_errors(page)
        screenshot(page, f"{role}-{title}")


def test_a_deep_link_to_a_forbidden_page_is_refused(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    page.goto(app_url + "/admin_users")
    page.get_by_text("无权访问“用户与单位”").wait_for(timeout=60_000)
    assert page.get_by_text("用户列表").count() == 0
    screenshot(page, "leader-refused")
