"""Pull from the subsystems' front databases (前置库).

Each business system (the approval system, the trading centre …) writes its records to a table
in its own front database; the platform pulls. A sync source (`sync_sources`) names the
connection (any SQLAlchemy URL), the table, the kind its rows are (`lib.exchange`), how the
table's columns map to the kind's, and a watermark column: an updated-at time or a rising id.

`sync(name)` reads the rows past the watermark in batches, checks each batch exactly as a file
import is checked, writes it, records it in the import history and moves the watermark — all in
one transaction, so the watermark only moves when the batch is written. A failure (a bad row,
a crash, a lost connection) leaves the watermark where it was: running it again takes the same
rows again, and since the kind updates records by their key, nothing is lost or doubled.
`python -m lib sync NAME` (for cron) and the 数据接入 page's "sync now" both call it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.orm import Session

from lib import audit, db, exchange
from lib.access import CurrentUser, require
from lib.clock import now_utc
from lib.models import SyncSource

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
_front_engines: dict[str, Engine] = {}


class SyncError(ValueError):
    """A refused source definition or a sync that could not run; the message is Chinese."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    url: str
    table: str
    kind: str
    mapping: dict  # kind column code -> front table column
    watermark_column: str
    subsystem: str | None = None
    batch_size: int = 5000
    active: bool = True


def _front(url: str) -> Engine:
    if url not in _front_engines:
        _front_engines[url] = create_engine(url, pool_pre_ping=True)
    return _front_engines[url]


def _reflect(url: str, table: str) -> Table:
    try:
        return Table(table, MetaData(), autoload_with=_front(url))
    except NoSuchTableError:
        raise SyncError(f"前置库中没有表“{table}”") from None
    except SQLAlchemyError as exc:
        raise SyncError(f"无法连接前置库：{exc.__class__.__name__}：{str(exc).splitlines()[0]}") \
            from None


def check_spec(spec: SourceSpec, *, connect: bool = True) -> list[str]:
    """Every problem with a source definition (empty when it is good); with `connect`, the
    front table is reflected to check the mapped columns exist."""
    problems = []
    if not NAME_RE.match(spec.name or ""):
        problems.append("名称须为 2–32 位小写字母、数字、_ 或 -，以字母开头")
    kind = exchange.load_kinds().get(spec.kind)
    if kind is None:
        problems.append(f"未知的数据类别“{spec.kind}”")
    try:
        make_url(spec.url)
    except ArgumentError:
        problems.append("连接地址格式不对：应为“数据库类型+驱动://用户名:密码@主机:端口/库名”，"
                        "如 postgresql+psycopg://sync:密码@10.1.2.3:5432/qianzhi")
    if not (1 <= spec.batch_size <= 100_000):
        problems.append("每批行数须在 1 到 100000 之间")
    if kind is not None:
        codes = {c.code for c in kind.columns}
        unknown = [k for k in spec.mapping if k not in codes]
        if unknown:
            problems.append(f"映射中有{kind.label}没有的列：{'、'.join(unknown)}")
        missing = [f"{c.code}（{c.label}）" for c in kind.columns
                   if c.required and not spec.mapping.get(c.code)]
        if missing:
            problems.append(f"映射缺少必填列：{'、'.join(missing)}")
    if problems or not connect:
        return problems
    try:
        table = _reflect(spec.url, spec.table)
    except SyncError as exc:
        return [str(exc)]
    names = set(table.columns.keys())
    absent = [c for c in list(spec.mapping.values()) + [spec.watermark_column] if c not in names]
    if absent:
        problems.append(f"前置表“{spec.table}”中没有列：{'、'.join(sorted(set(absent)))}")
    return problems


def save_source(session: Session, user: CurrentUser, spec: SourceSpec, *,
                connect: bool = True) -> SyncSource:
    """An administrator adds or changes a source (its watermark is kept when it exists)."""
    require(user, "manage_settings")
    problems = check_spec(spec, connect=connect)
    if problems:
        raise SyncError("；".join(problems))
    row = session.get(SyncSource, spec.name)
    before = None if row is None else _snapshot(row)
    if row is None:
        row = SyncSource(name=spec.name, watermark=None)
        session.add(row)
    row.subsystem, row.url, row.table, row.kind = spec.subsystem, spec.url, spec.table, spec.kind
    row.mapping = json.dumps(spec.mapping, ensure_ascii=False, sort_keys=True)
    row.watermark_column, row.batch_size, row.active = (spec.watermark_column, spec.batch_size,
                                                        spec.active)
    audit.record(session, actor=user.username, action="sync.source", entity="sync_source",
                 entity_id=spec.name, before=before, after=_snapshot(row))
    return row


def _snapshot(row: SyncSource) -> dict:
    # The URL may hold a password: the audit keeps it masked.
    return {"url": make_url(row.url).render_as_string(hide_password=True), "table": row.table,
            "kind": row.kind, "mapping": row.mapping, "watermark_column": row.watermark_column,
            "watermark": row.watermark, "batch_size": row.batch_size, "active": row.active}


def sources(session: Session) -> list[SyncSource]:
    return list(session.scalars(select(SyncSource).order_by(SyncSource.name)))


def _encode(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _decode(text: str, sample_type):
    """The stored watermark back in the column's own type, for the comparison in SQL."""
    if sample_type is int:
        return int(text)
    if sample_type in (float, Decimal):
        return Decimal(text)
    if sample_type is datetime:
        return datetime.fromisoformat(text)
    if sample_type is date:
        return date.fromisoformat(text)
    return text


@dataclass
class SyncResult:
    batches: int = 0
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    watermark: str | None = None

    def __str__(self) -> str:
        return (f"{self.batches} 批，{self.rows} 行：新增 {self.created}，更新 {self.updated}，"
                f"未变 {self.unchanged}；水位 {self.watermark or '（无）'}")


def _batch(source: SyncSource, table: Table):
    """The next rows past the watermark, in watermark order, and the new watermark. A batch never
    ends inside a run of equal watermark values (those rows would be skipped next time)."""
    mapping = json.loads(source.mapping)
    wm = table.c[source.watermark_column]
    cols = [table.c[c] for c in dict.fromkeys(mapping.values())] + [wm.label("__wm__")]
    stmt = select(*cols).order_by(wm)
    py_type = wm.type.python_type if hasattr(wm.type, "python_type") else str
    if source.watermark is not None:
        stmt = stmt.where(wm > _decode(source.watermark, py_type))
    with _front(source.url).connect() as conn:
        rows = [r._mapping for r in conn.execute(stmt.limit(source.batch_size))]
        if len(rows) == source.batch_size:
            last = rows[-1]["__wm__"]
            rows = [r for r in rows if r["__wm__"] != last]
            rows += [r._mapping for r in conn.execute(select(*cols).where(wm == last))]
    if not rows:
        return [], source.watermark
    return rows, _encode(rows[-1]["__wm__"])


def sync(name: str, *, actor: str = "前置库同步", engine: Engine | None = None,
         max_batches: int | None = None,
         progress: Callable[[int], None] | None = None) -> SyncResult:
    """Pull every row past the watermark, batch by batch, each batch in its own transaction
    with the watermark's move. Raises ImportFailed on a bad batch (recorded, watermark kept)."""
    total = SyncResult()
    while max_batches is None or total.batches < max_batches:
        with db.read_scope(engine) as s:
            source = s.get(SyncSource, name)
            if source is None:
                raise SyncError(f"没有名为“{name}”的同步源（python -m lib sync --list 列出全部）")
            if not source.active:
                raise SyncError(f"同步源“{name}”已停用")
            s.expunge(source)
        kind = exchange.get_kind(source.kind)
        table = _reflect(source.url, source.table)
        rows, new_mark = _batch(source, table)
        if not rows:
            break
        mapping = json.loads(source.mapping)
        cells = [(n, [exchange._cell_text(r[mapping[c.code]]) if mapping.get(c.code) else ""
                      for c in kind.columns]) for n, r in enumerate(rows, start=2)]
        raw = json.dumps([c for _, c in cells], ensure_ascii=False, default=str).encode("utf-8")

        try:
            marks = {n: f"{source.watermark_column}={_encode(r['__wm__'])}"
                     for n, r in enumerate(rows, start=2)}
            result = db.transact(lambda s, k=kind, c=cells, r=raw, m=new_mark, o=source.watermark,
                                 w=marks: _write_batch(s, name, k, c, r, m, o, actor, w), engine)
        except exchange.ImportFailed as exc:
            db.transact(lambda s, k=kind, r=raw, e=exc: _record_failure(s, name, k, r, e, actor),
                        engine)
            raise
        if result is None:
            continue
        total.batches += 1
        total.rows += result.rows
        total.created += result.created
        total.updated += result.updated
        total.unchanged += result.unchanged
        total.watermark = new_mark
        if progress:
            progress(total.rows)
    return total


def _front_row(message: str, marks: dict[int, str]) -> str:
    """'第3行：…' of a batch → '前置表记录（source_column=值）：…', so the operator finds it."""
    line = exchange._line_of(message)
    if line in marks and message.startswith(f"第{line}行："):
        return f"前置表记录（{marks[line]}）：" + message[len(f"第{line}行："):]
    return message


def _write_batch(s: Session, name: str, kind: exchange.Kind, cells, raw: bytes, new_mark: str,
                 old_mark: str | None, actor: str,
                 marks: dict[int, str]) -> exchange.ImportResult | None:
    """One batch and the watermark's move, in the caller's transaction."""
    current = s.get(SyncSource, name)
    if current.watermark != old_mark:
        return None  # another run moved it meanwhile: read again
    header = [c.code for c in kind.columns]
    checked, errors = exchange.check_rows(kind, header, cells)
    if checked:
        errors = sorted(errors + kind.resolve(s, checked), key=exchange._line_of)
    if errors:
        raise exchange.ImportFailed([_front_row(e, marks) for e in errors])
    result = exchange.apply_rows(s, kind, checked, actor)
    exchange.record_run(s, kind=kind.code, actor=actor, source=f"sync:{name}", raw=raw,
                        result=result)
    current.watermark, current.last_run_at = new_mark, now_utc()
    current.last_status = f"成功：{result}，水位 {new_mark}"
    return result


def _record_failure(s: Session, name: str, kind: exchange.Kind, raw: bytes,
                    exc: exchange.ImportFailed, actor: str) -> None:
    current = s.get(SyncSource, name)
    current.last_run_at = now_utc()
    current.last_status = f"失败（水位未动）：{exc.errors[-1]}"[:2000]
    exchange.record_run(s, kind=kind.code, actor=actor, source=f"sync:{name}", raw=raw,
                        failed=exc)
