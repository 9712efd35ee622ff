"""督办中心 in a real browser, and the printable notice rendered with Chinese text."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_sweep_and_print_a_notice(page, app_url):
    login(page, app_url, "inspector", PASSWORDS["inspector"])
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="督办中心").click()
    page.get_by_role("heading", name="督办中心").wait_for(timeout=60_000)
    page.get_by_text("通报批评与问责").first.wait_for(timeout=60_000)  # the whole page ran
    wait_idle(page)
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="立即扫描").click()
    page.get_by_text("扫描完成").wait_for(timeout=90_000)
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "inspector-督办中心")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="下载打印版督办通知书").click()
    html_doc = download_info.value.path().read_text(encoding="utf-8")
    printable = page.context.new_page()
    printable.set_content(html_doc)
    text = printable.locator("body").inner_text()
    assert "督办通知书" in text and "湛纪督〔" in text and "回复期限" in text
    printable.screenshot(path=str(screenshot.__globals__["ARTIFACTS"] / "notice-print.png"))
    pdf = printable.pdf(format="A4")
    assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
