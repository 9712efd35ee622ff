"""督办通知 (staff): the unit's supervision notices — acknowledge, report the rectification —
and appeals against the unit's red cards."""

import pandas as pd
import streamlit as st

from lib import appeals, notices, queries, ui
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.lights import fmt_time

user = ui.require("unit_notices")
st.title("督办通知")
st.caption(f"{user.unit_name} · 收到督办通知后须在回复期限前签收并报告整改情况；逾期未签收的，"
           "系统将提级至单位主要负责人，直至移送纪检监察机关。")
if message := st.session_state.pop("unit_notice_msg", None):
    st.success(message)


def done(fn, *args, ok: str) -> None:
    try:
        ui.write(lambda s: fn(s, user, *args))
    except (notices.NoticeError, appeals.AppealError, PermissionDenied) as exc:
        st.error(f"未完成：{exc}")
    else:
        ui.clear_data_caches()
        st.session_state["unit_notice_msg"] = ok
        st.rerun()


with ui.read() as s:
    rows = [(n.id, n.issued_at, n.level, n.status, n.reply_due, n.matter, n.requirements)
            for n in notices.listing(s, user, limit=None)]
if not rows:
    st.info("本单位没有督办通知。")
else:
    ui.table(pd.DataFrame([{
        "文号": notices.number(i, at), "级别": notices.LEVELS[lvl], "状态": notices.STATUS[status],
        "回复期限": fmt_time(due), "督办事项": matter,
    } for i, at, lvl, status, due, matter, _ in rows]), "督办通知", key="un_notices")
    by_id = {r[0]: r for r in rows}
    nid = st.selectbox("选择督办通知", list(by_id),
                       format_func=lambda i: notices.number(i, by_id[i][1]))
    _, at, level, status, due, matter, requirements = by_id[nid]
    st.markdown(f"**{notices.number(nid, at)}** · {notices.LEVELS[level]} · {notices.STATUS[status]}")
    st.markdown(f"**督办事项：** {ui.esc(matter)}  \n**办理要求：** {ui.esc(requirements)}  \n"
                f"**回复期限：** {fmt_time(due)} 前")
    if status == "issued" and st.button("签收", type="primary"):
        done(notices.acknowledge, nid, "", ok="已签收，请按要求整改并报告")
    if status in ("acknowledged", "returned"):
        with st.form("report"):
            text = st.text_area("整改报告", max_chars=2000, height=160,
                                placeholder="逾期原因、整改措施、整改结果")
            if st.form_submit_button("提交整改报告", type="primary"):
                done(notices.report, nid, text, ok="整改报告已提交，待纪检监察机关核查")

st.subheader("红牌申诉")
st.caption("对本单位的红牌有异议的，可附理由和证据提出申诉，由纪检监察机关审理；撤销的红牌不计入考核和驾驶舱。")
with ui.read() as s:
    mine = [(ext, a.status, a.reason, a.decision_note) for a, ext, _ in appeals.listing(s, user)]
    reds = queries.list_items(s, user=user, as_of=now_utc(), light="red", window_days=365)
if mine:
    ui.table(pd.DataFrame([{"事项": ext, "状态": appeals.STATUS[state], "申诉理由": reason,
                                "审理意见": note or ""} for ext, state, reason, note in mine]), "本单位申诉", key="un_appeals")
if not reds:
    st.caption("本单位目前没有红牌。")
else:
    labels = {r.id: f"{r.external_id} · {r.reason}" for r in reds}
    with st.form("appeal"):
        rid = st.selectbox("红牌事项", list(labels), format_func=labels.get)
        reason = st.text_area("申诉理由", max_chars=1000, placeholder="逾期的客观原因（至少 10 个字）")
        evidence = st.text_area("证据材料说明（选填）", max_chars=2000)
        if st.form_submit_button("提出申诉"):
            done(appeals.file, int(rid), reason, evidence, ok="申诉已提出，待纪检监察机关审理")
