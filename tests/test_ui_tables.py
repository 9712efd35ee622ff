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
