"""热点与政策: hot issues and policies the administrators publish."""

import streamlit as st

from lib import submissions, ui
from lib.lights import fmt_time

ui.public("hot")
st.title("热点与政策")
with ui.read() as s:
    pages = [(p.category, p.title, p.body, p.updated_at) for p in submissions.content(s)]
if not pages:
    st.info("暂无发布的内容。")
hot, policy = st.tabs(["群众关心的热点", "政策法规"])
for tab, category in ((hot, "hot"), (policy, "policy")):
    with tab:
        shown = [p for p in pages if p[0] == category]
        if not shown:
            st.caption("暂无内容。")
        for _, title, body, at in shown:
            with st.expander(f"{title}（{fmt_time(at)[:10]}）"):
                ui.plain(body)
