"""CSV import of supervised items (`python -m lib import items FILE.csv`).

Columns: external_id, subsystem, unit, received_at, time_limit, completed_at. `time_limit` is like
10wd, 15d or 48h, or empty for the subsystem's default; times are ISO 8601, Asia/Shanghai when they
carry no offset. All rows or none: every row is checked first, and any error stops the import
with row-numbered messages in Chinese. Re-importing an external_id updates that item.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib.clock import now_utc
from lib.config import TZ
from lib.items import upsert_item
from lib.models import Subsystem, Unit
from lib.workdays import TimeLimit, load_calendar, parse_limit

COLUMNS = ["external_id", "subsystem", "unit", "received_at", "time_limit", "completed_at"]
MAX_ROWS = 200_000


class ImportFailed(ValueError):
    """The file was refused; nothing was written. `errors` holds one message per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:50]
        more = f"\n……另有 {len(errors) - 50} 处错误" if len(errors) > 50 else ""
        super().__init__("导入失败，未写入任何数据：\n" + "\n".join(shown) + more)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    warnings: list[str] = field(default_factory=list)


def parse_time(text: str) -> datetime:
    """ISO time; no offset means Asia/Shanghai."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    return value


@dataclass
class _Row:
    line: int
    external_id: str
    subsystem: Subsystem
    unit: Unit
    received_at: datetime
    limit: TimeLimit | None
    completed_at: datetime | None


def read_rows(text: str) -> list[tuple[int, dict]]:
    if not text.strip():
        raise ImportFailed(["文件为空：没有表头，也没有数据行"])
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"表头缺少列：{'、'.join(missing)}")
        if unknown:
            problems.append(f"表头含有未知列：{'、'.join(unknown)}")
        raise ImportFailed([f"第1行：{p}（应为 {','.join(COLUMNS)}）" for p in problems])
    reader.fieldnames = header
    rows = []
    for record in reader:
        line = reader.line_num
        if None in record:
            rows.append((line, {"__extra__": True}))
            continue
        if all(not (v or "").strip() for v in record.values()):
            continue  # blank line
        rows.append((line, {k: (v or "").strip() for k, v in record.items()}))
    if not rows:
        raise ImportFailed(["文件为空：只有表头，没有数据行"])
    if len(rows) > MAX_ROWS:
        raise ImportFailed([f"文件过大：{len(rows)} 行，单次最多导入 {MAX_ROWS} 行"])
    return rows


def validate(session: Session, text: str) -> list[_Row]:
    """Check every row; raise ImportFailed listing all problems, or return the parsed rows."""
    rows = read_rows(text)
    subsystems = {s.code: s for s in session.scalars(select(Subsystem))}
    units_by_code = {u.code: u for u in session.scalars(select(Unit))}
    units_by_name = {u.name: u for u in units_by_code.values()}
    now = now_utc()
    errors: list[str] = []
    seen: dict[str, int] = {}
    parsed: list[_Row] = []
    for line, r in rows:
        if r.get("__extra__"):
            errors.append(f"第{line}行：列数多于表头")
            continue
        row_errors = []
        ext = r["external_id"]
        if not ext:
            row_errors.append("external_id 为空")
        elif len(ext) > 64:
            row_errors.append("external_id 超过 64 个字符")
        elif ext in seen:
            row_errors.append(f"external_id “{ext}” 与第{seen[ext]}行重复")
        else:
            seen[ext] = line
        sub = subsystems.get(r["subsystem"])
        if sub is None:
            row_errors.append(f"未知子系统代码“{r['subsystem']}”")
        unit = units_by_code.get(r["unit"]) or units_by_name.get(r["unit"])
        if unit is None:
            row_errors.append(f"未知单位“{r['unit']}”（请填写单位代码或全称）")
        received = completed = None
        try:
            if not r["received_at"]:
                raise ValueError
            received = parse_time(r["received_at"])
        except ValueError:
            row_errors.append(f"受理时间 received_at 无效：“{r['received_at']}”（示例：2026-03-02T09:30）")
        if r["completed_at"]:
            try:
                completed = parse_time(r["completed_at"])
            except ValueError:
                row_errors.append(f"办结时间 completed_at 无效：“{r['completed_at']}”")
        limit = None
        if r["time_limit"]:
            try:
                limit = parse_limit(r["time_limit"])
            except ValueError as exc:
                row_errors.append(str(exc))
        if received and received > now:
            row_errors.append("受理时间晚于当前时间")
        if received and completed:
            if completed < received:
                row_errors.append("办结时间早于受理时间")
            if completed > now:
                row_errors.append("办结时间晚于当前时间")
        if received and not row_errors:
            from lib.workdays import FIRST_YEAR, LAST_YEAR

            if not (FIRST_YEAR <= received.astimezone(TZ).year < LAST_YEAR):
                row_errors.append(f"受理时间超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR - 1} 年）")
        if row_errors:
            errors.extend(f"第{line}行：{e}" for e in row_errors)
        else:
            parsed.append(_Row(line, ext, sub, unit, received, limit, completed))
    if errors:
        raise ImportFailed(errors)
    return parsed


def import_items(session: Session, text: str, *, actor: str = "导入") -> ImportResult:
    """Validate all rows, then write them; the caller's transaction makes it all or nothing."""
    parsed = validate(session, text)
    cal = load_calendar(session)
    result = ImportResult(rows=len(parsed))
    for row in parsed:
        _, outcome = upsert_item(
            session, cal, external_id=row.external_id, subsystem=row.subsystem,
            unit_id=row.unit.id, received_at=row.received_at, limit=row.limit,
            completed_at=row.completed_at, actor=actor,
            region_id=row.unit.region_id if row.unit.level == "county" else None,
            note="CSV 导入",
        )
        setattr(result, outcome, getattr(result, outcome) + 1)
    session.flush()
    return result


def import_items_file(session: Session, path: Path, *, actor: str = "导入") -> ImportResult:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed([f"无法读取文件：{path}（{exc.strerror}）"]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportFailed(["文件编码无法识别：请使用 UTF-8 或 GB18030 编码的 CSV"]) from exc
    return import_items(session, text, actor=actor)
