"""Data in: one importer design for every kind of record.

A kind (`Kind`) declares its columns (English code and Chinese header, both accepted in a file;
a type; required or not; what it means), the column that identifies a record for re-import,
a `resolve` step that checks the rows against the database (unknown unit, unknown matter …) and
an `apply` step that writes them. Files are CSV (UTF-8 or GB18030) or Excel (.xlsx). Every row is
checked before anything is written, and any problem stops the import with row-numbered Chinese
messages: all rows or none (the caller's transaction). Re-importing a record's key updates it
and records the change in its history.

Kinds register themselves with `register`; `lib.domains` registers the domains' kinds.
Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy.orm import Session

from lib.config import TZ

MAX_ROWS = 1_000_000
MAX_BYTES = 200 * 1024 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@")


class ImportFailed(ValueError):
    """The file was refused; nothing was written. `errors` holds one message per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:50]
        more = f"\n……另有 {len(errors) - 50} 处错误" if len(errors) > 50 else ""
        super().__init__("导入失败，未写入任何数据：\n" + "\n".join(shown) + more)


SAMPLE = 200  # keys kept per outcome, for the preview


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    added_keys: list = field(default_factory=list)  # the first SAMPLE keys created
    changed_keys: list = field(default_factory=list)  # the first SAMPLE keys updated
    # (label, value) to show once to whoever ran the import and never store (activation codes)
    secrets: list = field(default_factory=list)

    def count(self, outcome: str, key=None, n: int = 1) -> None:
        """Count `n` rows with this outcome (created/updated/unchanged); `key` names the record."""
        setattr(self, outcome, getattr(self, outcome) + n)
        keys = {"created": self.added_keys, "updated": self.changed_keys}.get(outcome)
        if keys is not None and key is not None and len(keys) < SAMPLE:
            keys.append(key)

    def merge(self, other: ImportResult) -> None:
        for outcome in ("created", "updated", "unchanged"):
            setattr(self, outcome, getattr(self, outcome) + getattr(other, outcome))
        self.warnings += other.warnings
        self.secrets += other.secrets
        self.added_keys = (self.added_keys + other.added_keys)[:SAMPLE]
        self.changed_keys = (self.changed_keys + other.changed_keys)[:SAMPLE]

    def __str__(self) -> str:
        return (f"共 {self.rows} 行，新增 {self.created}，更新 {self.updated}，"
                f"未变 {self.unchanged}")


@dataclass(frozen=True)
class Column:
    code: str  # English header, e.g. received_at
    label: str  # Chinese header, e.g. 受理时间
    type: str = "text"  # text | int | money | number | date | datetime | bool | choice | limit
    required: bool = True
    help: str = ""  # what the column means (the template's explanation sheet)
    example: str = ""
    choices: tuple[str, ...] = ()  # choice: the allowed codes
    choice_labels: tuple[str, ...] = ()  # choice: Chinese labels accepted for the codes
    max_len: int = 200
    minimum: float | None = None


@dataclass(slots=True)
class Row:
    line: int  # the row's number in the file (the header is row 1)
    values: dict  # column code -> converted value (None when empty)
    refs: dict = field(default_factory=dict)  # what `resolve` found (the unit, the matter …)

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        return self.values.get(key, default)


@dataclass(frozen=True)
class Kind:
    code: str  # the command line's name: items, approvals, tenders …
    label: str  # Chinese name: 监察事项, 行政审批办件 …
    columns: tuple[Column, ...]
    key: str | None  # the column that identifies a record (re-import updates it)
    # Checks against the database; fills row.refs; returns row-numbered error messages.
    resolve: Callable[[Session, list[Row]], list[str]]
    # Writes the rows (already checked); returns what it did.
    apply: Callable[[Session, list[Row], str], ImportResult]
    domain: str | None = None
    description: str = ""
    # The records of this kind as rows keyed by column code (values as the importer reads them),
    # so that an exported file imports back unchanged.
    export: Callable[[Session], Iterable[dict]] | None = None
    # Rows per `apply` call, so a long import shows its progress; None: all rows at once (for
    # kinds whose rows depend on each other).
    chunk: int | None = None
    # Wraps the whole write of a large batch (given the session and the number of rows): a kind
    # may prepare its tables for many rows and put them back after (see lib.importer).
    bulk: Callable[[Session, int], AbstractContextManager] | None = None

    def column(self, code: str) -> Column:
        return next(c for c in self.columns if c.code == code)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.code in KINDS and KINDS[kind.code] is not kind:
        raise ValueError(f"import kind {kind.code} registered twice")
    KINDS[kind.code] = kind
    return kind


def load_kinds() -> dict[str, Kind]:
    """Every importable kind: the core's and the domains'."""
    import lib.domains  # noqa: F401 - registers the domains' kinds
    import lib.importer  # noqa: F401 - registers items
    import lib.kinds  # noqa: F401 - registers units, users, complaints, projects, nodes

    return KINDS


# -- reading files ----------------------------------------------------------------------------

def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailed(["文件编码无法识别：请使用 UTF-8 或 GB18030 编码的 CSV，或 Excel（.xlsx）文件"])


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep="T")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(raw: bytes, filename: str = "") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows (row number, cells as text) of a CSV or .xlsx file."""
    if len(raw) > MAX_BYTES:
        raise ImportFailed([f"文件过大：{len(raw) / 1024 / 1024:.0f} MB，单个文件最多 "
                            f"{MAX_BYTES // 1024 // 1024} MB，请拆分后分批导入"])
    if not raw.strip():
        raise ImportFailed(["文件为空：没有表头，也没有数据行"])
    if raw[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _read_xlsx(raw)
    reader = csv.reader(io.StringIO(_decode(raw)))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFailed(["文件为空：没有表头，也没有数据行"]) from None
    except csv.Error as exc:
        raise ImportFailed([f"第1行：CSV 格式错误（{exc}）"]) from None
    rows = []
    try:
        for record in reader:
            rows.append((reader.line_num, record))
            if len(rows) > MAX_ROWS:
                break
    except csv.Error as exc:
        raise ImportFailed([f"第{reader.line_num}行：CSV 格式错误（{exc}）"]) from None
    return header, rows


def _read_xlsx(raw: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the user's file problem
        raise ImportFailed([f"无法读取 Excel 文件：{exc.__class__.__name__}（请另存为 .xlsx 后重试）"]) \
            from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        header = [_cell_text(v) for v in next(it)]
    except StopIteration:
        raise ImportFailed(["文件为空：没有表头，也没有数据行"]) from None
    while header and not header[-1]:
        header.pop()
    rows = []
    for n, values in enumerate(it, start=2):
        rows.append((n, [_cell_text(v) for v in values][:max(len(header), 1) + 5]))
        if len(rows) > MAX_ROWS:
            break
    wb.close()
    return header, rows


# -- checking rows ------------------------------------------------------------------------------

def parse_time(text: str) -> datetime:
    """ISO time (a space or T between date and time); no offset means Asia/Shanghai."""
    value = datetime.fromisoformat(text.strip().replace("/", "-"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    return value


def parse_date(text: str) -> date:
    t = text.strip().replace("/", "-")
    if "T" in t or " " in t:
        t = t.replace(" ", "T").split("T", 1)[0]
    return date.fromisoformat(t)


def _convert(col: Column, text: str):
    """The cell's value for its column, or raise ValueError with the reason in Chinese."""
    if col.type == "text":
        if len(text) > col.max_len:
            raise ValueError(f"超过 {col.max_len} 个字符")
        return text
    if col.type in ("int", "money", "number"):
        cleaned = text.replace(",", "").replace("，", "").replace("¥", "").replace("元", "")
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            raise ValueError(f"不是数字：“{text}”") from None
        if not number.is_finite():
            raise ValueError(f"不是数字：“{text}”")
        if col.minimum is not None and number < Decimal(str(col.minimum)):
            raise ValueError(f"不能小于 {col.minimum:g}")
        if col.type == "int":
            if number != number.to_integral_value():
                raise ValueError(f"必须是整数：“{text}”")
            return int(number)
        if col.type == "money":
            if number.as_tuple().exponent < -2:
                raise ValueError(f"金额最多两位小数：“{text}”")
            return number.quantize(Decimal("0.01"))
        return float(number)
    if col.type == "date":
        try:
            return parse_date(text)
        except ValueError:
            raise ValueError(f"无效：“{text}”（示例：2026-03-02）") from None
    if col.type == "datetime":
        try:
            value = parse_time(text)
        except ValueError:
            raise ValueError(f"无效：“{text}”（示例：2026-03-02T09:30）") from None
        if len(text.strip()) == 10:  # a bare date: the start of that day
            value = datetime.combine(value.date(), time(0, 0), tzinfo=TZ)
        return value
    if col.type == "bool":
        t = text.strip().lower()
        if t in ("1", "是", "true", "yes", "y"):
            return True
        if t in ("0", "否", "false", "no", "n"):
            return False
        raise ValueError(f"应为 1/0（是/否）：“{text}”")
    if col.type == "choice":
        if text in col.choices:
            return text
        if text in col.choice_labels:
            return col.choices[col.choice_labels.index(text)]
        allowed = "、".join(col.choices)
        raise ValueError(f"“{text}”不是可选值（可选：{allowed}）")
    if col.type == "limit":
        from lib.workdays import parse_limit

        return parse_limit(text)  # its ValueError message is already Chinese
    raise AssertionError(f"unknown column type {col.type}")


def _fast(col: Column) -> Callable[[str], object]:
    """The cell converter for a column: `_convert`, with shortcuts for the common cases of the
    types a large file is full of (the answers and messages are `_convert`'s)."""
    if col.type == "datetime":
        def conv(text: str):
            if len(text) > 10 and "/" not in text:  # an ISO time (a bare date takes the long way)
                if text[:4] >= "1992":  # China's offset has been +08:00 all year since 1992
                    try:  # a time without an offset (with one, this fails: the long way)
                        return datetime.fromisoformat(text + "+08:00")
                    except ValueError:
                        pass
                try:
                    value = datetime.fromisoformat(text)
                except ValueError:
                    return _convert(col, text)
                return value.replace(tzinfo=TZ) if value.tzinfo is None else value
            return _convert(col, text)
        return conv
    if col.type == "limit":
        seen: dict[str, object] = {}

        def conv(text: str):  # a few distinct values (5wd, 48h …) in a whole file
            value = seen.get(text)
            if value is None:
                value = seen[text] = _convert(col, text)
            return value
        return conv
    if col.type == "text":
        def conv(text: str):
            if len(text) > col.max_len:
                raise ValueError(f"超过 {col.max_len} 个字符")
            return text
        return conv
    return lambda text: _convert(col, text)


def check_rows(kind: Kind, header: list[str],
               rows: list[tuple[int, list[str]]]) -> tuple[list[Row], list[str]]:
    """Map the header (codes or Chinese labels), convert every cell, and find duplicates of the
    key within the file. Returns the rows and every problem found."""
    by_name = {}
    for c in kind.columns:
        by_name[c.code] = c
        by_name[c.label] = c
    position: dict[str, int] = {}
    problems = []
    for i, h in enumerate(header):
        col = by_name.get(h)
        if col is None:
            if h:
                problems.append(f"第1行：表头含有未知列“{h}”")
            continue
        if col.code in position:
            problems.append(f"第1行：列“{h}”重复")
        position[col.code] = i
    missing = [f"{c.code}（{c.label}）" for c in kind.columns
               if c.required and c.code not in position]
    if missing:
        problems.append(f"第1行：表头缺少列：{'、'.join(missing)}")
    if problems:
        codes = ",".join(c.code for c in kind.columns)
        return [], problems + [f"（{kind.label}的列为：{codes}；也可用中文表头）"]
    if len(rows) > MAX_ROWS:
        return [], [f"文件过大：超过 {MAX_ROWS:,} 行，请拆分后分批导入"]
    out: list[Row] = []
    errors: list[str] = []
    seen: dict = {}
    width = len(header)
    # Per column: its code, where it is in the file, its converter, and what its checks need.
    placed = [(col.code, position.get(col.code), _fast(col), col.required, col.type == "text",
               col) for col in kind.columns]
    key = kind.key
    for line, cells in rows:
        if not "".join(cells).strip():
            continue  # a blank line
        n = len(cells)
        if n > width and any(c.strip() for c in cells[width:]):
            errors.append(f"第{line}行：列数多于表头")
            continue
        values = {}
        row_errors = []
        for code, at, conv, required, is_text, col in placed:
            text = cells[at].strip() if at is not None and at < n else ""
            if not text:
                if required:
                    row_errors.append(f"{col.label} {code} 为空")
                values[code] = None
                continue
            if text[0] in "='":  # a formula, or a value neutralized on export
                if is_text and text[0] == "=":
                    row_errors.append(f"{col.label} {code} 以“=”开头，疑似表格公式，请填写数值或文字本身")
                    continue
                if text[0] == "'" and text[1:2] in FORMULA_PREFIXES:
                    text = text[1:]  # neutralized on export (see `safe_cell`): the value itself
            try:
                values[code] = conv(text)
            except ValueError as exc:
                row_errors.append(f"{col.label} {code} {exc}")
        if key and not row_errors and values.get(key) is not None:
            k = values[key]
            if k in seen:
                key_col = kind.column(key)
                row_errors.append(f"{key_col.label} {key_col.code} “{k}” 与第{seen[k]}行重复")
            else:
                seen[k] = line
        if row_errors:
            errors.extend(f"第{line}行：{e}" for e in row_errors)
        else:
            out.append(Row(line, values))
    if not out and not errors:
        errors.append("文件为空：只有表头，没有数据行")
    return out, errors


def validate(session: Session, kind: Kind, raw: bytes, filename: str = "") -> list[Row]:
    """Every check, nothing written: the rows ready to apply, or ImportFailed with all problems."""
    header, table = read_table(raw, filename)
    rows, errors = check_rows(kind, header, table)
    if rows:  # the rows that read well are checked against the database too: all problems at once
        errors = sorted(errors + kind.resolve(session, rows), key=_line_of)
    if errors:
        raise ImportFailed(errors)
    return rows


def _line_of(message: str) -> int:
    """Sort key: the row number a message starts with (第N行：…), header problems first."""
    if message.startswith("第") and "行" in message:
        try:
            return int(message[1:message.index("行")])
        except ValueError:
            pass
    return 0


def get_kind(kind_code: str) -> Kind:
    kind = load_kinds().get(kind_code)
    if kind is None:
        raise ImportFailed([f"未知的数据类别“{kind_code}”（可选：{'、'.join(sorted(KINDS))}）"])
    return kind


def apply_rows(session: Session, kind: Kind, rows: list[Row], actor: str,
               progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Write checked rows, in chunks when the kind allows (reporting progress after each)."""
    size = kind.chunk or len(rows) or 1
    result = ImportResult(rows=len(rows))
    with kind.bulk(session, len(rows)) if kind.bulk else nullcontext():
        for start in range(0, len(rows), size):
            result.merge(kind.apply(session, rows[start:start + size], actor))
            if progress:
                progress(min(start + size, len(rows)), len(rows))
        session.flush()
    return result


GC_PAUSE_BYTES = 1_000_000  # files from this size are read with the cycle collector paused


@contextmanager
def _collector_paused(size: int) -> Iterator[None]:
    """A large file becomes millions of small objects (rows, their cells, times) that live until
    the import ends; Python's cycle collector would walk them all again and again as they are
    made (a third of a million-row import's time). None of them form cycles, so the collector
    is paused while the file is read and written, and resumed (as it was) after."""
    if size < GC_PAUSE_BYTES or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def import_bytes(session: Session, kind_code: str, raw: bytes, *, filename: str = "",
                 actor: str = "导入", progress: Callable[[int, int], None] | None = None,
                 record: bool = True) -> ImportResult:
    """Check the whole file, then write it, and record the run in the import history; the
    caller's transaction makes it all or nothing."""
    kind = get_kind(kind_code)
    with _collector_paused(len(raw)):
        rows = validate(session, kind, raw, filename)
        result = apply_rows(session, kind, rows, actor, progress)
    if record:
        record_run(session, kind=kind.code, actor=actor, source=Path(filename).name or "上传文件",
                   raw=raw, result=result)
    return result


def record_run(session: Session, *, kind: str, actor: str, source: str, raw: bytes | None,
               result: ImportResult | None = None, failed: ImportFailed | None = None) -> None:
    """One line of the import history (and of the audit trail)."""
    from lib import audit
    from lib.clock import now_utc
    from lib.models import ImportRun

    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    r = result or ImportResult()
    run = ImportRun(at=now_utc(), actor=actor[:64], kind=kind, source=source[:100], sha256=digest,
                    rows=r.rows, created=r.created, updated=r.updated, unchanged=r.unchanged,
                    refused=_refused_rows(failed) if failed else 0,
                    status="failed" if failed else "ok",
                    message=("\n".join(failed.errors[:20]) if failed else
                             "\n".join(r.warnings[:20]) or None))
    session.add(run)
    audit.record(session, actor=actor[:64], action="data.import", entity="import", entity_id=kind,
                 after={"source": source[:100], "sha256": digest, "rows": r.rows,
                        "created": r.created, "updated": r.updated, "unchanged": r.unchanged,
                        "status": run.status, "refused": run.refused})


def _refused_rows(failed: ImportFailed) -> int:
    return len({_line_of(e) for e in failed.errors if _line_of(e) > 1})


def run_import(kind_code: str, raw: bytes, *, filename: str, actor: str, engine=None,
               progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """An import as the page and the command line run it: in one transaction (retried on a
    transient lock), and when the file is refused, the refusal itself is recorded in the
    history (in its own transaction, since the import's was rolled back)."""
    from lib import db

    try:
        return db.transact(lambda s: import_bytes(s, kind_code, raw, filename=filename,
                                                  actor=actor, progress=progress), engine)
    except ImportFailed as exc:
        db.transact(lambda s, e=exc: record_run(s, kind=kind_code, actor=actor,
                                                source=Path(filename).name or "上传文件",
                                                raw=raw, failed=e), engine)
        raise


@dataclass
class Preview:
    """What an import would do, found by doing it and rolling it back."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    refused: int = 0
    added_keys: list = field(default_factory=list)
    changed_keys: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def preview(session: Session, kind_code: str, raw: bytes, filename: str = "") -> Preview:
    """Check the file and run the import inside a savepoint that is then rolled back: the exact
    counts of what would be added, changed and left alone, or every refused row with its reason.
    Nothing is written. Needs a write transaction (the savepoint takes SQLite's write lock)."""
    kind = get_kind(kind_code)
    try:
        rows = validate(session, kind, raw, filename)
    except ImportFailed as exc:
        return Preview(errors=exc.errors, refused=_refused_rows(exc))
    savepoint = session.begin_nested()
    try:
        result = apply_rows(session, kind, rows, "预览")
    finally:
        savepoint.rollback()
    return Preview(rows=len(rows), created=result.created, updated=result.updated,
                   unchanged=result.unchanged, added_keys=result.added_keys,
                   changed_keys=result.changed_keys, warnings=result.warnings)


def import_file(session: Session, kind_code: str, path: Path, *,
                actor: str = "导入") -> ImportResult:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed([f"无法读取文件：{path}（{exc.strerror}）"]) from exc
    return import_bytes(session, kind_code, raw, filename=str(path), actor=actor)


def row_error(row: Row, message: str) -> str:
    return f"第{row.line}行：{message}"


# -- data out: templates and exports ---------------------------------------------------------

TYPE_NAMES = {"text": "文字", "int": "整数", "money": "金额（元，最多两位小数）", "number": "数字",
              "date": "日期（如 2026-03-02）", "datetime": "时间（如 2026-03-02T09:30，北京时间）",
              "bool": "是否（1/0 或 是/否）", "choice": "可选值", "limit": "时限（如 10wd、15d、48h）"}


def safe_cell(value):
    """A value for a spreadsheet cell: text beginning with = + - @ would be run as a formula
    when the file is opened, so it gets a leading apostrophe (the importer takes it off)."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


def template_xlsx(kind: Kind) -> bytes:
    """An Excel template: the Chinese headers and an example row, and a sheet that explains
    every column (code, meaning, type, required, choices)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "数据"
    ws.append([c.label for c in kind.columns])
    ws.append([safe_cell(c.example) for c in kind.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for i, c in enumerate(kind.columns, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = max(12, len(c.label) * 2 + 4,
                                                                      len(c.example) + 4)
    doc = wb.create_sheet("填写说明")
    doc.append(["中文表头", "英文列名", "类型", "必填", "说明", "示例", "可选值"])
    for cell in doc[1]:
        cell.font = Font(bold=True)
    for c in kind.columns:
        choices = "、".join(f"{code}（{label}）" if label else code for code, label in
                           zip(c.choices, c.choice_labels or ("",) * len(c.choices), strict=False))
        doc.append([c.label, c.code, TYPE_NAMES[c.type], "是" if c.required else "否", c.help,
                    safe_cell(c.example), choices])
    doc.append([])
    doc.append([f"说明：第一行为表头（中文表头或英文列名均可），从第二行起每行一条{kind.label}。"
                "整个文件全部通过校验才会写入；任何一行有误，全部不写入，并逐行列出原因。"
                + (f"以“{kind.column(kind.key).label}”识别记录：再次导入同一编号即更新该记录，并记入历史。"
                   if kind.key else "")])
    for col, width in zip("ABCDEFG", (14, 16, 22, 6, 60, 22, 40), strict=True):
        doc.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text(col: Column, value) -> str:
    if value is None:
        return ""
    if col.type == "datetime" and isinstance(value, datetime):
        return value.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S")
    if col.type == "date" and isinstance(value, date):
        return value.isoformat()
    if col.type == "bool":
        return "1" if value else "0"
    if col.type == "money":
        return f"{Decimal(str(value)):.2f}"
    return str(value)


def export_table(session: Session, kind_code: str) -> tuple[list[str], list[list[str]]]:
    """The kind's records as the importer reads them: English codes as the header."""
    kind = get_kind(kind_code)
    if kind.export is None:
        raise ImportFailed([f"{kind.label}暂不支持导出"])
    header = [c.code for c in kind.columns]
    rows = [[_text(c, record.get(c.code)) for c in kind.columns] for record in kind.export(session)]
    return header, rows


def write_csv(header: list[str], rows: Iterable[list], out) -> None:
    """CSV (UTF-8 with a BOM, so spreadsheets read the Chinese), formula cells neutralized."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell(v) for v in row])


def xlsx_bytes(header: list[str], rows: Iterable[list], sheet: str = "数据") -> bytes:
    """An .xlsx of one sheet, formula cells neutralized (written as text)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.append(header)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def history(session: Session, user, limit: int = 200) -> list:
    """The latest import runs, newest first (who, when, kind, source, counts, the file's hash)."""
    from sqlalchemy import select

    from lib.access import require
    from lib.models import ImportRun

    require(user, "view_data")
    return list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))
