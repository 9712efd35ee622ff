"""审计日志: every write, who and when, before and after; the chain can be verified here."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from lib import audit, ui
from lib.access import actor_for
from lib.config import TZ
from lib.lights import fmt_time

user = ui.require("audit")
SHOWN = 1000  # the newest rows shown (the rest: narrow the filters)

st.title("审计日志")
st.caption("所有写操作（谁、何时、做了什么、修改前后）按时间顺序链式存证，任何一条被修改或删除都会被校验发现。")

with ui.read() as s:
    actions = audit.actions(s)
    actors = audit.actors(s, user)
today = ui.today_local()
c1, c2, c3, c4 = st.columns(4)
picked = c1.date_input("日期范围", value=(today - timedelta(days=7), today), max_value=today,
                       format="YYYY-MM-DD")
if isinstance(picked, (tuple, list)):  # a range is being picked: one date until the second click
    since, until = picked[0], picked[-1]
else:
    since = until = picked
actor = c2.selectbox("操作人（可输入搜索）", ["", *actors], key="audit_actor",
                     format_func=lambda a: actor_for(user, a) if a else "全部")
action = c3.selectbox("操作类型", ["全部"] + actions,
                      format_func=lambda a: a if a == "全部" else audit.action_label(a))
entity_id = c4.text_input("对象编号", max_chars=64, placeholder="事项编号、用户名等")

start = datetime.combine(since, time(0), tzinfo=TZ)
end = datetime.combine(until, time(23, 59, 59), tzinfo=TZ)
filters = {"since": start, "until": end, "actor": actor or None,
           "action": None if action == "全部" else action, "entity_id": entity_id or None}
with ui.read() as s:
    rows = audit.search(s, user, limit=SHOWN, **filters)
    total = audit.count(s, user, **filters) if len(rows) == SHOWN else len(rows)
if not rows:
    st.info("所选条件下没有审计记录。可扩大日期范围或清除筛选条件。")
else:
    cat = ui.catalog_frames(ui.url())
    units, subsystems = cat["units"], cat["subsystems"]
    names = {"unit_id": dict(zip(units["unit_id"], units["unit"], strict=True)),
             "unit": dict(zip(units["unit_code"], units["unit"], strict=True))  # a code or a number
             | dict(zip(units["unit_id"], units["unit"], strict=True)),
             "subsystem_id": dict(zip(subsystems["subsystem_id"], subsystems["subsystem"], strict=True)),
             "region_id": dict(zip(cat["counties"]["region_id"], cat["counties"]["region"], strict=True))}
    frame = pd.DataFrame([{"序号": r["id"], "时间": fmt_time(r["at"]), "操作人": r["actor"],
                           "操作": audit.action_label(r["action"]), "对象": audit.entity_label(r["entity"]),
                           "对象编号": r["entity_id"],
                           "变更内容": audit.describe_change(r["before"], r["after"], names, r["entity"]),
                           "修改前": r["before"], "修改后": r["after"]}
                          for r in (audit.shown(user, x) for x in rows)])
    st.caption(f"共 {total:,} 条，新的在前" + (
        f"；显示最新的 {SHOWN:,} 条，可缩小日期范围或按操作人、操作类型、对象编号筛选查看其余"
        if total > len(frame) else ""))
    ui.table(frame, "审计日志", key="audit_tbl", column_config={
        "变更内容": st.column_config.TextColumn(width="large", help="改了哪些字段（修改前 → 修改后）；"
                                               "新增或只记一方的，列出其主要字段。完整内容见“修改前”“修改后”两列")})

st.subheader("校验审计链")
if st.button("立即校验", type="primary"):
    with st.spinner("正在逐条校验…"), ui.read() as s:
        result = audit.verify(s)
    if result.ok:
        st.success(result.message)
    else:
        st.error(f"审计链断裂：{result.message}")
