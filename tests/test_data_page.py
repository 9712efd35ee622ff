"""AppTest of 数据接入: template, upload, preview, import with its history, refusals, the
front-database form, exports."""

import pytest
from sqlalchemy import func, select

from lib import db
from lib.models import ImportRun, Item
from tests.apptest_helpers import app, copy_sqlite, errors, login

HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"


@pytest.fixture
def at(sqlite_demo_url, tmp_path, monkeypatch):
    url = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", url)
    a = login(app(), "admin")
    a.switch_page("pages/data_exchange.py").run()
    assert not a.exception
    return a, db.get_engine(url)


def metrics(a):
    return {m.label: m.value for m in a.metric}


def test_upload_preview_then_import(at):
    a, engine = at
    assert any(b.label.startswith("下载导入模板") for b in a.get("download_button"))
    csv = (HEADER + "UP-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n"
           "UP-2,FEES,湛江市财政局,2026-10-01T09:00,,2026-10-02T09:00\n").encode()
    a.file_uploader(key="import_file").upload("新办件.csv", csv, "text/csv")
    a.run()
    assert not a.exception and not errors(a)
    assert metrics(a)["将新增"] == "2" and metrics(a)["拒收行"] == "0"
    with db.read_scope(engine) as s:  # the preview wrote nothing
        assert not s.scalar(select(func.count()).select_from(Item)
                            .where(Item.external_id.like("UP-%")))
    next(b for b in a.button if b.label.startswith("确认导入")).click()
    a.run()
    assert not a.exception
    assert any("已导入 新办件.csv" in s.value for s in a.success)
    with db.read_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Item)
                        .where(Item.external_id.like("UP-%"))) == 2
        run = s.scalar(select(ImportRun).order_by(ImportRun.id.desc()))
        assert (run.source, run.created, run.actor) == ("新办件.csv", 2, "admin")


def test_a_bad_file_is_refused_with_its_rows_and_nothing_can_be_imported(at):
    a, engine = at
    csv = (HEADER + "BAD-1,APPROVAL,ZJ.NOPE,2026-09-30T10:00,5wd,\n").encode()
    a.file_uploader(key="import_file").upload("bad.csv", csv, "text/csv")
    a.run()
    assert not a.exception
    assert any("未通过校验" in e for e in errors(a))
    assert metrics(a)["拒收行"] == "1"
    assert not [b for b in a.button if b.label.startswith("确认导入")]


def test_history_sync_form_and_export(at):
    a, engine = at
    assert not a.exception
    form_button = next(b for b in a.button if b.label == "检查连接并保存")
    a.text_input[0].input("approval")
    form_button.click()
    a.run()
    assert any("未保存" in e for e in errors(a))  # no URL, no table, no mapping
    export = next(b for b in a.button if b.label == "生成导出文件")
    export.click()
    a.run()
    assert not a.exception
    labels = [b.label for b in a.get("download_button")]
    assert any(label.startswith("下载 CSV（") for label in labels)
    assert any(label.startswith("下载 Excel（") for label in labels)


def test_staff_cannot_open_it(sqlite_demo_url, tmp_path, monkeypatch):
    url = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", url)
    a = login(app(), "staff")
    a.switch_page("pages/data_exchange.py").run()
    assert any("无权访问" in e for e in errors(a))
    assert not a.file_uploader
