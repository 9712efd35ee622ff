"""CSV import of items: all rows or none, row-numbered Chinese errors, updates by external_id."""

import dataclasses

import pytest
from sqlalchemy import func, select

from lib import db, exchange
from lib.config import TZ
from lib.importer import ImportFailed, import_items, import_items_file
from lib.models import Item, ItemEvent

HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"


def run(engine, text):
    with db.session_scope(engine) as s:
        return import_items(s, text, actor="测试")


def count(engine, model=Item):
    with db.session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def get(engine, ext):
    with db.session_scope(engine) as s:
        return s.scalar(select(Item).where(Item.external_id == ext))


def test_import_creates_items_with_deadlines(empty_engine):
    result = run(empty_engine, HEADER
                 + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n"
                 + "A-2,FEES,440823.ZRZY,2026-03-02 10:30+08:00,,2026-03-03T09:00\n"
                 + "A-3,KEYWORK,湛江市财政局,2026-03-02T10:30,48h,\n")
    assert (result.created, result.updated, result.rows) == (3, 0, 3)
    a1 = get(empty_engine, "A-1")
    assert a1.deadline.astimezone(TZ).isoformat() == "2026-10-14T00:00:00+08:00"
    assert (a1.limit_value, a1.limit_unit, a1.state) == (5, "wd", "open")
    a2 = get(empty_engine, "A-2")
    assert a2.limit_value is None  # the subsystem's default (5 working days)
    assert a2.state == "completed"
    assert a2.deadline.astimezone(TZ).isoformat() == "2026-03-10T00:00:00+08:00"
    a3 = get(empty_engine, "A-3")
    assert a3.deadline.astimezone(TZ).isoformat() == "2026-03-04T10:30:00+08:00"
    assert count(empty_engine, ItemEvent) == 3


def test_reimport_updates_and_records_history(empty_engine):
    run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n")
    result = run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,2026-10-12T16:00\n")
    assert (result.created, result.updated) == (0, 1)
    assert count(empty_engine) == 1
    assert get(empty_engine, "A-1").state == "completed"
    with db.session_scope(empty_engine) as s:
        kinds = [e.kind for e in s.scalars(select(ItemEvent).order_by(ItemEvent.id))]
    assert kinds == ["created", "completed"]
    again = run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,2026-10-12T16:00\n")
    assert again.unchanged == 1


@pytest.mark.parametrize("body,expected", [
    ("A-1,APPROVAL,ZJ.NOPE,2026-09-30T10:00,5wd,\n", "第2行：未知单位“ZJ.NOPE”"),
    ("A-1,APPROVAL,ZJ.FG,2026-13-40,5wd,\n", "第2行：受理时间 received_at 无效"),
    ("A-1,APPROVAL,ZJ.FG,,5wd,\n", "第2行：受理时间 received_at 为空"),
    ("A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\nA-1,FEES,ZJ.FG,2026-09-30T10:00,,\n",
     "第3行：事项编号 external_id “A-1” 与第2行重复"),
    ("A-1,NOPE,ZJ.FG,2026-09-30T10:00,5wd,\n", "第2行：未知子系统代码“NOPE”"),
    ("A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5weeks,\n", "时限格式无效"),
    ("A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,,2026-09-29T10:00\n", "第2行：办结时间早于受理时间"),
    ("A-1,APPROVAL,ZJ.FG,2099-09-30T10:00,,\n", "第2行：受理时间晚于当前时间"),
    (",APPROVAL,ZJ.FG,2026-09-30T10:00,,\n", "第2行：事项编号 external_id 为空"),
    ("A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,,,extra\n", "第2行：列数多于表头"),
])
def test_bad_rows_are_refused_and_nothing_is_written(empty_engine, body, expected):
    good = "OK-1,FEES,ZJ.CZ,2026-09-01T10:00,,\n"
    with pytest.raises(ImportFailed) as err:
        run(empty_engine, HEADER + body + good)
    assert expected in str(err.value)
    assert "未写入任何数据" in str(err.value)
    assert count(empty_engine) == 0
    assert count(empty_engine, ItemEvent) == 0


def test_every_bad_row_is_listed(empty_engine):
    with pytest.raises(ImportFailed) as err:
        run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.NOPE,2026-09-30,,\n"
            + "A-2,APPROVAL,ZJ.FG,bad,,\n")
    assert len(err.value.errors) == 2
    assert err.value.errors[0].startswith("第2行") and err.value.errors[1].startswith("第3行")


@pytest.mark.parametrize("text,expected", [
    ("", "文件为空"),
    ("   \n", "文件为空"),
    (HEADER, "只有表头"),
    ("external_id,unit\nA,B\n", "表头缺少列"),
    (HEADER.strip() + ",note\nA-1,APPROVAL,ZJ.FG,2026-09-30,,,x\n", "未知列“note”"),
])
def test_empty_or_malformed_files(empty_engine, text, expected):
    with pytest.raises(ImportFailed, match=expected):
        run(empty_engine, text)
    assert count(empty_engine) == 0


def test_a_failed_update_leaves_the_earlier_import_intact(empty_engine):
    run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n")
    with pytest.raises(ImportFailed):
        run(empty_engine, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,2026-10-12T16:00\n"
            + "A-2,APPROVAL,ZJ.NOPE,2026-09-30T10:00,,\n")
    assert get(empty_engine, "A-1").state == "open"
    assert count(empty_engine) == 1


def test_file_encodings(empty_engine, tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes((HEADER + "A-1,APPROVAL,湛江市发展和改革局,2026-09-30T10:00,,\n").encode("gb18030"))
    with db.session_scope(empty_engine) as s:
        assert import_items_file(s, path).created == 1
    with db.session_scope(empty_engine) as s, pytest.raises(ImportFailed, match="无法读取文件"):
        import_items_file(s, tmp_path / "missing.csv")


def test_chinese_headers_and_excel_files(empty_engine, tmp_path):
    """The same kind read from an .xlsx with the Chinese headers (dates as real Excel dates)."""
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["事项编号", "子系统", "责任单位", "受理时间", "办理时限", "办结时间"])
    ws.append(["X-1", "APPROVAL", "ZJ.FG", datetime(2026, 9, 30, 10, 0), "5wd", None])
    ws.append(["X-2", "FEES", "湛江市财政局", "2026-09-30 10:00", None, "2026-10-09T09:00"])
    path = tmp_path / "items.xlsx"
    wb.save(path)
    with db.session_scope(empty_engine) as s:
        result = import_items_file(s, path)
    assert (result.created, result.rows) == (2, 2)
    assert get(empty_engine, "X-1").deadline.astimezone(TZ).isoformat() == \
        "2026-10-14T00:00:00+08:00"
    assert get(empty_engine, "X-2").state == "completed"


def test_a_formula_in_a_text_cell_is_refused(empty_engine):
    with pytest.raises(ImportFailed, match="疑似表格公式"):
        run(empty_engine, HEADER + '"=HYPERLINK(""x"")",APPROVAL,ZJ.FG,2026-09-30T10:00,,\n')
    assert count(empty_engine) == 0


def _big_file(n: int, start: int = 0) -> str:
    """n items over two years, some open, some closed, with every kind of limit."""
    lines = [HEADER.rstrip("\n")]
    for i in range(start, start + n):
        day = 1 + i % 28
        month = 1 + (i // 28) % 12
        year = 2024 + (i // 336) % 2
        done = "" if i % 3 == 0 else f"{year}-{month:02d}-{day:02d}T17:{i % 60:02d}"
        limit = ["", "5wd", "15d", "48h"][i % 4]
        unit = ["ZJ.FG", "440823.ZRZY", "ZJ.CZ"][i % 3]
        lines.append(f"BIG-{i:06d},APPROVAL,{unit},{year}-{month:02d}-{day:02d}T09:{i % 60:02d},"
                     f"{limit},{done}")
    return "\n".join(lines) + "\n"


def _schema(engine):
    with engine.connect() as c:
        return sorted(c.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'items'").all())


def _contents(engine):
    with engine.connect() as c:
        items = c.exec_driver_sql(
            "SELECT external_id, subsystem_id, unit_id, region_id, received_at, limit_value,"
            " limit_unit, deadline, completed_at, state FROM items ORDER BY external_id").all()
        events = c.exec_driver_sql(
            "SELECT i.external_id, e.kind, e.to_state FROM item_events e JOIN items i"
            " ON i.id = e.item_id ORDER BY i.external_id, e.id").all()
        dirty = c.exec_driver_sql("SELECT kind, unit_id, day FROM rollup_dirty ORDER BY 1, 2, 3").all()
        # The change log (migration 0026), by item: every version made or removed.
        log = c.exec_driver_sql(
            "SELECT i.external_id, l.sign, l.unit_id, l.subsystem_id, l.region_id, l.handler_id,"
            " l.received_at, l.deadline, l.completed_at, l.card_cancelled, l.verdict"
            " FROM rollup_changes l JOIN items i ON i.id = l.item_id ORDER BY 1, 2, 3, 4, 5, 6,"
            " 7, 8, 9, 10, 11").all()
    return items, events, dirty, log


def test_a_large_import_on_sqlite_takes_the_bulk_path_with_the_same_result(
        tmp_path_factory, monkeypatch):
    """The bulk path (indexes off and built again, the insert trigger set aside and its marks
    made at once) leaves the same rows, history, rollup marks and schema as row by row."""
    import lib.importer as importer
    from lib import catalog, rollups
    from tests.conftest import new_database_url

    def fresh():
        engine = db.get_engine(new_database_url("sqlite", tmp_path_factory))
        db.migrate(engine)
        with db.session_scope(engine) as s:
            catalog.seed_catalog(s)
            rollups.rebuild(s)
        return engine

    slow, fast = fresh(), fresh()
    schema = _schema(slow)
    assert any(t == "index" for t, _, _ in schema) and any(t == "trigger" for t, _, _ in schema)
    # A first file into both, then a second one half new, half changed.
    first, second = _big_file(300), _big_file(300, start=150).replace("T17:", "T18:")
    for text in (first, second):
        run(slow, text)
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 100)
    monkeypatch.setattr(importer, "TRIGGER_MIN_ROWS", 10)
    # several chunks within one import
    monkeypatch.setitem(exchange.KINDS, "items", dataclasses.replace(importer.ITEMS, chunk=64))
    used = []
    real = importer._insert_many
    monkeypatch.setattr(importer, "_insert_many",
                        lambda conn, table, rows: (used.append(table.name), real(conn, table, rows)))
    for text in (first, second):
        run(fast, text)
    assert used.count("items") > 2
    contents = _contents(fast)
    assert contents == _contents(slow) and len(contents[3]) >= 450  # 450 rows, 150 changed
    assert _schema(fast) == schema
    with db.session_scope(fast) as s:
        assert rollups.verify(s) == []
        assert "changes_applied" in rollups.maintain(s)
        assert rollups.verify(s) == []


def test_a_large_import_that_fails_midway_leaves_indexes_and_trigger_in_place(
        tmp_path_factory, monkeypatch):
    import lib.importer as importer
    from lib import catalog
    from tests.conftest import new_database_url

    engine = db.get_engine(new_database_url("sqlite", tmp_path_factory))
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
    schema = _schema(engine)
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 100)
    monkeypatch.setattr(importer, "TRIGGER_MIN_ROWS", 10)
    monkeypatch.setitem(exchange.KINDS, "items", dataclasses.replace(importer.ITEMS, chunk=64))
    real = importer._insert_many
    calls = []

    def failing(conn, table, rows):
        calls.append(table.name)
        if len(calls) == 5:
            raise RuntimeError("disk full")
        real(conn, table, rows)
    monkeypatch.setattr(importer, "_insert_many", failing)
    with pytest.raises(RuntimeError):
        run(engine, _big_file(300))
    assert count(engine) == 0
    assert _schema(engine) == schema
