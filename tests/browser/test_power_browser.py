"""权力运行 in a real browser: the step funnel, the stages, a case's timeline, and staff's form."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def open_power(page, app_url, role):
    login(page, app_url, role, PASSWORDS[role])
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="权力运行").click()
    page.get_by_text("审批环节漏斗").first.wait_for(timeout=120_000)
    wait_idle(page)


def test_leader_reads_the_funnel_the_stages_and_a_timeline(page, app_url):
    open_power(page, app_url, "leader")
    page.get_by_text("超时最久的环节").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="事前 · 事中 · 事后").click()
    page.get_by_text("已受理、尚未作出决定的办件").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="办件时间线与登记").click()
    page.get_by_text("特别程序暂停").or_(page.get_by_text("决定：")).first.wait_for(timeout=30_000)
    wait_idle(page)
    assert_no_errors(page)
    assert page.get_by_text("登记办理环节").count() == 0  # leaders read, staff record
    screenshot(page, "leader-权力运行-时间线")


def test_staff_see_the_step_form_on_their_own_case(page, app_url):
    open_power(page, app_url, "staff")
    page.get_by_role("tab", name="办件时间线与登记").click()
    page.get_by_text("登记办理环节").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "staff-权力运行-登记")
