"""论坛审核: inspectors approve or refuse waiting posts, hide or restore public ones, and handle
reports; administrators keep the sensitive-word list; administrators and inspectors open and close
polls. The provincial reviewer reads the queues without the public's own words."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from lib import forum, polls, ui
from lib.access import PermissionDenied, actor_for, can
from lib.clock import now_utc
from lib.config import TZ
from lib.lights import fmt_time

user = ui.require("moderation")
acts = can(user, "moderate_forum")
keeps_words = can(user, "manage_settings")
runs_polls = can(user, "manage_polls")
words_shown = can(user, "view_staff_names")  # the public's own words may name people

st.title("论坛审核")
st.caption("互动论坛实行先审后发：群众的新帖和回复在此审核通过后才公开。不予通过和隐藏须写明原因，原因随帖子保留；"
           "隐藏的帖子在论坛上显示为“已隐藏”及其原因。每一项审核操作均记入审计日志。")
if notice := st.session_state.pop("moderation_notice", None):
    st.success(notice)

REASONS = ["广告或垃圾信息", "人身攻击、辱骂", "含他人姓名、电话等个人信息", "不实信息",
           "与本论坛主题无关", "其他（请在说明中写明）"]


def run(fn, *args, ok: str, **kwargs) -> None:
    try:
        ui.write(lambda s: fn(s, user, *args, **kwargs))
    except (forum.ForumError, polls.PollError, PermissionDenied) as exc:
        st.error(f"未完成：{exc}")
    else:
        ui.clear_data_caches()
        st.session_state["moderation_notice"] = ok
        st.rerun()


def reason_of(choice: str, note: str) -> str:
    note = note.strip()
    if choice.startswith("其他"):
        return note
    return f"{choice}：{note}" if note else choice


def frame(rows: list[forum.QueueRow], *, decided: bool = False) -> pd.DataFrame:
    out = []
    for r in rows:
        row = {"编号": r.id, "类型": r.kind, "版块": r.topic, "主题": r.title if words_shown else "—",
               "内容": (r.body[:60] + ("…" if len(r.body) > 60 else "")) if words_shown else "（不予显示）",
               "昵称": r.nickname if words_shown else "—", "提交时间": fmt_time(r.created_at),
               "命中敏感词": "、".join(r.words), "待处理举报": r.reports}
        if decided:
            row |= {"状态": forum.STATUS[r.status], "原因": r.reason or "",
                    "处理人": actor_for(user, r.moderated_by), "处理时间": fmt_time(r.moderated_at)}
        out.append(row)
    return pd.DataFrame(out)


def pick(rows: list[forum.QueueRow], key: str) -> forum.QueueRow:
    by_id = {r.id: r for r in rows}
    chosen = st.selectbox("选择帖子（可输入编号搜索）", list(by_id), key=key,
                          format_func=lambda i: f"#{i} · {by_id[i].kind} · {fmt_time(by_id[i].created_at)}")
    r = by_id[chosen]
    with st.container(border=True):
        st.caption(f"#{r.id} · {r.kind} · 【{r.topic}】 · {forum.STATUS[r.status]}"
                   + (f" · 原因：{ui.esc(r.reason)}" if r.reason else ""))
        if words_shown:
            st.markdown(f"**{ui.esc(r.title)}**" + ("（回复此主题）" if r.kind == "回复" else ""))
            st.caption(f"昵称：{ui.esc(r.nickname)} · 提交于 {fmt_time(r.created_at)}")
            ui.plain(r.body)
        else:
            st.caption("（群众发布的内容可能含个人信息，本角色不予显示）")
        if r.words:
            st.warning("含敏感词：" + "、".join(ui.esc(w) for w in r.words))
        for note in r.report_notes:
            st.caption(f"举报：{ui.esc(note)}")
    return r


def read_only() -> bool:
    if not acts:
        st.caption("只读：本角色不能审核帖子（审核由纪检监察机关工作人员进行）。")
    return not acts


now = now_utc()
with ui.read() as s:
    figures = forum.counts(s)
    waiting = forum.pending(s, user)
    reported = forum.reported(s, user)
    done = forum.decided(s, user)
    word_rows = [(w.id, w.word, actor_for(user, w.added_by), w.added_at) for w in forum.words(s)]
    poll_rows = [(p, polls.is_open(p, now), polls.results(s, p.id, user=user, now=now),
                  polls.total_votes(s, p.id)) for p in polls.listing(s)]

c = st.columns(5)
c[0].metric("待审核", figures["pending"])
c[1].metric("被举报待处理", figures["reports"])
c[2].metric("已公开", figures["approved"])
c[3].metric("已隐藏", figures["hidden"])
c[4].metric("未通过", figures["rejected"])

tabs = st.tabs([f"待审核（{len(waiting)}）", f"举报处理（{len(reported)}）", "已处理", "敏感词",
                "投票评价"])

with tabs[0]:
    if not waiting:
        st.info("没有待审核的帖子：群众在“互动论坛”发布的新帖和回复会出现在这里。")
    else:
        ui.table(frame(waiting), "论坛待审核", key="mod_pending")
        r = pick(waiting, "mod_pending_pick")
        if not read_only():
            with st.form("mod_decide"):
                choice = st.selectbox("不予通过的原因（通过时不必填）", REASONS)
                note = st.text_input("说明（选填；选“其他”时必填）", max_chars=forum.MAX_REASON)
                b1, b2 = st.columns(2)
                if b1.form_submit_button("审核通过，公开", type="primary"):
                    run(forum.moderate, r.id, "approve", version=r.version,
                        ok=f"#{r.id} 已审核通过，已在论坛公开")
                if b2.form_submit_button("不予通过"):
                    run(forum.moderate, r.id, "reject", reason_of(choice, note), version=r.version,
                        ok=f"#{r.id} 不予通过，原因已保留")

with tabs[1]:
    if not reported:
        st.info("没有待处理的举报。群众在论坛上举报的帖子会出现在这里。")
    else:
        ui.table(frame(reported), "论坛举报", key="mod_reported")
        r = pick(reported, "mod_reported_pick")
        if not read_only():
            with st.form("mod_report"):
                choice = st.selectbox("隐藏的原因", REASONS)
                note = st.text_input("说明（选填；选“其他”时必填）", max_chars=forum.MAX_REASON)
                b1, b2 = st.columns(2)
                if b1.form_submit_button("隐藏该帖", type="primary"):
                    run(forum.moderate, r.id, "hide", reason_of(choice, note), version=r.version,
                        ok=f"#{r.id} 已隐藏，举报已办结")
                if b2.form_submit_button("举报不成立，保留"):
                    run(forum.dismiss_reports, r.id, note, ok=f"#{r.id} 的举报已办结，帖子保留")

with tabs[2]:
    if not done:
        st.info("还没有审核过的帖子。")
    else:
        ui.table(frame(done, decided=True), "论坛审核记录", key="mod_done")
        changeable = [r for r in done if r.status in ("approved", "hidden")]
        if changeable and not read_only():
            st.markdown("**隐藏已公开的帖子，或恢复已隐藏的帖子**")
            r = pick(changeable, "mod_done_pick")
            with st.form("mod_change"):
                if r.status == "approved":
                    choice = st.selectbox("隐藏的原因", REASONS)
                    note = st.text_input("说明（选填；选“其他”时必填）", max_chars=forum.MAX_REASON)
                    if st.form_submit_button("隐藏该帖", type="primary"):
                        run(forum.moderate, r.id, "hide", reason_of(choice, note),
                            version=r.version, ok=f"#{r.id} 已隐藏")
                elif st.form_submit_button("恢复显示", type="primary"):
                    run(forum.moderate, r.id, "restore", version=r.version,
                        ok=f"#{r.id} 已恢复显示（隐藏及其原因留在审计日志中）")

with tabs[3]:
    st.caption("含敏感词的帖子和回复不能提交，系统会提示群众修改。匹配时忽略大小写、全角半角和字间的空格、标点。"
               "新增的词也会在待审核的帖子上标出。")
    ui.table(pd.DataFrame([{"敏感词": w, "添加人": by, "添加时间": fmt_time(at)}
                           for _, w, by, at in word_rows], columns=["敏感词", "添加人", "添加时间"]),
             "敏感词", key="mod_words")
    if keeps_words:
        c1, c2 = st.columns(2)
        with c1.form("word_add", clear_on_submit=True):
            word = st.text_input("新增敏感词", max_chars=forum.MAX_WORD)
            if st.form_submit_button("添加"):
                run(forum.add_word, word, ok="敏感词已添加")
        if word_rows:
            with c2.form("word_remove"):
                names = {i: w for i, w, _, _ in word_rows}
                wid = st.selectbox("删除敏感词", list(names), format_func=names.get)
                if st.form_submit_button("删除"):
                    run(forum.remove_word, wid, ok=f"已删除敏感词“{names[wid]}”")
    else:
        st.caption("敏感词由系统管理员维护。")

with tabs[4]:
    if not poll_rows:
        st.info("还没有投票。" + ("可在下方发起。" if runs_polls else ""))
    else:
        ui.table(pd.DataFrame([{
            "编号": p.id, "对象": polls.SUBJECTS[p.subject], "标题": p.title,
            "状态": "进行中" if is_open else "已结束", "截止": fmt_time(p.closed_at or p.closes_at),
            "票数": total, "发起人": actor_for(user, p.created_by),
            "结果": "；".join(f"{r.label} {r.votes}" for r in results or []),
        } for p, is_open, results, total in poll_rows]), "投票评价", key="mod_polls")
        open_polls = {p.id: p.title for p, is_open, _, _ in poll_rows if is_open}
        if runs_polls and open_polls:
            with st.form("poll_close"):
                pid = st.selectbox("提前结束投票", list(open_polls), format_func=open_polls.get)
                if st.form_submit_button("结束投票"):
                    run(polls.close, pid, ok="投票已结束，结果向公众公开")
    if runs_polls:
        st.markdown("**发起投票**")
        with st.form("poll_new"):
            subject = st.selectbox("评价对象", list(polls.SUBJECTS), format_func=polls.SUBJECTS.get)
            title = st.text_input("标题", max_chars=polls.MAX_TITLE)
            description = st.text_area("说明", max_chars=polls.MAX_DESCRIPTION, height=80)
            options_text = st.text_area(f"选项（每行一个，{polls.MIN_OPTIONS}–{polls.MAX_OPTIONS} 个）",
                                        value="满意\n基本满意\n不满意", height=110)
            today = now.astimezone(TZ).date()
            # No bounds on the widget (it kept a day typed outside them as before, without a
            # word): polls.create says in words what the closing day may be.
            closes = st.date_input("截止日期（当日 24:00 截止）", value=today + timedelta(days=30),
                                   help=f"今天起 {polls.MAX_DAYS} 天内")
            if st.form_submit_button("发起投票", type="primary"):
                closes_at = datetime.combine(closes + timedelta(days=1), time(0), tzinfo=TZ)
                run(polls.create, subject=subject, title=title, description=description,
                    options=options_text.splitlines(), closes_at=closes_at, ok="投票已发起，已在“投票评价”公开")
