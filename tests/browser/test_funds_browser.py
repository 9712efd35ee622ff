"""专项资金 in a real browser: execution curves drawn, a finding's why, the cockpit's FUNDS card
opening this page, and the public village list with masked names."""

import re

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_funds_page_curves_findings_and_drill_down(page, app_url):
    login(page, app_url, "inspector", PASSWORDS["inspector"])
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="专项资金").click()
    page.get_by_role("heading", name="预算执行与序时进度").wait_for(timeout=90_000)
    page.get_by_text("审批—发放环节").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    # The execution curves (one facet per fund line) and the map are drawn by Vega.
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg') \
        .first.wait_for(timeout=60_000)
    page.get_by_text("规则定义与出处").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="查看收款人证件号和收款账号（将记入审计日志）").wait_for(timeout=30_000)
    screenshot(page, "inspector-专项资金")
    # The program list is read when its expander is opened (a click reruns the page).
    programs = page.get_by_test_id("stExpander").filter(has_text="资金项目一览")
    assert programs.locator('[data-testid="stDataFrame"]').count() == 0  # not read while closed
    programs.get_by_text("资金项目一览").click()
    programs.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    programs.get_by_role("button", name="导出 Excel").first.wait_for(timeout=30_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    programs.scroll_into_view_if_needed()
    screenshot(page, "inspector-专项资金-资金项目一览")


def test_public_village_subsidies_are_listed_with_masked_names(page, app_url):
    page.goto(app_url + "/public_funds")
    page.get_by_text("惠民资金发放").first.wait_for(timeout=90_000)
    wait_idle(page)
    assert_no_errors(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(r"共 \d+ 笔，合计", body)
    screenshot(page, "public-惠民资金公开")
