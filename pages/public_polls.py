"""投票评价: the public votes on policies and services, once per poll; the results show after
one has voted, or once the poll has closed."""

import streamlit as st

from lib import polls, ui
from lib.clock import now_utc
from lib.lights import fmt_time

ui.public("polls")
st.title("投票评价")
st.caption("对政策和服务投出您的一票。每项投票同一来源限投一票；投票后即可查看结果，投票结束后结果向所有人公开。"
           "结果供有关部门改进工作参考。")

if notice := st.session_state.pop("polls_notice", None):
    st.success(notice)

me = ui.visitor()
now = now_utc()
with ui.read() as s:
    shown = []
    for p in polls.listing(s):
        shown.append((p.id, p.subject, p.title, p.description, p.closes_at, p.closed_at,
                      polls.is_open(p, now), [(o.id, o.label) for o in polls.options(s, p.id)],
                      polls.results(s, p.id, source=me, now=now), polls.total_votes(s, p.id)))

if not shown:
    st.info("目前没有进行中的投票，请稍后再来。")
for poll_id, subject, title, description, closes_at, closed_at, is_open, opts, results, total \
        in shown:
    with st.container(border=True):
        st.markdown(f"**【{polls.SUBJECTS[subject]}】{ui.esc(title)}**")
        if is_open:
            st.caption(f"进行中 · 截止 {fmt_time(closes_at)}")
        else:
            st.caption(f"已结束（{fmt_time(closed_at or closes_at)}） · 共 {total:,} 票")
        if description:
            ui.plain(description)
        if results is not None:
            if is_open:
                st.caption(f"您已投票。目前共 {total:,} 票：")
            for r in results:
                st.progress(r.share, text=f"{ui.esc(r.label)}：{r.votes:,} 票（{r.share:.0%}）")
        else:
            labels = dict(opts)
            with st.form(f"poll_{poll_id}"):
                choice = st.radio("您的选择", list(labels), format_func=lambda i, m=labels: ui.esc(m[i]),
                                  index=None, key=f"poll_choice_{poll_id}")
                if st.form_submit_button("投票", type="primary"):
                    if choice is None:
                        st.error("未投票：请先选择一项")
                    else:
                        try:
                            ui.write(lambda s, c=choice, pid=poll_id: polls.vote(
                                s, pid, c, source=me))
                        except polls.PollError as exc:
                            st.error(f"未投票：{exc}")
                        else:
                            st.session_state["polls_notice"] = "投票成功，感谢您的参与！"
                            st.rerun()
            st.caption("投票后可查看结果。")
