"""村务公开: anyone browses county → town → village and reads what each village disclosed
(党务, 村务, 财务, 重大事项; finances with their table); each reading is counted. A villager may
ask about a disclosure; the village must answer within 10 days."""

import pandas as pd
import streamlit as st

from lib import ui
from lib.domains.disclosure import queries as dq
from lib.domains.disclosure import service as ds
from lib.lights import fmt_time

ui.public("villages")
st.title("村务公开")
st.caption("全市各行政村的党务、村务、财务公开和重大事项公开。对公开内容有疑问，可以在下方提问，"
           "所在乡镇须在 10 日内答复，逾期未答复的由纪检监察机关督办。")


@st.cache_data(ttl=600, show_spinner=False)
def places(url: str) -> pd.DataFrame:
    with ui.read() as s:
        return dq.villages(s)


villages = places(ui.url())
if villages.empty:
    st.info("暂无行政村的公开信息。")
    st.stop()
c1, c2, c3 = st.columns(3)
counties = dict(villages.drop_duplicates("county_id")[["county_id", "county"]].itertuples(index=False))
county = c1.selectbox("县（市、区）", list(counties), format_func=counties.get, key="pv_county")
in_county = villages[villages["county_id"] == county]
towns = dict(in_county.drop_duplicates("town_id")[["town_id", "town"]].itertuples(index=False))
town = c2.selectbox("乡镇（街道）", list(towns), format_func=towns.get, key=f"pv_town_{county}")
in_town = in_county[in_county["town_id"] == town]
names = dict(in_town[["village_id", "village"]].itertuples(index=False))
village = c3.selectbox("行政村", list(names), format_func=names.get, key=f"pv_village_{town}")

cats = {"": "全部"} | ds.CATEGORIES
category = st.segmented_control("类别", list(cats), format_func=cats.get, default="",
                                key="pv_category") or ""
with ui.read() as s:
    docs = dq.disclosures(s, int(village), ui.as_of_for(ui.today_local()), category or None)
if not docs:
    st.info(f"{names[village]}暂无{cats[category] if category else ''}公开内容。")
    st.stop()
st.caption(f"{names[village]}共 {len(docs)} 条公开（最新在前）")
by_id = {d.id: d for d in docs[:200]}
pick = st.selectbox("选择公开内容", list(by_id), key=f"pv_doc_{village}_{category}",
                    format_func=lambda i: f"{fmt_time(by_id[i].published_at)[:10]} · "
                                          f"{ds.CATEGORIES[by_id[i].category]} · {by_id[i].title}")
d = by_id[pick]
seen = st.session_state.setdefault("pv_seen", set())
views = d.views
if d.id not in seen:
    try:
        views = ui.write(lambda s: ds.record_view(s, d.id))
    except ds.DisclosureError:
        pass
    seen.add(d.id)
with st.container(border=True):
    st.subheader(ui.esc(d.title))
    st.caption(f"{ds.CATEGORIES[d.category]} · {ds.parse_period(d.period).label} · 公开于 "
               f"{fmt_time(d.published_at)} · 浏览 {views:,} 次")
    ui.plain(d.body)
    if d.finance:
        ui.table(dq.finance_table(d), "收支明细", key="pv_finance")

with ui.read() as s:
    answered = dq.questions(s, d.id, answered_only=True)
st.markdown("**村民问答**")
if not answered:
    st.caption("暂无已答复的提问。")
for q in answered:
    st.markdown(f"**问**（{fmt_time(q.asked_at)}）：{ui.esc(q.question)}  \n"
                f"**答**（{fmt_time(q.answered_at)}）：{ui.esc(q.answer)}")

with st.form("ask", clear_on_submit=True):
    question = st.text_area("我要提问", max_chars=ds.MAX_QUESTION,
                            placeholder="对这条公开内容有什么疑问？（5–1000 字）")
    if st.form_submit_button("提交提问", type="primary"):
        try:
            ui.write(lambda s: ds.ask(s, d.id, question, source=ui.visitor()))
        except ds.DisclosureError as exc:
            st.error(f"未提交：{exc}")
        else:
            ui.clear_data_caches()
            st.success("已提交，所在乡镇须在 10 日内答复，答复后显示在本页。")
