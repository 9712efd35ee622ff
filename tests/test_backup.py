"""Backups and restores (`python -m lib backup` / `restore`): round trips on both databases."""

import threading

import pytest
from sqlalchemy import MetaData, func, select

from lib import audit, backup, db, queries
from lib.__main__ import main
from lib.access import SYSTEM
from lib.models import AuditLog
from tests.conftest import ANCHOR


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def snapshot(engine) -> dict:
    """Every table's row count, the audit chain's head and the cockpit's figures."""
    meta = MetaData()
    meta.reflect(engine)
    with db.read_scope(engine) as s:
        counts = {t.name: s.scalar(select(func.count()).select_from(t)) for t in meta.sorted_tables}
        head = s.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
        figures = queries.source_figures(s, as_of=ANCHOR)
        lights = queries.light_counts(s, user=SYSTEM, as_of=ANCHOR).sort_values(
            ["unit_id", "subsystem_id", "region_id"]).reset_index(drop=True).fillna(-1)  # NaN != NaN
    return {"counts": counts, "head": head, "figures": figures,
            "lights": lights.to_dict("records")}


def run_cli(capsys, monkeypatch, url, *args):
    monkeypatch.setenv("DATABASE_URL", url)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_round_trip_same_figures_and_chain(demo_engine, empty_engine, tmp_path, capsys,
                                           monkeypatch):
    before = snapshot(demo_engine)
    assert before["counts"]["items"] > 1000 and before["head"]
    file = tmp_path / "esup.backup"
    code, out, err = run_cli(capsys, monkeypatch, url_of(demo_engine), "backup", str(file))
    assert code == 0, err
    assert "已备份" in out and file.stat().st_size > 0
    assert not (tmp_path / "esup.backup.part").exists()

    # The target holds only the seeded catalog: empty, so no --force is needed.
    code, out, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore", str(file))
    assert code == 0, err
    assert "已从" in out
    code, out, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "audit", "verify")
    assert code == 0, err
    assert before["head"] in out
    assert snapshot(empty_engine) == before

    # A second restore over what is now a full database is refused, and changes nothing.
    db.transact(lambda s: audit.record(s, actor="tester", action="test.append", entity="probe"),
                empty_engine)
    code, out, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore", str(file))
    assert code != 0
    assert "不是空库" in err and "--force" in err
    assert snapshot(empty_engine)["counts"]["audit_log"] == before["counts"]["audit_log"] + 1
    # With --force it replaces everything.
    code, out, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore", str(file),
                             "--force")
    assert code == 0, err
    assert snapshot(empty_engine) == before


def test_backup_while_writers_append(empty_engine, tmp_path):
    """A backup taken while another thread keeps writing is a consistent snapshot: its audit
    chain verifies, and the live database loses nothing."""
    stop = threading.Event()
    written = []
    failures = []

    def writer():
        i = 0
        while not stop.is_set() or i < 20:
            try:
                db.transact(lambda s, i=i: audit.record(s, actor="writer", action="test.append",
                                                        entity="probe", entity_id=i), empty_engine)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)
                return
            written.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        files = []
        for n in range(3):
            files.append(backup.backup(empty_engine, tmp_path / f"b{n}.bak").path)
    finally:
        stop.set()
        t.join(60)
    assert not failures
    with db.read_scope(empty_engine) as s:
        assert audit.verify(s).ok
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action == "test.append")) == len(written)
    # Each snapshot restores to a database whose chain verifies.
    restored = db.make_engine(url_of(empty_engine))
    try:
        backup.restore(restored, files[-1], force=True)
        with db.read_scope(restored) as s:
            assert audit.verify(s).ok
    finally:
        restored.dispose()


def test_refuses_wrong_files(empty_engine, tmp_path, capsys, monkeypatch):
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a backup at all")
    code, _, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore", str(junk))
    assert code != 0 and "不是本系统的备份文件" in err
    other = tmp_path / "other.bak"
    other.write_bytes(backup.PG_MAGIC + b"\0" * 32 if empty_engine.dialect.name == "sqlite"
                      else backup.SQLITE_MAGIC + b"\0" * 32)
    code, _, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore", str(other))
    assert code != 0 and "不能跨数据库恢复" in err
    code, _, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "restore",
                           str(tmp_path / "missing.bak"))
    assert code != 0 and "无法读取备份文件" in err
    code, _, err = run_cli(capsys, monkeypatch, url_of(empty_engine), "backup",
                           str(tmp_path / "no" / "such" / "dir.bak"))
    assert code != 0 and "目录不存在" in err
    with db.read_scope(empty_engine) as s:  # nothing was touched
        assert audit.verify(s).ok


@pytest.mark.parametrize("name", ["pg_dump", "pg_restore"])
def test_pg_tools_found(name):
    assert backup._pg_tool(name).endswith(name)
