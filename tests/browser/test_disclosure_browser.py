"""信息公开 in a real browser: the inspector's page (overview, drill-down tables, tabs) and the
portal's 村务公开 page reading a village's disclosure."""

from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle


def test_disclosure_page_and_portal(page, app_url):
    login(page, app_url, "inspector", "Jiancha@2026")
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="信息公开", exact=True).click()
    page.get_by_role("heading", name="信息公开").first.wait_for(timeout=90_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    # Waited for, not counted at once: the run may still be drawing when the page is idle (a
    # full suite on both cores once counted no tab yet, 2026-12-02).
    page.get_by_role("tab", name="村务公开").wait_for(timeout=60_000)
    assert page.get_by_role("tab", name="村务公开").count() == 1
    page.get_by_text("公开率").or_(page.locator('[data-testid="stDataFrame"]').nth(1)).first \
        .wait_for(timeout=60_000)
    screenshot(page, "disclosure_page")
    page.get_by_role("tab", name="依申请公开").click()
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "disclosure_requests")
    # The rules' findings, each with its why (the finding picked by its rule and subject).
    page.get_by_role("tab", name="规则发现").click()
    wait_idle(page)
    assert_no_errors(page)
    page.get_by_text("为什么亮牌").first.wait_for(timeout=60_000)
    screenshot(page, "disclosure_rules")

    page.goto(app_url + "/public_villages")
    page.get_by_role("heading", name="村务公开").first.wait_for(timeout=90_000)
    wait_idle(page, 120_000)
    assert_no_errors(page)
    page.get_by_text("浏览").first.wait_for(timeout=60_000)  # the disclosure's reading count
    screenshot(page, "disclosure_portal")
