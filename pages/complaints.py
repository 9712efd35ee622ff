"""网络投诉: volumes, forced-response indicators, red cards, the map and satisfaction over time,
down to each submission and its "why"."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from lib import access, charts, geo, items, queries, ui
from lib import submissions as subs
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.lights import RED, SYMBOLS, badge, fmt_time, light_of
from lib.queries import region_summary

user = ui.require("complaints")
url = ui.url()
cat = ui.catalog_frames(url)
units = dict(zip(cat["units"]["unit_id"], cat["units"]["unit"], strict=True))

FEW_RATINGS = 20  # a month's share resting on fewer ratings than this is said to swing

st.title("网络投诉")
# 近一年 by default, as on every other page.
window_name = st.selectbox("统计区间", ["近30天", "近90天", "近一年"], index=2)
days = ui.WINDOWS[window_name]
now = now_utc()
with ui.read() as s:
    df = subs.stats(s, user, since=now - timedelta(days=days), until=now)
    monthly = subs.monthly_ratings(s, user)
if df.empty:
    st.info("所选区间内没有群众诉求。群众可在“我要反映”页面提交，演示数据可通过 python -m lib demo 载入。")
    st.stop()

k = subs.indicators(df)


def pct(x):
    return "—" if x is None or pd.isna(x) else f"{x:.1%}"


c = st.columns(5)
c[0].metric("收到诉求", f"{k['total']:,} 件")
c[1].metric("按时答复率", pct(k["on_time_reply"]))
c[2].metric("及时签收率", pct(k["timely_ack"]))
c[3].metric("回访率", pct(k["callback"]))
c[4].metric("满意率（4–5 分）", pct(k["satisfaction"]))
c = st.columns(5)
c[0].metric("平均评分", "—" if k["avg_rating"] is None else f"{k['avg_rating']:.2f} 分")
c[1].metric("退单率", pct(k["return_rate"]))
c[2].metric("重办次数", f"{k['rework']}")
c[3].metric("问题工单", f"{k['problem_orders']}", help="重办或转办 3 次及以上")
unfinished = ~df["status"].isin(["answered", "closed"])
in_review = int((df["status"] == "replied").sum())
c[4].metric("未办结工单", f"{unfinished.sum():,} 件",
            help=f"尚未办结的工单（待分派、待签收、办理中、待审核答复等），其中单位已答复、待纪检监察机关审核 "
                 f"{in_review:,} 件。驾驶舱和地图的“在办”只计单位尚未答复的事项，故两数不同。")

left, right = st.columns([3, 2])
with left:
    st.subheader("区县红黄绿灯（网络投诉）")
    counts = ui.light_counts(url, user, ui.as_of_for(ui.today_local()), days,
                             ui.subsystem_ids("COMPLAINT"))
    regions = region_summary(counts, cat)
    values = {r["adcode"]: {
        "grade_label": charts.GRADE_LABELS[r["grade"]],
        "map_label": f"{r['region']} {SYMBOLS[r['grade']]}", "total": int(r["total"]),
        "open": int(r["open"]), "red": int(r["red"]), "yellow": int(r["yellow"]),
        "red_rate_text": f"{r['red_rate']:.1%}" if r["total"] else "—",
    } for _, r in regions.iterrows()}
    ui.chart(charts.county_map(geo.merge(geo.county_features(), values), height=380))
    st.caption(f"{queries.AreaThresholds().describe()}。诉求按群众所选区县统计。")
with right:
    st.subheader("按类别")
    by_kind = df.groupby("kind").size().rename(index={k2: v[0] for k2, v in subs.KINDS.items()})
    ui.table(by_kind.rename("件数").reset_index().rename(columns={"kind": "类别"}), "网络投诉_按类别", key="cmp_kind")
    st.subheader("满意度走势")
    if monthly.empty:
        st.caption("暂无评价。")
    else:
        # This month so far is a month of a few days: said on its label, and how few below.
        this_month = ui.today_local().strftime("%Y-%m")
        partial = monthly["月份"] == this_month
        monthly.loc[partial, "月份"] = this_month + "（至今）"
        ui.chart(charts.monthly_share_line(monthly, "满意率", height=180, count="评价数",
                                             unit="条评价"))
        so_far = int(monthly.loc[partial, "评价数"].iloc[0]) if partial.any() else None
        st.caption("每月评为 4–5 分的评价占比，悬停可看评价条数。" + (
            "" if so_far is None else f"本月（至今）依据 {so_far} 条评价"
            + ("，条数少，占比波动较大。" if so_far < FEW_RATINGS else "。")))

st.subheader("各单位办理情况")
rows = []
for unit_id, kk in subs.indicators_by(df, "unit_id").iterrows():
    rows.append({"单位": units.get(unit_id, ""), "诉求": int(kk["total"]),
                 "按时答复率": pct(kk["on_time_reply"]), "及时签收率": pct(kk["timely_ack"]),
                 "满意率": pct(kk["satisfaction"]), "退单率": pct(kk["return_rate"]),
                 "重办": int(kk["rework"])})
unit_table = pd.DataFrame(rows).sort_values("诉求", ascending=False)
ui.table(unit_table, "网络投诉_各单位", key="cmp_units")
st.download_button("导出 Open311 (JSON)", lambda: ui.open311_json(url),
                   file_name="open311_requests.json", on_click="ignore",
                   mime="application/json", help="GeoReport v2 请求列表，不含个人信息（点击时生成）")

st.subheader("红牌诉求")
reds = ui.item_list(user, queries.ItemFilter(as_of=ui.as_of_for(ui.today_local()), window_days=days,
                                             domain_code="COMPLAINT", light=RED),
                    key="complaints_red", export_name="红牌诉求",
                    empty=f"{window_name}内没有红牌诉求。").rows

st.subheader("逐件查看")
with ui.read() as s:
    received = subs.received(s, user, since=now - timedelta(days=days), until=now)
labels = {code: f"{code} · {kind} · {subject} · {status}" for code, kind, subject, status in received}
first_red = reds[0].external_id.split("-")[0] if reds else None
code = st.selectbox(f"选择诉求（{window_name}内共 {len(labels):,} 件，可输入查询码或标题搜索）",
                    list(labels), format_func=labels.get, key="complaint_pick",
                    index=list(labels).index(first_red) if first_red in labels else 0)
if code:
    try:
        with ui.read() as s:
            sub = subs.find_by_code(s, user, code)
            item = items.get_item(s, user, sub.item_id)
            lt = light_of(item, now, item.subsystem.yellow_pct)
            evts = [(e.at, subs.ACTIONS.get(e.action, e.action), access.actor_for(user, e.actor),
                     e.note) for e in subs.events(s, user, sub.id)]
            detail = (sub.kind, sub.subject, sub.body, sub.status, sub.unit_id, sub.reply,
                      sub.rating, sub.anonymous)
    except (subs.SubmissionError, items.ItemError, PermissionDenied) as exc:
        st.error(str(exc))
    else:
        kind, subject, body, status, unit_id, reply, rating, anonymous = detail
        st.markdown(f"**【{subs.KINDS[kind][0]}】{ui.esc(subject)}** · {units.get(unit_id, '')} · "
                    f"{subs.STATUS[status]}" + (f" · 评价 {rating} 分" if rating else ""))
        if access.can(user, "view_staff_names"):
            ui.plain(body)
        else:
            st.caption("（内容可能含个人信息，本角色不予显示）")
        if lt:
            st.markdown(f"**为什么是{badge(lt.light)}？** {lt.reason}")
        if reply:
            st.markdown("**答复**")
            ui.plain(reply)
        ui.table(pd.DataFrame([{"时间": fmt_time(a), "环节": w, "操作人": who,
                                    "说明": note or ""} for a, w, who, note in evts]), "工单办理过程", key="cmp_history")
