"""信息公开: village disclosure (村务e路通) county → town → village, villagers' questions,
government information requests by unit, proactive disclosure and annual reports, all lit by
timeliness as of a day; towns' staff publish and answer, units' staff handle their requests."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st
from sqlalchemy import select

from lib import access, ui
from lib.access import PermissionDenied
from lib.clock import now_utc
from lib.domains.disclosure import queries as dq
from lib.domains.disclosure import service as ds
from lib.domains.disclosure.models import GovinfoDuty
from lib.lights import GREY, SYMBOLS, badge, fmt_time
from lib.models import Unit

DOMAIN = "DISCLOSURE"
user = ui.require("disclosure")
view = ui.domain_view(DOMAIN)
url = ui.url()
as_of = view.as_of
can_write = access.can(user, "update_items") and user.unit_id is not None
words = access.can(user, "view_staff_names")  # villagers' own words may name people
WITHHELD = "（群众原文可能含个人信息，本角色不予显示）"

st.title("信息公开")
st.caption(f"{ui.scope_name(user, view)} · 截至 {fmt_time(as_of)} · 村务公开按期核对党务、村务、财务和重大事项；"
           "政府信息公开按条例时限核对依申请公开、主动公开和年度报告。")
ui.domain_overview(user, view)


@st.cache_data(ttl=120, show_spinner="正在统计村务公开…")
def village_counts(url_: str, as_of_: datetime) -> pd.DataFrame:
    with ui.read() as s:
        return dq.village_counts(s, as_of_)


def graded(df: pd.DataFrame, name_cols: dict) -> pd.DataFrame:
    """A drill-down level as a table: its light by timeliness and its figures."""
    out = pd.DataFrame({"灯色": [badge(dq.grade(r)) for _, r in df.iterrows()]})
    for col, label in name_cols.items():
        out[label] = df[col].to_numpy()
    out["应公开"] = df["due"].to_numpy()
    out["公开率"] = [f"{x:.1%}" if x == x else "—" for x in df["coverage"]]
    out["按时"] = df["on_time"].to_numpy()
    out["逾期公开"] = df["late"].to_numpy()
    out["逾期未公开"] = df["missing"].to_numpy()
    out["未到期"] = df["pending"].to_numpy()
    out["公开条数"] = df["disclosures"].to_numpy()
    out["近一年浏览"] = df["views"].to_numpy()
    return out


# Only the selected tab runs (a click on another reruns the page for it): the default view does
# not evaluate the rules nor read the requests and duties of the tabs the reader has not opened.
# The choices made in a tab (the county, town and village, the record picked, the publishing
# form's settings) are kept while another tab is open.
ui.keep_state(*[k for k in st.session_state
                if str(k).startswith(("dis_county_", "dis_town_", "dis_village_"))],
              "dis_doc_pick", "pub_village", "pub_category", "pub_decided", "pub_period",
              "req_pick", "req_action", "dis_why")
tab_village, tab_questions, tab_requests, tab_duties, tab_rules = st.tabs(
    ["村务公开", "村民提问", "依申请公开", "主动公开与年度报告", "规则发现"], key="dis_tab",
    on_change="rerun")

# -- 村务公开: county → town → village ----------------------------------------------------------
with tab_village:
    if tab_village.open:  # only the selected tab runs
        counts = village_counts(url, as_of)
        if counts.empty:
            st.info("尚无行政村。载入演示数据（python -m lib init --demo-if-empty），或先导入区划后用"
                    "“python -m lib import disclosures 文件.csv”导入公开记录。")
        else:
            with ui.read() as s:
                due_day, major_days = ds.due_day(s), ds.major_days(s)
            st.caption("灯色：逾期公开与逾期未公开占应公开的比例超过 10% 红灯，超过 3% 黄灯，其余绿灯；无应公开事项为灰。"
                       f"公开期限：党务每半年、村务每季度、财务每月（收支较少的村每季度），次期第 "
                       f"{due_day} 日前；重大事项决定后 {major_days} 日内。")
            counties = dq.summarize(counts, "county")
            county_names = dict(zip(counties["county_id"], counties["county"], strict=True))
            default_county = view.region_id if view.region_id in county_names else None
            # 0 stands for "all" in the three choices below (ids start at 1): a kept None would
            # show the empty "Choose an option" instead of the first option.
            options = [0] + list(county_names)
            c1, c2, c3 = st.columns(3)
            # (its first value set, not given as the default: `ui.keep_state` sets it again)
            st.session_state.setdefault(f"dis_county_{default_county}", default_county or 0)
            county_id = c1.selectbox("区县", options,
                                     format_func=lambda x: "全市（按区县）" if not x else county_names[x],
                                     key=f"dis_county_{default_county}") or None
            town_id = village_id = None
            if county_id is None:
                ui.table(graded(counties, {"county": "区县"}), "村务公开_区县", key="dis_counties")
            else:
                in_county = counts[counts["county_id"] == county_id]
                towns = dq.summarize(in_county, "town")
                town_names = dict(zip(towns["town_id"], towns["town"], strict=True))
                town_id = c2.selectbox("乡镇（街道）", [0] + list(town_names),
                                       format_func=lambda x: "全部乡镇" if not x else town_names[x],
                                       key=f"dis_town_{county_id}") or None
                if town_id is None:
                    ui.table(graded(towns, {"town": "乡镇（街道）", "villages": "行政村数",
                                            "villages_missing": "有逾期未公开的村"}),
                             f"村务公开_{county_names[county_id]}", key="dis_towns")
                else:
                    in_town = in_county[in_county["town_id"] == town_id]
                    vs = dq.summarize(in_town, "village")
                    village_names = dict(zip(vs["village_id"], vs["village"], strict=True))
                    village_id = c3.selectbox("行政村", [0] + list(village_names),
                                              format_func=lambda x: "全部行政村" if not x
                                              else village_names[x],
                                              key=f"dis_village_{town_id}") or None
                    if village_id is None:
                        ui.table(graded(vs, {"village_code": "代码", "village": "行政村"}),
                                 f"村务公开_{town_names[town_id]}", key="dis_villages")
            if village_id is not None:
                with ui.read() as s:
                    obligations = dq.obligations(s, village_id, as_of)
                    docs = dq.disclosures(s, village_id, as_of)
                st.subheader(f"{village_names[village_id]}（{town_names[town_id]}）")
                st.markdown("**公开义务与历史**（按期限倒序）")
                ui.table(pd.DataFrame([{
                    "灯色": badge(o["light"]), "类别": o["category"], "期间": o["period"],
                    "期限": o["due_on"].isoformat(), "公开时间": fmt_time(o["published_at"]),
                    "状态": o["status"]} for o in obligations]) if obligations else
                    pd.DataFrame(columns=["灯色", "类别", "期间", "期限", "公开时间", "状态"]),
                    "公开义务", key="dis_obligations")
                st.markdown(f"**公开内容**（{len(docs)} 条）")
                if not docs:
                    st.caption("该村截至查看日期没有公开内容。")
                else:
                    ui.table(pd.DataFrame([{
                        "公开时间": fmt_time(d.published_at), "类别": ds.CATEGORIES[d.category],
                        "期间": ds.parse_period(d.period).label, "标题": d.title, "浏览": d.views}
                        for d in docs]), "公开内容", key="dis_docs")
                    doc_by_id = {d.id: d for d in docs}
                    pick = st.selectbox("查看一条公开", list(doc_by_id), key="dis_doc_pick",
                                        format_func=lambda i: f"{fmt_time(doc_by_id[i].published_at)} · "
                                                              f"{doc_by_id[i].title}")
                    d = doc_by_id[pick]
                    with st.container(border=True):
                        st.markdown(f"**{ui.esc(d.title)}**")
                        st.caption(f"{ds.CATEGORIES[d.category]} · {ds.parse_period(d.period).label} · "
                                   f"公开于 {fmt_time(d.published_at)} · 浏览 {d.views:,} 次")
                        ui.plain(d.body)
                        if d.finance:
                            ui.table(dq.finance_table(d), "收支明细", key="dis_finance")
                        with ui.read() as s:
                            qs = dq.questions(s, d.id)
                        for q in qs:
                            st.markdown(f"**问**（{fmt_time(q.asked_at)}）："
                                        f"{ui.esc(q.question) if words else WITHHELD}")
                            st.markdown(f"**答**（{fmt_time(q.answered_at)}）：{ui.esc(q.answer)}"
                                        if q.answered_at else "尚未答复")

        if can_write:
            with ui.read() as s:
                mine = s.get(Unit, user.unit_id)
                own = [] if mine.level != "town" else dq.villages(s)
            if mine.level == "town":
                own = own[own["town_id"] == mine.region_id]
                st.subheader("发布公开（本乡镇的行政村）")
                own_names = dict(zip(own["village_id"], own["village"], strict=True))
                village = st.selectbox("行政村", list(own_names), format_func=own_names.get,
                                       key="pub_village")
                category = st.selectbox("类别", list(ds.CATEGORIES), format_func=ds.CATEGORIES.get,
                                        key="pub_category")
                today = ui.today_local()
                if category == "major":
                    st.session_state.setdefault("pub_decided", today)  # (kept across tabs)
                    decided = st.date_input("重大事项决定日期", key="pub_decided")
                    period = decided.isoformat()
                else:
                    choices = []
                    for kind in ("M", "Q", "H"):
                        p = ds.period_of(today, kind)
                        for _ in range(4):
                            choices.append(p.code)
                            p = ds.period_of(p.start - timedelta(days=1), kind)
                    period = st.selectbox("公开期间", choices, key="pub_period",
                                          format_func=lambda c: ds.parse_period(c).label)
                with st.form("publish"):
                    title = st.text_input("标题", max_chars=200)
                    body = st.text_area("正文", max_chars=ds.MAX_BODY, height=150)
                    finance = None
                    if category == "finance":
                        st.caption("收支明细（元）：每行一个项目")
                        finance = st.data_editor(
                            pd.DataFrame({"item": ["", "", ""], "income": ["", "", ""],
                                          "spending": ["", "", ""]}),
                            num_rows="dynamic", key="pub_finance", column_config={
                                "item": "项目", "income": "收入（元）", "spending": "支出（元）"})
                    if st.form_submit_button("发布", type="primary"):
                        rows = finance.to_dict("records") if finance is not None else None
                        try:
                            settled = ui.write(lambda s: ds.publish(
                                s, user, village_id=int(village), category=category, period=period,
                                title=title, body=body, finance=rows).settled)
                        except (ds.DisclosureError, PermissionDenied) as exc:
                            st.error(f"未发布：{exc}")
                        else:
                            ui.clear_data_caches()
                            ui.flash("已发布，群众可在“村务公开”查阅；" + (
                                f"已核销{'、'.join(settled)}的公开义务。" if settled else
                                "所选期间尚未结束，期满后计入该期公开义务。"))
                            st.rerun()

# -- 村民提问 -----------------------------------------------------------------------------------
with tab_questions:
    if tab_questions.open:  # only the selected tab runs
        with ui.read() as s:
            waiting = dq.open_questions(s, user, as_of, view.region_id)
        st.caption("村民对公开内容的提问，所在乡镇须在 10 日内答复；逾期未答复亮红牌。")
        if not waiting:
            st.success("截至查看日期，没有待答复的村民提问。")
        else:
            ui.table(pd.DataFrame([{
                "灯色": badge(q["light"]), "行政村": q["village"], "责任单位": q["unit"],
                "公开标题": q["title"], "提问": q["question"] if words else WITHHELD,
                "提问时间": fmt_time(q["asked_at"]),
                "答复期限": fmt_time(q["deadline"])} for q in waiting]), "待答复提问", key="dis_waiting")
        mine_q = [q for q in waiting if q["unit"] == user.unit_name] if can_write else []
        if mine_q:
            with st.form("answer_question"):
                st.markdown("**答复本乡镇的村民提问**")
                q_by_id = {q["id"]: q for q in mine_q}
                qid = st.selectbox("提问", list(q_by_id),
                                   format_func=lambda i: f"{q_by_id[i]['village']}："
                                                         f"{q_by_id[i]['question'][:40]}")
                text = st.text_area("答复", max_chars=2000)
                if st.form_submit_button("提交答复", type="primary"):
                    try:
                        ui.write(lambda s: ds.answer_question(s, user, int(qid), text))
                    except (ds.DisclosureError, PermissionDenied) as exc:
                        st.error(f"未答复：{exc}")
                    else:
                        ui.clear_data_caches()
                        ui.flash("已答复，答复在门户公开。")
                        st.rerun()

# -- 依申请公开 ----------------------------------------------------------------------------------
with tab_requests:
    if tab_requests.open:  # only the selected tab runs
        with ui.read() as s:
            reqs = dq.requests(s, user, as_of, view.region_id)
        st.caption("答复期限：收到申请之日起 20 个工作日；经信息公开工作机构负责人同意可延长一次，不超过 20 个"
                   "工作日；征求第三方（15 个工作日内答复）或其他机关意见的时间不计算在内；申请不明确的，7 个"
                   "工作日内一次性告知补正，期限自收到补正之日起计算。")
        if not reqs:
            st.info("截至查看日期没有依申请公开的申请。群众可在门户“信息公开申请”页提交。")
        else:
            st.markdown("**按单位**")
            ui.table(dq.requests_by_unit(reqs).rename(columns={
                "unit": "单位", "total": "申请", "answered": "已答复", "open": "未答复", "red": "红牌",
                "yellow": "黄牌"})[["单位", "申请", "已答复", "未答复", "红牌", "黄牌"]],
                "依申请公开_单位", key="dis_req_units")
            order = {"red": 0, "yellow": 1, "green": 2, GREY: 3}
            reqs_sorted = sorted(reqs, key=lambda r: (order.get(r["light"], 4), r["deadline"]))
            ui.table(pd.DataFrame([{
                "灯色": badge(r["light"]), "查询码": r["code"], "单位": r["unit"], "所需信息": r["subject"],
                "收到": fmt_time(r["received_at"]), "答复期限": fmt_time(r["deadline"]),
                "延期（工作日）": str(r["extension"]) if r["extension"] else "", "状态": r["status"], "答复类型": r["answer_type"],
                "说明": r["reason"]} for r in reqs_sorted]), "依申请公开", key="dis_reqs")
        own_reqs = [r for r in reqs if can_write and r["unit_id"] == user.unit_id
                    and r["status"] != ds.REQUEST_STATUS["answered"]]
        if own_reqs:
            st.subheader("办理本单位的申请")
            req_by_id = {r["id"]: r for r in own_reqs}
            rid = st.selectbox("申请", list(req_by_id), key="req_pick",
                               format_func=lambda i: f"{req_by_id[i]['code']} · "
                                                     f"{req_by_id[i]['subject']} · "
                                                     f"{req_by_id[i]['status']}")
            actions = {"answer": "答复", "correction": "告知补正", "extend": "延长答复期限",
                       "pause": "征求意见（中止计时）", "resume": "收到意见（恢复计时）"}
            action = st.radio("办理", list(actions), format_func=actions.get, horizontal=True,
                              key="req_action")
            now = now_utc()
            with st.form("request_action"):
                if action == "answer":
                    kind = st.selectbox("答复类型", list(ds.ANSWER_TYPES), format_func=ds.ANSWER_TYPES.get)
                    grounds = st.selectbox("不予公开或部分公开的法定理由", [""] + ds.REFUSAL_GROUNDS,
                                          format_func=lambda g: g or "（予以公开的，不选）")
                    organ = st.text_input("非本机关负责公开的：负责公开的机关", max_chars=100)
                    text = st.text_area("答复内容", max_chars=ds.MAX_REQUEST)
                elif action == "correction":
                    text = st.text_area("需补正的事项和合理期限", max_chars=1000)
                elif action == "extend":
                    days = st.number_input("延长（工作日）", 1, ds.EXTENSION_MAX_WD, 20)
                    approver = st.text_input("批准人（信息公开工作机构负责人）", max_chars=32)
                    text = st.text_area("延期理由", max_chars=1000)
                elif action == "pause":
                    pkind = st.selectbox("征求对象", list(ds.PAUSE_KINDS), format_func=ds.PAUSE_KINDS.get)
                    party = st.text_input("第三方或机关名称", max_chars=100)
                if st.form_submit_button("提交", type="primary"):
                    def act(s):
                        if action == "answer":
                            reason = grounds if kind in ("refuse", "partial") else \
                                (organ if kind == "not_ours" else "")
                            return ds.answer_request(s, user, rid, kind, text, reason, now=now)
                        if action == "correction":
                            return ds.send_correction(s, user, rid, text, now=now)
                        if action == "extend":
                            return ds.extend(s, user, rid, int(days), approver, text, now=now)
                        if action == "pause":
                            return ds.start_pause(s, user, rid, pkind, party, now=now)
                        return ds.end_pause(s, user, rid, now=now)
                    try:
                        ui.write(act)
                    except (ds.DisclosureError, PermissionDenied) as exc:
                        st.error(f"未保存：{exc}")
                    else:
                        ui.clear_data_caches()
                        st.success(f"已{actions[action]}，答复期限已按条例重新计算。")

# -- 主动公开与年度报告 -----------------------------------------------------------------------------
with tab_duties:
    if tab_duties.open:  # only the selected tab runs
        st.caption("主动公开：信息形成或变更之日起 20 个工作日内公开；年度报告：部门于每年 1 月 31 日前、"
                   "本级政府于 3 月 31 日前公布上一年度的政府信息公开工作年度报告。")
        with ui.read() as s:
            duties = {k: dq.duties(s, user, as_of, k, view.region_id) for k in ("proactive", "annual")}
        for kind, label in (("proactive", "主动公开"), ("annual", "年度报告")):
            rows = duties[kind]
            st.markdown(f"**{label}**（{len(rows)} 项，红牌 {sum(r['light'] == 'red' for r in rows)} 项）")
            if not rows:
                st.caption(f"截至查看日期没有{label}事项。")
                continue
            ui.table(pd.DataFrame([{
                "灯色": badge(r["light"]), "单位": r["unit"], "事项": r["title"],
                "形成时间": fmt_time(r["formed_at"]) if kind == "proactive" else f"{r['year']} 年度",
                "期限": fmt_time(r["deadline"]), "公开时间": fmt_time(r["published_at"]),
                "说明": r["reason"]} for r in rows]), label, key=f"dis_{kind}")
        own_duties = [r for k in duties for r in duties[k] if r["open"]] if can_write else []
        if can_write:
            with ui.read() as s:
                mine = s.get(Unit, user.unit_id)
                own_ids = set(s.scalars(select(GovinfoDuty.item_id).where(
                    GovinfoDuty.unit_id == user.unit_id)))
            own_duties = [r for r in own_duties if r["item_id"] in own_ids]
            if mine.level != "town":
                c1, c2 = st.columns(2)
                with c1.form("add_proactive"):
                    st.markdown("**登记主动公开事项**（本单位）")
                    title = st.text_input("信息名称", max_chars=150)
                    # No max_value: a later day typed would be kept as today without a word
                    # (the widget only turns red); the library refuses it in words instead.
                    formed = st.date_input("形成或变更日期", value=ui.today_local())
                    if st.form_submit_button("登记"):
                        at = ui.moment_on(formed, time(9))
                        try:
                            ui.write(lambda s: ds.add_proactive(s, user, user.unit_id, title, at))
                        except (ds.DisclosureError, PermissionDenied) as exc:
                            st.error(f"未登记：{exc}")
                        else:
                            ui.clear_data_caches()
                            st.success("已登记，须在 20 个工作日内公开。")
                if own_duties:
                    with c2.form("duty_published"):
                        st.markdown("**登记已公开**")
                        duty_by_id = {r["item_id"]: r for r in own_duties}
                        iid = st.selectbox("事项", list(duty_by_id),
                                           format_func=lambda i: duty_by_id[i]["title"])
                        day = st.date_input("公开日期", value=ui.today_local())
                        if st.form_submit_button("登记公开"):
                            at = ui.moment_on(day, time(17))
                            try:
                                ui.write(lambda s: ds.record_duty_published(s, user, int(iid), at))
                            except (ds.DisclosureError, PermissionDenied) as exc:
                                st.error(f"未登记：{exc}")
                            else:
                                ui.clear_data_caches()
                                st.success("已登记公开。")

# -- 规则发现 -----------------------------------------------------------------------------------
with tab_rules:
    if tab_rules.open:  # only the selected tab runs
        records, warnings = ui.domain_findings(url, DOMAIN, as_of)
        for w in warnings:
            st.warning(w)
        if view.region_id is not None:
            records = [r for r in records if r.region_id == view.region_id]
        if access.unit_scope(user) is not None:
            records = [r for r in records if r.unit_id == user.unit_id]
        st.caption(f"按期限核对的发现（{len(records)} 条；红牌 {sum(r.light == 'red' for r in records)}）。"
                   "原因列写明村（居）、期次和公开类别；表格下方可导出。")
        if not records:
            st.success("截至查看日期没有逾期或临近期限的信息公开事项。")
        else:
            from lib import flags

            rule_names = {r.code: r.name for r in flags.rules_of(DOMAIN)}
            ui.table(pd.DataFrame([{"灯色": badge(r.light), "规则": f"{r.code} {rule_names.get(r.code, '')}",
                                    "原因": r.reason, "对象编号": r.subject} for r in records]),
                     "信息公开_规则发现", key="dis_findings")
            # Picked by the finding's rule and subject (one finding per rule and subject), so
            # the choice stays on the same finding when a write changes the list.
            shown = {f"{r.code}:{r.subject}": r for r in records[:500]}
            if st.session_state.get("dis_why") not in shown:
                st.session_state.pop("dis_why", None)  # gone since it was picked: the first
            k = st.selectbox("为什么亮牌", list(shown), key="dis_why",
                             format_func=lambda k: f"{SYMBOLS[shown[k].light]} {shown[k].code} "
                                               f"{ui.clip(shown[k].reason, 60)}")
            ui.flag_why(shown[k])

