"""要素市场 in a real browser: the inspector opens the page from the sidebar, the audit queue
and the fences show, and a tender's drill-down lists its bids."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_market_page_queue_fences_and_drill_down(page, app_url):
    login(page, app_url, "inspector", PASSWORDS["inspector"])
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="要素市场").click()
    page.get_by_text("项目风险队列").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    page.get_by_role("tab", name="项目详查").click()
    page.get_by_text("全部投标").first.wait_for(timeout=30_000)
    page.get_by_text("本项目的发现").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="规则与围栏").click()
    page.get_by_text("由数据计算的围栏").first.wait_for(timeout=30_000)
    assert_no_errors(page)
    screenshot(page, "inspector-要素市场")
