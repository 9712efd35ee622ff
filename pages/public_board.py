"""答复公开: answered consultations and suggestions, published by inspectors without personal data."""

import streamlit as st

from lib import submissions, ui
from lib.lights import fmt_time

ui.public("board")
st.title("答复公开")
st.caption("以下咨询和建议的答复经纪检监察机关审核公开，已删除个人信息。")
with ui.read() as s:
    rows = [(r.kind, r.public_question, r.public_answer, r.answered_at, r.unit_id)
            for r in submissions.board(s)]
    units = dict(ui.catalog_frames(ui.url())["units"][["unit_id", "unit"]].values)
if not rows:
    st.info("暂无公开的答复。")
for kind, question, answer, at, unit_id in rows:
    with st.container(border=True):
        st.markdown(f"**【{submissions.KINDS[kind][0]}】**")
        ui.plain(question)
        st.markdown(f"**{units.get(unit_id, '')} 答复**（{fmt_time(at)}）")
        ui.plain(answer)
