"""Every table's exports: what the table shows, missing values blank, formulas neutralized."""

import csv
import io

import pandas as pd
from openpyxl import load_workbook

from lib import ui


def test_csv_and_excel_of_a_table():
    df = pd.DataFrame({"单位": ["=HYPERLINK(\"http://x\")", "财政局"], "红牌": [3, None],
                       "说明": ["-1 天", "@所有人"]})
    rows = list(csv.reader(io.StringIO(ui.table_csv(df).decode("utf-8-sig"))))
    assert rows == [["单位", "红牌", "说明"], ["'=HYPERLINK(\"http://x\")", "3.0", "'-1 天"],
                    ["财政局", "", "'@所有人"]]
    wb = load_workbook(io.BytesIO(ui.table_xlsx(df, "导出")))
    ws = wb["导出"]
    assert [c.value for c in ws[1]] == ["单位", "红牌", "说明"]
    assert ws.cell(2, 1).value.startswith("'=") and ws.cell(2, 1).data_type == "s"
    assert ws.cell(3, 2).value is None


def test_a_domains_subsystem_ids_from_the_catalog(sqlite_demo_url, monkeypatch):
    """A domain page reads the counts of its own subsystems: the ids named by the catalog."""
    from sqlalchemy import select

    from lib import db
    from lib.models import Domain, Subsystem

    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    ui.catalog_frames.clear()
    with db.session_scope(db.get_engine(sqlite_demo_url), write=False) as s:
        rows = s.execute(select(Subsystem.id, Subsystem.code, Domain.code)
                         .join(Domain, Domain.id == Subsystem.domain_id)).all()
    funds = tuple(sorted(i for i, _, d in rows if d == "FUNDS"))
    assert len(funds) >= 2 and ui.subsystem_ids("FUNDS") == funds
    one = next((i, code) for i, code, d in rows if d == "FUNDS")
    assert ui.subsystem_ids("FUNDS", one[1]) == (one[0],)
    assert ui.subsystem_ids(None, one[1]) == (one[0],)
    assert ui.subsystem_ids("POWER", one[1]) == ()  # that subsystem is not the domain's
    assert ui.subsystem_ids("NO_SUCH") == ()
    assert ui.subsystem_ids(None) is None


def test_streamlits_prompt_check_is_marked_given():
    """Streamlit's check for running from a Python prompt (a walk of the stack resolving every
    module's file on a process's first element) is marked as given when lib.ui is imported — in
    a new process, where no element has been drawn yet (Streamlit sets the same flag itself
    after its check); a renamed flag in the pinned Streamlit is noticed here."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import streamlit.delta_generator as d\n"
            "assert d._use_warning_has_been_displayed is False, 'set before lib.ui'\n"
            "import lib.ui\n"
            "assert d._use_warning_has_been_displayed is True\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_empty_views_hint_sends_only_importers_to_the_import_page():
    """Those who may import are sent to 数据接入 with the kinds as that page names them; a clerk,
    who has no such page, is told who imports them, with no code name on the screen."""
    from lib.access import MATRIX, CurrentUser

    # (the hint names the roles that hold the import permission)
    assert {r for r, actions in MATRIX.items() if "import_items" in actions} == \
        {"admin", "inspector"}

    admin = CurrentUser(1, "a", "a", frozenset({"admin"}))
    staff = CurrentUser(2, "s", "s", frozenset({"staff"}), unit_id=1)
    assert ui.import_hint(admin, "programs", "payments") == \
        "可在“数据接入”页导入资金项目（programs）和资金发放（payments）。"
    said = ui.import_hint(staff, "programs", "payments")
    assert said.startswith("资金项目和资金发放由系统管理员或纪检监察人员") and "可在" not in said
    assert not any(c.isascii() and c.isalpha() for c in said)


def test_every_light_rule_and_notice_step_has_its_chinese_name():
    from lib import lights, notices

    rules = {getattr(lights, n) for n in dir(lights) if n.startswith("RULE_")}
    assert rules and rules <= set(ui.LIGHT_RULE_NAMES)
    # Every step a notice's history records (the actions `_event` is called with).
    import re
    from pathlib import Path

    source = Path(notices.__file__).read_text(encoding="utf-8")
    written = set(re.findall(r'_event\(session, [^"]*"([a-z]+)"', source)) | {"closed", "returned"}
    assert {"issued", "escalated", "acknowledged", "rectified"} <= written
    assert written <= set(notices.ACTIONS)


def test_amounts_of_money_are_shown_with_separators():
    df = pd.DataFrame({"涉及金额（元）": [888592.33, 5099.8], "单位": ["甲", "乙"], "笔数": [1, 2],
                       "金额说明": ["一笔", "两笔"]})
    cfg = ui.money_columns(df)
    assert list(cfg) == ["涉及金额（元）"]
    assert cfg["涉及金额（元）"]["type_config"]["format"] == "accounting"


def test_the_lights_by_unit_table_has_no_empty_grid_under_a_few_units():
    """Beside the 380 px county map: a city's dozens of units fill its height and scroll; a
    clerk's one unit (or a county's few) is as tall as its rows."""
    assert ui.unit_table_height(1) == "auto"
    assert ui.unit_table_height(ui.UNIT_ROWS_AUTO) == "auto"
    assert ui.unit_table_height(ui.UNIT_ROWS_AUTO + 1) == 380
    assert ui.unit_table_height(60) == 380


def test_a_day_given_in_a_form_becomes_a_moment_never_later_than_now_today(monkeypatch):
    from datetime import UTC, date, datetime, time

    from lib import ui
    from lib.config import TZ

    # 00:30 in Beijing is still the day before in UTC: "today" is Beijing's day.
    now = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # 2026-12-03 00:30 Beijing
    monkeypatch.setattr(ui, "now_utc", lambda: now)
    assert ui.moment_on(date(2026, 12, 3), time(9)) == now  # today, 09:00 still to come
    assert ui.moment_on(date(2026, 12, 2), time(9)) == datetime(2026, 12, 2, 9, tzinfo=TZ)
    later = ui.moment_on(date(2026, 12, 4), time(9))  # left later, for the library to refuse
    assert later == datetime(2026, 12, 4, 9, tzinfo=TZ) and later > now
