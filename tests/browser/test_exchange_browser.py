"""数据接入 in a real browser: the uploader speaks Chinese, and a file uploaded is previewed."""

import pytest

from tests.apptest_helpers import PASSWORDS
from tests.browser.conftest import assert_no_errors, login, screenshot, wait_idle

pytestmark = pytest.mark.browser

CSV = ("external_id,subsystem,unit,received_at,time_limit,completed_at\n"
       "BROWSER-1,APPROVAL,ZJ.FG,2026-11-30T10:00,5wd,\n")


def test_the_uploader_speaks_chinese_and_previews_a_file(page, app_url, tmp_path):
    login(page, app_url, "admin", PASSWORDS["admin"])
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="数据接入").click()
    page.get_by_role("heading", name="数据接入").wait_for(timeout=60_000)
    wait_idle(page)
    uploader = page.locator('[data-testid="stFileUploader"]').first
    uploader.wait_for(timeout=60_000)
    # Streamlit's own words are hidden (drawn at size 0) and the Chinese drawn in their place.
    drawn = uploader.evaluate("""e => {
        const part = (sel) => {
            const el = e.querySelector(sel);
            const s = getComputedStyle(el), after = getComputedStyle(el, '::after');
            return [s.fontSize, after.content, after.fontSize];
        };
        return {button: part("button [data-testid=stMarkdownContainer] p"),
                hint: part("[data-testid=stFileUploaderDropzoneInstructions] span")};
    }""")
    assert drawn["button"][:2] == ["0px", '"选择文件"'] and drawn["button"][2] != "0px", drawn
    assert drawn["hint"][0] == "0px" and drawn["hint"][2] != "0px", drawn
    assert drawn["hint"][1] == '"或将文件拖到此处 · 单个文件不超过 20MB · 格式：CSV、XLSX"', drawn
    path = tmp_path / "items.csv"
    path.write_text(CSV, encoding="utf-8")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_role("button", name="确认导入 1 行").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_errors(page)
    assert "BROWSER-1" in page.get_by_text("将新增（前 200 条）").inner_text()
    screenshot(page, "admin-数据接入-预览")
