"""监察事项: every supervised item in view, its light and why; staff record completions."""

from datetime import datetime, time

import pandas as pd
import streamlit as st

from lib import access, items, ui
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.config import TZ
from lib.lights import LABELS, fmt_time, light_for

user = ui.require("items")
url = ui.url()
cat = ui.catalog_frames(url)
own_unit = access.unit_scope(user)

# -- Filters --------------------------------------------------------------------------------
st.sidebar.header("筛选")
day = st.sidebar.date_input("查看日期", value=ui.today_local(), max_value=ui.today_local(),
                            format="YYYY-MM-DD")
window_name = st.sidebar.selectbox("统计区间", list(ui.WINDOWS), index=2)
domains = {"全部": None} | dict(zip(cat["domains"]["domain"], cat["domains"]["domain_code"], strict=True))
domain_name = st.sidebar.selectbox("领域", list(domains))
subs = cat["subsystems"].merge(cat["domains"], on="domain_id")
if domains[domain_name]:
    subs = subs[subs["domain_code"] == domains[domain_name]]
subsystems = {"全部": None} | dict(zip(subs["subsystem"], subs["subsystem_code"], strict=True))
subsystem_name = st.sidebar.selectbox("子系统", list(subsystems))
light_names = {"全部": None} | {v: k for k, v in LABELS.items()}
light_name = st.sidebar.selectbox("灯色", list(light_names))
region_id = unit_id = None
if own_unit is None:
    counties = cat["counties"]
    region_name = st.sidebar.selectbox("区县", ["全部"] + list(counties["region"]))
    if region_name != "全部":
        region_id = int(counties.loc[counties["region"] == region_name, "region_id"].iloc[0])
    units = cat["units"]
    unit_name = st.sidebar.selectbox("责任单位", ["全部"] + list(units["unit"]))
    if unit_name != "全部":
        unit_id = int(units.loc[units["unit"] == unit_name, "unit_id"].iloc[0])
search = st.sidebar.text_input("事项编号", max_chars=64, placeholder="如 APPROVAL-2026-0000123")

as_of = ui.as_of_for(day)
st.title("监察事项")
scope = f"{user.unit_name}（本单位）" if own_unit is not None else "全市"
st.caption(f"{scope} · 截至 {fmt_time(as_of)} · {window_name}内在办及办结的事项 · 最多显示 500 件，"
           "按办理期限由近及远排列")

# -- List -----------------------------------------------------------------------------------
rows = ui.list_items(url, user, as_of, ui.WINDOWS[window_name], light_names[light_name],
                     domains[domain_name], subsystems[subsystem_name], region_id, unit_id,
                     search.strip() or None)
if not rows:
    st.info("没有符合条件的事项。可放宽筛选条件（领域、灯色、统计区间），或选择其他日期。")
else:
    table = ui.items_frame(rows)
    counts = table["灯色"].value_counts()
    st.markdown("　".join(f"{k} **{v}**" for k, v in counts.items()))
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("导出 Excel", ui.excel_bytes({"监察事项": table}),
                       file_name=f"监察事项_{day:%Y%m%d}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# -- One item: why, history, and the completion form ------------------------------------------
st.subheader("事项详情")
wanted = st.query_params.get("item")  # a deep link: ?item=事项编号
choices = [r.external_id for r in rows]
if wanted and wanted not in choices:
    choices = [wanted] + choices
if not choices:
    st.caption("在上方列表中有事项时，可在此查看详情。")
    st.stop()
if wanted and wanted != st.session_state.get("_item_link"):
    st.session_state["picked_item"] = wanted  # a new link wins over the earlier choice
st.session_state["_item_link"] = wanted
if st.session_state.get("picked_item") not in choices:
    st.session_state["picked_item"] = choices[0]
picked = st.selectbox("选择事项", choices, key="picked_item")
if picked != wanted:
    st.query_params["item"] = picked
    st.session_state["_item_link"] = picked

try:
    with ui.session() as s:
        item = items.find_item(s, user, picked)
        sub = item.subsystem
        unit_name = item.unit.name
        handler_name = items.handler_name(s, user, item) or "—"
        events = items.history(s, user, item.id)
except (PermissionDenied, items.ItemError) as exc:
    st.error(f"无法查看该事项：{exc}")
    st.stop()

lt = light_for(received_at=item.received_at, deadline=item.deadline,
               completed_at=item.completed_at, as_of=as_of, yellow_pct=sub.yellow_pct,
               card_cancelled=item.card_cancelled)
left, right = st.columns([3, 2])
with left:
    st.markdown(f"#### {item.title or item.external_id}")
    limit = items.limit_of(item, sub)
    st.markdown(
        f"- 事项编号：`{item.external_id}`\n- 子系统：{sub.name}\n- 责任单位：{unit_name}\n"
        f"- 经办人：{handler_name}\n- 时限：{limit.label()}"
        f"{'（本事项承诺时限）' if item.limit_value else '（子系统默认）'}\n"
        f"- 受理时间：{fmt_time(item.received_at)}\n- 办理期限：{fmt_time(item.deadline)}\n"
        f"- 办结时间：{fmt_time(item.completed_at)}")
    if lt is None:
        st.info(f"截至 {fmt_time(as_of)}，该事项尚未受理。")
    else:
        st.markdown("**为什么是这个灯色？**")
        ui.explain(ui.as_item_row(item, sub, unit_name, lt))
with right:
    st.markdown("**办理记录**")
    st.dataframe(pd.DataFrame([{"时间": fmt_time(e.at), "环节": e.kind, "操作人": e.actor,
                                "说明": e.note or ""} for e in events]),
                 hide_index=True, width="stretch")

if access.can(user, "update_items") and item.state == "open":
    st.markdown("**办结登记**")
    now_local = now_utc().astimezone(TZ)
    with st.form("complete_item", clear_on_submit=False):
        c1, c2 = st.columns(2)
        done_day = c1.date_input("办结日期", value=now_local.date(), max_value=now_local.date(),
                                 format="YYYY-MM-DD")
        done_time = c2.time_input("办结时间", value=time(now_local.hour, now_local.minute))
        note = st.text_area("办理说明", max_chars=500, placeholder="办理结果、文书编号等")
        version = int(item.updated_at.timestamp()) if item.updated_at else None
        if st.form_submit_button("确认办结", type="primary"):
            completed_at = datetime.combine(done_day, done_time, tzinfo=TZ)
            try:
                with ui.session() as s:
                    items.record_completion(s, user, items.Completion(
                        item_id=item.id, completed_at=completed_at, note=note,
                        seen_version=version))
            except (PermissionDenied, items.ItemError) as exc:
                st.error(f"未保存：{exc}")
            else:
                ui.clear_data_caches()
                st.success(f"已登记办结：{item.external_id}，办结时间 {fmt_time(completed_at)}")
                st.rerun()
