"""惠民资金公开: per village, the subsidies paid (relief, farm subsidies, social security), payees'
names masked as village-affairs disclosure requires and amounts shown, so that villagers can
check them. No sign-in; no identity number, account or internal finding."""

import streamlit as st

from lib import ui
from lib.clock import now_utc
from lib.domains.funds import store

ui.public("public_funds")
st.title("惠民资金公开")
st.caption("按村（居）公开扶贫救灾、惠农补贴和社会保障资金的发放情况。依照村务公开的要求，收款人姓名"
           "只显示姓氏，金额如实公开。如发现冒领、优亲厚友、发放不到位等问题，请通过“我要反映”举报。")


@st.cache_data(ttl=600, show_spinner=False)
def places(url_):
    with ui.read() as s:
        return store.public_places(s)


@st.cache_data(ttl=300, show_spinner="正在查询…")
def village_list(url_, village_id, year, day):
    with ui.read() as s:
        return store.public_village(s, village_id, now_utc(), year)


pl = places(ui.url())
if pl.empty:
    st.info("暂无公开的惠民资金发放记录。")
    st.stop()
a, b, c, d = st.columns(4)
county = a.selectbox("县（市、区）", list(dict.fromkeys(pl["county"])), key="pf_county")
towns = pl[pl["county"] == county]
town = b.selectbox("镇（街道）", list(dict.fromkeys(towns["town"])), key="pf_town")
villages = towns[towns["town"] == town]
names = dict(zip(villages["village_id"], villages["village"], strict=True))
vid = c.selectbox("村（居）", list(names), format_func=names.get, key="pf_village")
this_year = ui.today_local().year
year = d.selectbox("年度", [this_year, this_year - 1], key="pf_year")
df = village_list(ui.url(), int(vid), year, ui.today_local())
st.subheader(f"{county}{town}{names[vid]} · {year} 年惠民资金发放")
if df.empty:
    st.info("本村该年度暂无公开的发放记录。")
else:
    total = sum(float(x.replace(",", "")) for x in df["金额（元）"])
    st.markdown(f"共 **{len(df):,}** 笔，合计 **{total:,.2f}** 元")
    for k, (prog, part) in enumerate(df.groupby("项目", sort=False)):
        with st.expander(f"{prog}（{len(part)} 笔）", expanded=k == 0 or len(df) < 60):
            ui.table(part.drop(columns=["项目"]), f"{names[vid]}_{prog}"[:60], key=f"pf_{prog}")
