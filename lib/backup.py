"""Backups and restores of the whole database, while the app runs.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot (WAL
content included) while other processes keep reading and writing; the copy is written beside
the target and renamed into place, so a backup file is never half-written. PostgreSQL:
`pg_dump --format=custom` (a consistent snapshot of a live database) and `pg_restore`.

A restore refuses to overwrite a database that already holds data unless asked to (`force`):
an empty database is one with no tables, or with only the reference catalog that
`python -m lib init` seeds (no items, accounts, submissions or audit rows).
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
# What makes a database "not empty": rows that someone wrote, not the seeded catalog.
CONTENT_TABLES = {"items": "监察事项", "users": "账号", "submissions": "群众诉求",
                  "audit_log": "审计记录"}


class BackupError(RuntimeError):
    """A refused or failed backup or restore; the message is for the operator, in Chinese."""


@dataclass(frozen=True)
class Done:
    path: Path
    size: int
    counts: dict[str, int]

    def summary(self) -> str:
        parts = "，".join(f"{CONTENT_TABLES[k]} {v:,}" for k, v in self.counts.items())
        return f"{self.path}（{self.size / 1_048_576:.1f} MB；{parts or '无数据'}）"


def content_counts(engine: Engine) -> dict[str, int]:
    """Rows in the tables that hold what people wrote (only the tables that exist)."""
    present = set(inspect(engine).get_table_names())
    counts = {}
    with engine.connect() as conn:
        for table in CONTENT_TABLES:
            if table in present:
                counts[table] = int(conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar())
    return counts


def _sqlite_path(engine: Engine) -> Path:
    path = engine.url.database
    if not path or path == ":memory:":
        raise BackupError("内存数据库无法备份或恢复，请用 DATABASE_URL 指定数据库文件")
    return Path(path)


def _pg_tool(name: str) -> str:
    """pg_dump / pg_restore: on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（apt-get install postgresql-client）")


def _pg_target(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(f"{what}失败（{Path(cmd[0]).name} 退出码 {proc.returncode}）："
                          + ("；".join(detail[-3:]) if detail else "无输出"))


def backup(engine: Engine, dest: str | os.PathLike) -> Done:
    """Write a backup of the database to `dest` (replacing it only once the copy is complete)."""
    dest = Path(dest)
    if dest.parent and not dest.parent.exists():
        raise BackupError(f"目录不存在：{dest.parent}")
    tmp = dest.with_name(dest.name + ".part")
    counts = content_counts(engine)
    try:
        if engine.dialect.name == "sqlite":
            src = sqlite3.connect(str(_sqlite_path(engine)), timeout=30)
            try:
                out = sqlite3.connect(str(tmp))
                try:
                    src.backup(out)  # one step: a consistent read snapshot in WAL mode
                finally:
                    out.close()
            finally:
                src.close()
        elif engine.dialect.name == "postgresql":
            uri, env = _pg_target(engine)
            _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={tmp}", f"--dbname={uri}"], env, "备份")
        else:
            raise BackupError(f"不支持的数据库：{engine.dialect.name}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return Done(dest, dest.stat().st_size, counts)


def file_kind(path: Path) -> str:
    """'sqlite' or 'postgresql' from the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise BackupError(f"无法读取备份文件：{path}（{exc.strerror}）") from exc
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} 不是本系统的备份文件（既非 SQLite 数据库，也非 pg_dump 自定义格式）")


def restore(engine: Engine, source: str | os.PathLike, *, force: bool = False) -> Done:
    """Replace the database's content with the backup in `source`.

    Refused (BackupError) when the database already holds data and `force` is false, or when
    the backup was made from the other kind of database."""
    source = Path(source)
    kind = file_kind(source)
    dialect = engine.dialect.name
    if kind != dialect:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(f"备份文件来自 {names[kind]}，当前数据库是 {names.get(dialect, dialect)}："
                          "不能跨数据库恢复（可用 python -m lib export / import 迁移数据）")
    counts = {k: v for k, v in content_counts(engine).items() if v}
    if counts and not force:
        parts = "，".join(f"{CONTENT_TABLES[k]} {v:,}" for k, v in counts.items())
        raise BackupError(f"目标数据库不是空库（{parts}），未做任何改动。确认要用备份覆盖现有全部数据，"
                          "请加 --force（建议先备份现有数据）")
    if dialect == "sqlite":
        _restore_sqlite(engine, source)
    else:
        _restore_pg(engine, source)
    engine.dispose()  # pooled connections may hold the old schema's statements
    return Done(source, source.stat().st_size, content_counts(engine))


def _restore_sqlite(engine: Engine, source: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"备份文件已损坏（SQLite 校验：{check}），未做任何改动")
        target = _sqlite_path(engine)
        target.parent.mkdir(parents=True, exist_ok=True)
        engine.dispose()
        dst = sqlite3.connect(str(target), timeout=30)
        try:
            src.backup(dst)  # replaces every page of the target under its write lock
        finally:
            dst.close()
    finally:
        src.close()


def _restore_pg(engine: Engine, source: Path) -> None:
    uri, env = _pg_target(engine)
    tool = _pg_tool("pg_restore")
    # Read the archive's table of contents first: a damaged file is refused before anything goes.
    _run([tool, "--list", str(source)], env, "读取备份文件")
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    _run([tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={uri}", str(source)], env, "恢复")

