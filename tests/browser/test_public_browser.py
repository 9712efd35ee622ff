"""The public portal in a real browser: submit, get a tracking code, follow it; no login."""

import pytest

from tests.browser.conftest import assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_submit_and_track_without_login(page, app_url):
    page.goto(app_url + "/public_submit")
    page.get_by_text("我要反映").first.wait_for(timeout=90_000)
    wait_idle(page)
    screenshot(page, "public-submit")
    page.get_by_label("标题").fill("<script>alert('x')</script>路灯不亮")
    page.get_by_label("具体内容").fill("小区门口路灯坏了一个月，晚上出行不安全。")
    page.get_by_role("button", name="提交").click()
    page.get_by_text("提交成功").wait_for(timeout=60_000)
    text = page.get_by_text("您的查询码是").inner_text()
    code = text.split("查询码是")[1].strip()[:12]
    assert code.startswith("QF")
    page.goto(app_url + f"/public_track?code={code}")
    page.get_by_text("办理状态").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_errors(page)
    # The citizen's text is shown as typed, never run.
    page.get_by_text("<script>alert('x')</script>路灯不亮").wait_for()
    screenshot(page, "public-track")


@pytest.mark.parametrize("path,marker", [("/public_board", "答复公开"), ("/public_hot", "热点与政策"),
                                         ("/public_rankings", "行政效能排名公布")])
def test_portal_pages(page, app_url, path, marker):
    page.goto(app_url + path)
    page.get_by_role("heading", name=marker).wait_for(timeout=90_000)
    wait_idle(page)
    assert_no_errors(page)
    assert page.get_by_label("密码", exact=True).count() == 0
    screenshot(page, "public-" + path.strip("/"))
