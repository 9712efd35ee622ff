"""Click-through from the cockpit in a real browser: a card's number opens the list of exactly
those items (same day, window and county, in the URL), a ranking bar opens a unit's list, a
county on the map narrows the cockpit, and the back button returns to where the leader was."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def cockpit(page, base, query=""):
    page.goto(base + "/" + query)
    page.get_by_text("最新红牌").first.wait_for(timeout=90_000)
    wait_idle(page)


def total_of_list(page) -> int:
    line = page.get_by_text(re.compile(r"^共 [\d,]+ 件")).first
    line.wait_for(timeout=60_000)
    return int(re.match(r"共 ([\d,]+) 件", line.inner_text()).group(1).replace(",", ""))


def wait_total(page, expected: int, timeout: float = 60_000) -> None:
    """Wait until the list says it holds `expected` items. After the back button the URL changes
    at once but the page's rerun can start a moment later (a busy machine): reading the count
    straight away can read the list that is about to be replaced."""
    page.get_by_text(re.compile(rf"^共 {expected:,} 件")).first.wait_for(timeout=timeout)


def test_a_cards_red_count_opens_those_items_and_back_returns(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    cockpit(page, app_url, "?county=440882&window=90")
    page.get_by_text("领导驾驶舱 · 雷州市").wait_for()
    card_link = page.get_by_role("link", name=re.compile(r"红牌 [\d,]+")).first
    shown = int(re.search(r"红牌 ([\d,]+)", card_link.inner_text()).group(1).replace(",", ""))
    card_link.click()
    page.get_by_role("heading", name="监察事项").wait_for(timeout=60_000)
    wait_idle(page)
    for part in ("domain=POWER", "light=red", "county=440882", "window=90"):
        assert part in page.url, page.url
    assert total_of_list(page) == shown
    assert_no_errors(page)
    screenshot(page, "clickthrough-red-list")

    # A filter changed on the list is a step of its own: back undoes it, back again leaves.
    page.get_by_label("灯色").click()
    page.get_by_role("option", name="▲ 黄牌").click()
    page.wait_for_url(re.compile(r"light=yellow"), timeout=30_000)
    wait_idle(page)
    page.go_back()
    page.wait_for_url(re.compile(r"light=red"), timeout=30_000)
    wait_total(page, shown)
    wait_idle(page)
    assert total_of_list(page) == shown
    page.go_back()
    page.wait_for_url(re.compile(r"/\?county=440882&window=90$"), timeout=30_000)
    page.get_by_text("领导驾驶舱 · 雷州市").wait_for(timeout=60_000)
    page.get_by_text("统计区间：近90天").wait_for()
    assert_no_errors(page)


def test_a_deep_link_opens_the_same_view_in_a_new_session(browser, app_url):
    context = browser.new_context(viewport={"width": 1500, "height": 2000}, locale="zh-CN")
    page = context.new_page()
    try:
        login(page, app_url, "leader", PASSWORDS["leader"])
        page.goto(app_url + "/items?asof=2026-10-31&domain=FUNDS&light=yellow&state=open")
        page.get_by_role("heading", name="监察事项").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_text("全市 · 专项资金 · ▲ 黄牌 · 在办").wait_for()
        page.get_by_text("截至 2026-10-31 23:59").wait_for()
        assert_no_errors(page)
    finally:
        context.close()


def test_the_map_narrows_the_cockpit_and_back_widens_it(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    cockpit(page, app_url)
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for()
    page.wait_for_timeout(1500)  # let Vega attach its event handlers
    box = page.locator(".vega-embed").first.bounding_box()
    # Leizhou sits in the middle of the peninsula, a little below the map's centre.
    page.mouse.click(box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.62)
    page.get_by_text("领导驾驶舱 · 雷州市").wait_for(timeout=30_000)
    page.wait_for_url(re.compile(r"county=440882"), timeout=30_000)
    wait_idle(page)
    page.go_back()
    page.get_by_text("领导驾驶舱 · 全市").wait_for(timeout=30_000)
    assert "county=" not in page.url
    assert_no_errors(page)


def test_a_ranking_bar_opens_that_units_list(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    cockpit(page, app_url)
    charts = page.locator(".vega-embed")
    page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg')"
                           ".length >= 4", timeout=60_000)
    chart = charts.nth(3)  # map, domain bars, 红榜, 黑榜
    chart.scroll_into_view_if_needed()
    # Vega attaches its handlers a moment after drawing; on a busy machine a first click can
    # land before that, so click again (a click on a bar cannot do anything else).
    for attempt in range(3):
        page.wait_for_timeout(1500)
        box = chart.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + 40)  # the first bar of 黑榜
        try:
            page.wait_for_url(re.compile(r"/items\?.*unit="), timeout=30_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.get_by_role("heading", name="监察事项").wait_for(timeout=60_000)
    wait_idle(page)
    assert re.search(r"unit=[^&]+", page.url), page.url
    assert total_of_list(page) > 0
    page.go_back()
    page.get_by_text("最新红牌").first.wait_for(timeout=60_000)
    assert "/items" not in page.url
    assert_no_errors(page)
