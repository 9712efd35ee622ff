"""A real Streamlit server and Debian's Chromium, driven by Playwright.

`playwright install` cannot download browsers here: we launch /usr/bin/chromium. Under CI=true a
missing browser fails the run instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CI = os.environ.get("CI", "").lower() == "true"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The app on demo data, served by `streamlit run Home.py`."""
    from tests.apptest_helpers import copy_sqlite
    from tests.conftest import demo_url

    # A private copy: signing in writes to the audit log and the failed-login counters.
    url = copy_sqlite(demo_url("sqlite", tmp_path_factory),
                      tmp_path_factory.mktemp("browser") / "app.db")
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url)
    log = open(tmp_path_factory.mktemp("streamlit") / "server.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        log.seek(0)
        pytest.fail("Streamlit did not start:\n" + log.read())
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        msg = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 3200}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def assert_no_errors(pg) -> None:
    """Fail on any exception or error box Streamlit drew."""
    for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        boxes = pg.locator(selector)
        if boxes.count():
            raise AssertionError(f"error box on the page: {boxes.first.inner_text()[:500]}")


def wait_idle(pg, timeout: float = 60_000) -> None:
    """Wait until the script run has finished (the status widget says 'Running' meanwhile)."""
    pg.wait_for_timeout(300)
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def login(pg, base: str, username: str, password: str) -> None:
    pg.goto(base)
    pg.get_by_label("用户名", exact=True).first.wait_for(timeout=90_000)
    # A click that lands while the page's first run is still settling can be lost (the form
    # is redrawn empty): fill and submit again, at most twice more. The password is right, so
    # a repeat cannot count as a failed login.
    for attempt in range(3):
        pg.get_by_label("用户名", exact=True).first.fill(username)
        pg.get_by_label("密码", exact=True).first.fill(password)
        pg.get_by_role("button", name="登录").click()
        try:
            pg.get_by_role("button", name="退出登录").wait_for(timeout=40_000)
            break
        except PlaywrightTimeout:
            if attempt == 2 or pg.get_by_label("用户名", exact=True).first.count() == 0:
                raise
    # The login cookie is written by a component after the run; wait until the browser has it
    # (up to 30 s: on a loaded 2-core machine 10 s was once not enough).
    for _ in range(300):
        if "esup_auth" in [c["name"] for c in pg.context.cookies()]:
            break
        pg.wait_for_timeout(100)
    else:
        raise AssertionError("the login cookie was never set")


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
