"""The cockpit in a real browser: it renders without error boxes, the map answers a click."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_cockpit_renders(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    page.get_by_text("最新红牌").first.wait_for(timeout=90_000)
    wait_idle(page)
    page.get_by_text("2,794 项").wait_for()
    page.get_by_text("按时办结率 97%").wait_for()
    # The map drew the nine counties (Vega renders an SVG or a canvas inside vega-embed).
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for()
    assert_no_errors(page)
    path = screenshot(page, "home")
    assert path.stat().st_size > 50_000


def test_clicking_a_county_filters_the_page(page, app_url):
    login(page, app_url, "leader", PASSWORDS["leader"])
    page.get_by_text("最新红牌").first.wait_for(timeout=90_000)
    wait_idle(page)
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for()
    page.wait_for_timeout(1500)  # let Vega attach its event handlers
    chart = page.locator(".vega-embed").first
    box = chart.bounding_box()
    # Leizhou sits in the middle of the peninsula, a little below the map's centre.
    page.mouse.click(box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.62)
    page.get_by_text("领导驾驶舱 · 雷州市").wait_for(timeout=30_000)
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "home-leizhou")
