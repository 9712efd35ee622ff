"""A ranking as a formatted Excel workbook and as a printable report (HTML, A4 landscape)."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import pandas as pd

from lib.scoring import INDICATORS, LEVELS, Scheme, frame

TITLE = "湛江市行政效能考核排名"
GRADE_FILLS = {"优秀": "C6EFCE", "良好": "E2F0D9", "合格": "FFF2CC", "不合格": "F8CBAD"}


@dataclass(frozen=True)
class ReportMeta:
    period_label: str
    level: str
    status: str  # e.g. "已公布 2026-10-06 00:00（system）" / "实时计算，未公布"
    as_of: str
    digest: str | None = None

    @property
    def heading(self) -> str:
        return f"{TITLE}（{self.period_label} · {LEVELS[self.level]}）"


def _table(rows: list[dict], level: str, with_move: bool) -> pd.DataFrame:
    return frame(rows, level, with_move=with_move)


def excel(rows: list[dict], meta: ReportMeta, scheme: Scheme, *, with_move: bool = False) -> bytes:
    """One sheet with the ranking (title, status, header, one row per entity, grade colours,
    frozen header, filters, landscape page fitted to width) and one with the method."""
    # openpyxl imported when a workbook is made (0.1 s): the pages that offer the export draw
    # without it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    df = _table(rows, meta.level, with_move)
    wb = Workbook()
    ws = wb.active
    ws.title = "排名"
    ncols = max(1, len(df.columns))
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.cell(1, 1, meta.heading).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    status = f"{meta.status}；截至 {meta.as_of}"
    if meta.digest:
        status += f"；SHA-256 {meta.digest}"
    ws.cell(2, 1, status).font = Font(size=9, color="555555")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncols)
    header_fill = PatternFill("solid", fgColor="1F4E79")
    for j, col in enumerate(df.columns, start=1):
        c = ws.cell(3, j, col)
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = header_fill
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        c.border = border
    indicator_cols = {i.label for i in INDICATORS}
    for i, rec in enumerate(df.itertuples(index=False), start=4):
        row = dict(zip(df.columns, rec, strict=True))
        not_ranked = row["名次"] == "不参与排名"
        for j, col in enumerate(df.columns, start=1):
            value = row[col]
            if isinstance(value, float) and pd.isna(value):
                value = None
            c = ws.cell(i, j, value)
            if isinstance(value, str):
                c.data_type = "s"  # text stays text: a name beginning with "=" is no formula
            c.border = border
            if col == "得分":
                c.number_format = "0.00"
            elif col in indicator_cols:
                c.number_format = "0.0"
            if col == "等次" and value in GRADE_FILLS:
                c.fill = PatternFill("solid", fgColor=GRADE_FILLS[value])
            if not_ranked:
                c.font = Font(italic=True, color="777777")
    for j, col in enumerate(df.columns, start=1):
        values = [str(col)] + [str(v) for v in df[col].head(300)]
        width = max(len(v) for v in values)
        ws.column_dimensions[get_column_letter(j)].width = min(max(6, width * 1.7), 48)
    ws.freeze_panes = "A4"
    if len(df):
        ws.auto_filter.ref = f"A3:{get_column_letter(ncols)}{len(df) + 3}"
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    method = wb.create_sheet("考核办法")
    method.cell(1, 1, "考核办法").font = Font(bold=True, size=13)
    r = 2
    for line in scheme.describe():
        method.cell(r, 1, line)
        r += 1
    r += 1
    for j, h in enumerate(("指标", "权重", "计算方法"), start=1):
        method.cell(r, j, h).font = Font(bold=True)
    for ind in INDICATORS:
        r += 1
        method.cell(r, 1, ind.label)
        method.cell(r, 2, scheme.weights[ind.code])
        method.cell(r, 3, ind.how)
    method.column_dimensions["A"].width = 18
    method.column_dimensions["B"].width = 8
    method.column_dimensions["C"].width = 90
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def printable_html(rows: list[dict], meta: ReportMeta, scheme: Scheme, *,
                   with_move: bool = False) -> str:
    """The ranking as a page to print (A4 landscape, Chinese fonts): everything escaped."""
    df = _table(rows, meta.level, with_move)
    esc = html.escape

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "—"
        if isinstance(v, float):
            return f"{v:.2f}"
        return esc(str(v))

    head = "".join(f"<th>{esc(str(c))}</th>" for c in df.columns)
    body = []
    for rec in df.itertuples(index=False):
        row = dict(zip(df.columns, rec, strict=True))
        cls = ' class="nr"' if row["名次"] == "不参与排名" else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell(row[c])}</td>" for c in df.columns)
                    + "</tr>")
    method = "".join(f"<li>{esc(line)}</li>" for line in scheme.describe())
    digest = f"<p class='meta'>校验值（SHA-256）：{esc(meta.digest)}</p>" if meta.digest else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(meta.heading)}</title>
<style>
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       font-size: 10pt; color: #111; }}
h1 {{ font-size: 16pt; text-align: center; margin: 0 0 4pt; }}
.meta {{ text-align: center; color: #444; font-size: 9pt; margin: 2pt 0; word-break: break-all; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 8pt; }}
th, td {{ border: 1px solid #888; padding: 2pt 4pt; text-align: center; }}
th {{ background: #1f4e79; color: #fff; }}
thead {{ display: table-header-group; }}
tr {{ page-break-inside: avoid; }}
tr.nr td {{ color: #777; font-style: italic; }}
ol {{ font-size: 9pt; color: #333; }}
</style></head><body>
<h1>{esc(meta.heading)}</h1>
<p class="meta">{esc(meta.status)}；截至 {esc(meta.as_of)}</p>
{digest}
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2 style="font-size:11pt">考核办法</h2><ol>{method}</ol>
</body></html>"""
