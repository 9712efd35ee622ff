"""Data in and out (lib.exchange): the preview matches what the import then does, the template
explains every column, an export imports back unchanged, the history records every run."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from lib import db, exchange
from lib.importer import import_items
from lib.models import AuditLog, ImportRun, Item

HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
BODY = ("A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n"
        "A-2,FEES,ZJ.CZ,2026-09-30T10:00,,2026-10-09T09:00\n")


def count(engine, model=Item):
    with db.read_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_preview_says_exactly_what_the_import_does_and_writes_nothing(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + BODY, actor="t")
    audit_rows = count(empty_engine, AuditLog)
    raw = (HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,2026-10-10T09:00\n"
           "A-2,FEES,ZJ.CZ,2026-09-30T10:00,,2026-10-09T09:00\n"
           "A-3,FEES,ZJ.CZ,2026-10-01T10:00,,\n").encode()
    with db.session_scope(empty_engine) as s:
        p = exchange.preview(s, "items", raw, "x.csv")
    assert p.ok and (p.rows, p.created, p.updated, p.unchanged) == (3, 1, 1, 1)
    assert p.added_keys == ["A-3"] and p.changed_keys == ["A-1"]
    assert count(empty_engine) == 2 and count(empty_engine, AuditLog) == audit_rows
    result = exchange.run_import("items", raw, filename="x.csv", actor="t", engine=empty_engine)
    assert (result.created, result.updated, result.unchanged) == (p.created, p.updated,
                                                                 p.unchanged)


def test_the_preview_lists_every_refused_row(empty_engine):
    raw = (HEADER + "A-1,APPROVAL,ZJ.NOPE,2026-09-30T10:00,5wd,\n"
           "A-2,FEES,ZJ.CZ,not-a-time,,\n" "A-3,FEES,ZJ.CZ,2026-10-01T10:00,,\n").encode()
    with db.session_scope(empty_engine) as s:
        p = exchange.preview(s, "items", raw)
    assert not p.ok and p.refused == 2
    assert p.errors[0].startswith("第2行") and p.errors[1].startswith("第3行")


def test_every_run_is_in_the_history_failed_ones_too(empty_engine):
    exchange.run_import("items", (HEADER + BODY).encode(), filename="ok.csv", actor="guanli",
                        engine=empty_engine)
    with pytest.raises(exchange.ImportFailed):
        exchange.run_import("items", (HEADER + "B-1,NOPE,ZJ.FG,2026-09-30,,\n").encode(),
                            filename="bad.csv", actor="guanli", engine=empty_engine)
    with db.read_scope(empty_engine) as s:
        runs = list(s.scalars(select(ImportRun).order_by(ImportRun.id)))
    assert [(r.source, r.status, r.created, r.refused) for r in runs] == [
        ("ok.csv", "ok", 2, 0), ("bad.csv", "failed", 0, 1)]
    assert len(runs[0].sha256) == 64 and "未知子系统" in runs[1].message
    assert count(empty_engine) == 2


def test_the_template_explains_every_column():
    kind = exchange.load_kinds()["items"]
    wb = load_workbook(io.BytesIO(exchange.template_xlsx(kind)))
    data, doc = wb["数据"], wb["填写说明"]
    assert [c.value for c in data[1]] == [c.label for c in kind.columns]
    assert data.cell(2, 1).value == kind.columns[0].example
    codes = [doc.cell(r, 2).value for r in range(2, 2 + len(kind.columns))]
    assert codes == [c.code for c in kind.columns]
    assert all(doc.cell(r, 5).value for r in range(2, 2 + len(kind.columns)))


def test_an_export_imports_back_unchanged_and_formulas_are_neutralized(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + BODY, actor="t")
        header, rows = exchange.export_table(s, "items")
    assert header == ["external_id", "subsystem", "unit", "received_at", "time_limit",
                      "completed_at"]
    assert rows[0] == ["A-1", "APPROVAL", "ZJ.FG", "2026-09-30T10:00:00", "5wd", ""]
    out = io.StringIO()
    exchange.write_csv(header, rows, out)
    result = exchange.run_import("items", out.getvalue().encode(), filename="round.csv",
                                 actor="t", engine=empty_engine)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    # A text value that would be a formula in a spreadsheet is written as text.
    buf = io.StringIO()
    exchange.write_csv(["a", "b"], [["=HYPERLINK(\"x\")", "-3"], ["@cmd", "ok"]], buf)
    import csv

    assert list(csv.reader(io.StringIO(buf.getvalue())))[1:] == [
        ["'=HYPERLINK(\"x\")", "'-3"], ["'@cmd", "ok"]]
    wb = load_workbook(io.BytesIO(exchange.xlsx_bytes(["a"], [["=1+1"]])))
    assert wb.active.cell(2, 1).value == "'=1+1" and wb.active.cell(2, 1).data_type == "s"


@pytest.mark.parametrize("raw,expected", [
    (b"", "文件为空"),
    (b"\xff\xfe\x00garbage\x81", "编码无法识别"),
    (b"PK\x03\x04not really a zip", "无法读取 Excel"),
    ((b"external_id,external_id\n"), "重复"),
])
def test_bad_files_are_refused_with_reasons(empty_engine, raw, expected):
    with db.session_scope(empty_engine) as s, pytest.raises(exchange.ImportFailed, match=expected):
        exchange.import_bytes(s, "items", raw, filename="f")


def test_a_file_over_the_size_limit_is_refused_before_reading(empty_engine, monkeypatch):
    monkeypatch.setattr(exchange, "MAX_BYTES", 1024)
    raw = (HEADER + BODY * 40).encode()
    assert len(raw) > 1024
    with db.session_scope(empty_engine) as s, pytest.raises(exchange.ImportFailed, match="文件过大"):
        exchange.import_bytes(s, "items", raw)
