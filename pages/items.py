"""监察事项: every supervised item in view, its light and why; staff record completions."""

from datetime import datetime, time

import pandas as pd
import streamlit as st

from lib import access, flags, items, ui, views
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.config import TZ
from lib.lights import badge, fmt_time, light_of

user = ui.require("items")

# -- Filters (kept in the URL: a link opens the same list) ----------------------------------
view, flt = ui.item_filters(user, "items")
as_of = flt.as_of
st.title("监察事项")
st.caption(f"{ui.describe(view, user)} · 截至 {fmt_time(as_of)} · "
           f"{views.WINDOW_LABELS[view.window]}内在办及办结的事项")

# -- List: urgent first, all of them, page by page ------------------------------------------
result = ui.item_list(user, flt, key="items", empty="没有符合条件的事项。可放宽筛选条件（领域、灯色、"
                      "办理状态、统计区间），清空搜索，或选择其他日期。")

# -- One item: why, history, and the completion form ------------------------------------------
st.subheader("事项详情")
wanted = st.query_params.get("item")  # a deep link: ?item=事项编号
labels = {r.external_id: f"{badge(r.light)} · {r.external_id} · {r.title or ''}" for r in result.rows}
choices = list(labels)
if wanted and wanted not in choices:
    choices = [wanted] + choices
if not choices:
    st.caption("在上方列表中有事项时，可在此查看详情。")
    st.stop()
if st.session_state.get("picked_item") not in choices or wanted != st.session_state.get("_item_link"):
    # A link (or the back button) names the item; otherwise the most urgent one on this page.
    st.session_state["picked_item"] = wanted if wanted else choices[0]
st.session_state["_item_link"] = wanted
picked = st.selectbox("选择事项（可输入编号搜索）", choices, key="picked_item",
                      index=ui.keep_index("picked_item", choices),
                      format_func=lambda x: labels.get(x, x))
if picked != (wanted or choices[0]):  # the user chose: the URL names it
    ui.set_url_param("items", "item", picked)
    st.session_state["_item_link"] = picked

try:
    with ui.read() as s:
        item = items.find_item(s, user, picked)
        sub = item.subsystem
        unit_name = item.unit.name
        handler_name = items.handler_name(s, user, item) or "—"
        events = items.history(s, user, item.id)
        finding = flags.finding_of_item(s, item.id)
except (PermissionDenied, items.ItemError) as exc:
    st.error(f"无法查看该事项：{exc}")
    st.stop()

lt = light_of(item, as_of, sub.yellow_pct)
left, right = st.columns([3, 2])
with left:
    st.markdown(f"#### {item.title or item.external_id}")
    limit = items.limit_of(item, sub)
    if finding is not None:  # a rule's card: found and judged at one moment, no time limit
        st.markdown(
            f"- 事项编号：`{item.external_id}`\n- 子系统：{sub.name}\n- 责任单位：{unit_name}\n"
            f"- 来源：规则 {finding[0]}（{finding[1]}）的发现，发现即判定亮牌，不计办理时限\n"
            f"- 发生时间：{fmt_time(item.received_at)}")
    else:
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
    ui.table(pd.DataFrame([{"时间": fmt_time(e.at), "环节": items.event_label(e.kind),
                                "操作人": access.actor_for(user, e.actor), "说明": items.event_note(user, e)}
                               for e in events]), "办理记录", key="item_events")

if access.can(user, "update_items") and item.state == "open":
    st.markdown("**办结登记**")
    now_local = now_utc().astimezone(TZ)
    with st.form("complete_item", clear_on_submit=False):
        c1, c2 = st.columns(2)
        done_day = c1.date_input("办结日期", value=now_local.date(), format="YYYY-MM-DD")
        done_time = c2.time_input("办结时间", value=time(now_local.hour, now_local.minute))
        note = st.text_area("办理说明", max_chars=500, placeholder="办理结果、文书编号等")
        version = int(item.updated_at.timestamp()) if item.updated_at else None
        if st.form_submit_button("确认办结", type="primary"):
            completed_at = datetime.combine(done_day, done_time, tzinfo=TZ)
            try:
                ui.write(lambda s: items.record_completion(s, user, items.Completion(
                    item_id=item.id, completed_at=completed_at, note=note,
                    seen_version=version)))
            except (PermissionDenied, items.ItemError) as exc:
                st.error(f"未保存：{exc}")
            else:
                ui.clear_data_caches()
                st.success(f"已登记办结：{item.external_id}，办结时间 {fmt_time(completed_at)}")
                st.rerun()
