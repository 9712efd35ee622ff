"""互动论坛: the public's moderated forum (BBS), no login. Posts appear after an inspector
approves them; hidden posts show their reason; anyone may report a post."""

import streamlit as st

from lib import forum, ui
from lib.lights import fmt_time

ui.public("forum")
st.title("互动论坛")
st.caption("本论坛实行先审后发：新帖和回复经纪检监察机关工作人员审核后公开。请文明发言，不得发布广告、"
           "人身攻击、不实信息或他人的姓名、电话等个人信息。反映具体问题、需要单位答复的，请使用“我要反映”。"
           f"同一来源每小时最多发帖 {forum.RATE_LIMIT} 次。")

if notice := st.session_state.pop("forum_notice", None):
    st.success(notice)


def meta(p: forum.PublicPost, floor: str = "") -> str:
    who = ui.esc(p.nickname or forum.DEFAULT_NICKNAME)
    return f"{floor}{who} · {fmt_time(p.created_at)}"


def show(p: forum.PublicPost, floor: str) -> None:
    with st.container(border=True):
        if p.hidden_reason is not None:
            st.caption(f"{floor}该内容已被管理人员隐藏。原因：{ui.esc(p.hidden_reason)}")
            return
        st.caption(meta(p, floor))
        ui.plain(p.body)


def open_thread(thread_id: int | None) -> None:
    if thread_id is None:
        st.query_params.pop("thread", None)
    else:
        st.query_params["thread"] = str(thread_id)


chosen = st.query_params.get("thread")
with ui.read() as s:
    opened = forum.thread(s, int(chosen)) if chosen and chosen.isdigit() else None

if chosen and opened is None:
    st.warning("该主题帖不存在或尚未公开（新帖经审核后才能看到）。")
    st.button("返回帖子列表", on_click=open_thread, args=(None,))
elif opened is not None:
    head, replies = opened
    st.button("返回帖子列表", icon=":material/arrow_back:", on_click=open_thread, args=(None,))
    st.subheader(ui.esc(head.title) if head.title else "（已隐藏的主题）")
    st.caption(f"【{forum.TOPICS.get(head.topic, '')}】 {len(replies)} 条回复")
    show(head, "楼主 · ")
    for n, r in enumerate(replies, start=1):
        show(r, f"{n} 楼 · ")
    if head.hidden_reason is None:
        with st.form("forum_reply", clear_on_submit=True):
            st.markdown("**回复本帖**（审核后公开）")
            body = st.text_area("回复内容", max_chars=forum.MAX_REPLY, height=100)
            nickname = st.text_input("昵称（选填）", max_chars=forum.MAX_NICKNAME,
                                     placeholder=forum.DEFAULT_NICKNAME)
            if st.form_submit_button("提交回复", type="primary"):
                try:
                    ui.write(lambda s: forum.post_reply(s, thread_id=head.id, body=body,
                                                        nickname=nickname, source=ui.visitor()))
                except forum.ForumError as exc:
                    st.error(f"未提交：{exc}")
                else:
                    st.session_state["forum_notice"] = "回复已提交，经工作人员审核后公开。"
                    st.rerun()
        shown = [(head.id, "楼主")] + [(r.id, f"{n} 楼") for n, r in enumerate(replies, start=1)
                                        if r.hidden_reason is None]
        with st.expander("举报不良信息"):
            with st.form("forum_report", clear_on_submit=True):
                floors = dict(shown)
                post_id = st.selectbox("举报哪一楼", list(floors), format_func=floors.get)
                category = st.selectbox("举报原因", list(forum.REPORT_CATEGORIES),
                                        format_func=forum.REPORT_CATEGORIES.get)
                note = st.text_input("补充说明（选填）", max_chars=forum.MAX_NOTE)
                if st.form_submit_button("提交举报"):
                    try:
                        ui.write(lambda s: forum.report(s, post_id=post_id, category=category,
                                                        note=note, source=ui.visitor()))
                    except forum.ForumError as exc:
                        st.error(f"未提交：{exc}")
                    else:
                        st.session_state["forum_notice"] = "举报已收到，工作人员将尽快核实处理。"
                        st.rerun()
else:
    topics = {"": "全部版块"} | forum.TOPICS
    topic = st.radio("版块", list(topics), format_func=topics.get, horizontal=True,
                     key="forum_topic")
    with ui.read() as s:
        rows = forum.threads(s, topic or None)
    if not rows:
        st.info("本版块还没有公开的帖子，欢迎在下方发布第一个主题。")
    for t in rows:
        with st.container(border=True):
            c1, c2 = st.columns([6, 1], vertical_alignment="center")
            if t.hidden_reason is not None:
                c1.markdown("**（已隐藏的主题）**")
                c1.caption(f"【{forum.TOPICS.get(t.topic, '')}】该主题已被管理人员隐藏。"
                           f"原因：{ui.esc(t.hidden_reason)}")
            else:
                c1.markdown(f"**{ui.esc(t.title)}**")
                c1.caption(f"【{forum.TOPICS.get(t.topic, '')}】{meta(t)} · {t.replies} 条回复 · "
                           f"最后回复 {fmt_time(t.last_at)}")
            c2.button("查看", key=f"open_{t.id}", on_click=open_thread, args=(t.id,))
    st.subheader("发布新帖")
    with st.form("forum_new", clear_on_submit=False):
        new_topic = st.selectbox("版块", list(forum.TOPICS), format_func=forum.TOPICS.get)
        title = st.text_input("标题", max_chars=forum.MAX_TITLE,
                              placeholder=f"{forum.MIN_TITLE}–{forum.MAX_TITLE} 字")
        body = st.text_area("内容", max_chars=forum.MAX_BODY, height=160,
                            placeholder=f"{forum.MIN_BODY}–{forum.MAX_BODY} 字")
        nickname = st.text_input("昵称（选填）", max_chars=forum.MAX_NICKNAME,
                                 placeholder=forum.DEFAULT_NICKNAME)
        if st.form_submit_button("提交审核", type="primary"):
            try:
                ui.write(lambda s: forum.post_thread(s, topic=new_topic, title=title, body=body,
                                                     nickname=nickname, source=ui.visitor()))
            except forum.ForumError as exc:
                st.error(f"未提交：{exc}")
            else:
                st.session_state["forum_notice"] = "帖子已提交，经工作人员审核后公开。"
                st.rerun()
