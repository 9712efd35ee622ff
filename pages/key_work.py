"""重点工作与项目: key tasks under supervision, and key projects node by node — progress,
lights by the published rules, a timeline, the notices and history; staff report progress."""

import pandas as pd
import streamlit as st

from lib import charts, items, projects, queries, ui
from lib.access import PermissionDenied, actor_for, can, unit_scope
from lib.config import TZ
from lib.lights import RED, badge, fmt_time

user = ui.require("key_work")
url = ui.url()
as_of = ui.as_of_for(ui.today_local())

st.title("重点工作与重点项目")
fig = ui.source_figures(url, as_of)
c = st.columns(4)
c[0].metric("重点工作督办完成", f"{fig.key_tasks_completed:,} 项")
c[1].metric("按时办结率", f"{fig.key_task_on_time_rate:.0%}" if fig.key_task_on_time_rate else "—")
c[2].metric("重点项目", f"{fig.projects} 个", help=f"已完成 {fig.projects_completed} 个")
c[3].metric("节点按时完成率", f"{fig.node_on_time_rate:.0%}" if fig.node_on_time_rate else "—")

tab_tasks, tab_projects = st.tabs(["重点工作", "重点项目"])
with tab_tasks:
    states = {"open": "在办", "closed": "已办结", "": "全部"}
    state = st.segmented_control("办理状态", list(states), format_func=states.get, default="open",
                                 key="key_work.state", required=True)
    tasks = queries.ItemFilter(as_of=as_of, window_days=365, subsystem_code="KEYWORK",
                               state=state or None)
    st.caption(f"{states[state or '']}的重点工作（近一年内在办或办结的）")
    ui.item_list(user, tasks, key="key_work", export_name="重点工作",
                 empty="没有符合条件的重点工作。")

with tab_projects:
    yellow_pp, red_pp = ui.project_thresholds(url)
    st.caption(f"节点灯色：落后计划 {yellow_pp}–{red_pp} 个百分点黄灯，超过 {red_pp} 个百分点红灯；资金拨付逾期红灯；"
               "连续两次黄灯转红灯。项目滞后：开工日 +（计划完工日 − 开工日）× 完成进度 < 今天。")
    with ui.read() as s:
        rows = projects.projects(s, user, as_of)
    if not rows:
        st.info("本单位没有牵头的重点项目：重点项目按牵头单位列示，本单位牵头的项目在此显示，"
                "并可报告其节点进度。" if unit_scope(user) is not None else
                "还没有重点项目。" + ui.import_hint(user, "projects", "nodes"))
        st.stop()
    ui.table(pd.DataFrame([{
        "灯色": badge(r["light"]), "编号": r["code"], "项目": r["name"], "责任单位": r["unit"],
        "区县": r["region"], "完成进度": f"{r['progress']}%", "节点": f"{r['nodes_done']}/{r['nodes']}",
        "状态": "已完成" if r["completed"] else ("滞后" if r["behind"] else "在建"),
        "计划完工": r["due"].isoformat(),
    } for r in rows]), "重点项目", key="kw_projects")
    by_id = {r["id"]: r for r in rows}
    pid = st.selectbox("查看项目", list(by_id), key="project_pick", format_func=lambda i: f"{by_id[i]['code']} · {by_id[i]['name']}")
    with ui.read() as s:
        ns = projects.nodes(s, user, pid, as_of)
    ui.chart(charts.project_timeline(ns, as_of.astimezone(TZ).date()))
    ui.table(pd.DataFrame([{
        "灯色": badge(n["light"]), "节点": n["node"], "计划": f"{n['planned_start']} 至 {n['planned_end']}",
        "完成进度": f"{n['percent_done']}%", "完成时间": fmt_time(n["completed_at"]),
        "原因": n["reason"], "督办通知": f"#{n['notice_id']}" if n["notice_id"] else "",
    } for n in ns]), "项目节点", key="kw_nodes")
    node_ids = {n["item_id"]: n for n in ns}
    nid = st.selectbox("节点记录", list(node_ids), key="node_pick", format_func=lambda i: f"{node_ids[i]['seq']}. {node_ids[i]['node']}")
    with ui.read() as s:
        history = [(e.at, e.kind, actor_for(user, e.actor), e.note)
                   for e in items.history(s, user, nid)]
    ui.table(pd.DataFrame([{"时间": fmt_time(a), "环节": items.event_label(k), "操作人": who,
                            "说明": note or ""}
                               for a, k, who, note in history]), "节点办理记录", key="kw_history")
    node = node_ids[nid]
    if can(user, "update_items") and node["completed_at"] is None:
        with st.form("node_update"):
            st.markdown(f"**报告“{node['node']}”进度**")
            percent = st.slider("完成进度（%）", 0, 100, int(node["percent_done"]), step=5)
            note = st.text_input("说明（进度下降时必填）", max_chars=500)
            if st.form_submit_button("提交", type="primary"):
                try:
                    light = ui.write(
                        lambda s: projects.update_node(s, user, nid, int(percent), note).light)
                except (projects.ProjectError, PermissionDenied) as exc:
                    st.error(f"未提交：{exc}")
                else:
                    ui.clear_data_caches()
                    (st.warning if light == RED else st.success)(f"已提交：{percent}%，{badge(light)}")
