"""The test harness itself: what one test leaves behind must not break the next one."""

from __future__ import annotations

import multiprocessing as mp
import sys

from streamlit.testing.v1 import AppTest

from tests import conftest

# A page that, like every page of the app, only works inside Streamlit's script runner.
PAGE = """
from streamlit.runtime.scriptrunner import get_script_run_ctx
import streamlit as st
if get_script_run_ctx() is None:
    raise SystemExit("run outside Streamlit")
st.write("ok")
"""


def test_a_page_run_installs_its_script_as_the_main_module(tmp_path):
    """Streamlit's runner makes the page `__main__` (the premise of the next test)."""
    page = tmp_path / "page.py"
    page.write_text(PAGE, encoding="utf-8")
    at = AppTest.from_file(str(page)).run()
    assert not at.exception
    assert sys.modules["__main__"] is not conftest._MAIN
    assert sys.modules["__main__"].__file__ == str(page)


def test_a_spawned_process_after_a_page_run_starts_from_the_process_main_module():
    """After a page run the process's own main module is back, so a "spawn" child (the
    concurrency bench's readers and writer) starts cleanly instead of re-running the page
    outside Streamlit (CI, 2026-12-02: the bench's children died and its tests waited in vain)."""
    assert sys.modules["__main__"] is conftest._MAIN
    child = mp.get_context("spawn").Process(target=sys.getrecursionlimit)
    child.start()
    child.join(60)
    assert child.exitcode == 0
