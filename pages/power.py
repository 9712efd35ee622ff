"""权力运行: administrative approval watched before, during and after (事前、事中、事后), each
step against its own limit; enforcement, fees and planning through their rules; a case's
timeline; fee charges against the catalogue and planning permits against their plan; staff
record their own unit's approval steps, fees charged and enforcement decisions."""

from datetime import datetime, time

import pandas as pd
import streamlit as st

from lib import ui
from lib.access import PermissionDenied, can
from lib.clock import now_utc
from lib.config import TZ
from lib.domains.power import approvals, forms, stats
from lib.domains.power.rules import band_edge
from lib.lights import RED, YELLOW, badge, fmt_duration, fmt_time

DOMAIN = "POWER"
user = ui.require("power")
view = ui.domain_view(DOMAIN)
url = ui.url()

st.title("权力运行")
st.caption("行政审批事前、事中、事后全程监察：受理（补正告知）、审批决定、送达各环节按法定时限计时，"
           "特别程序暂停和依法延期顺延期限；行政执法对照裁量基准，行政收费对照收费目录，"
           "城乡规划许可对照控制性详细规划。" + f"查看日期：{view.day}（{ui.scope_name(user, view)}）。")

counts = ui.domain_overview(user, view)


@ui.view_cache(ttl=120, show_spinner="正在计算审批环节…")
def load_cases(url_: str, user_, as_of: datetime, region_id, window_days) -> list:
    with ui.read() as s:
        return stats.cases_at(s, user_, as_of, region_id=region_id, window_days=window_days)


@st.cache_data(ttl=120, show_spinner=False)
def load_funnel(url_: str, user_, as_of: datetime, region_id, window_days) -> list[dict]:
    with ui.read() as s:
        return stats.funnel(s, load_cases(url_, user_, as_of, region_id, window_days))


@st.cache_data(ttl=120, show_spinner=False)
def load_fees_permits(url_: str, user_, as_of: datetime, region_id) -> tuple[list, list]:
    """Every charge against the catalogue and every permit against its plan, with the rules'
    findings (computed once per view, not on each run of the page)."""
    findings, _ = ui.domain_findings(url_, DOMAIN, as_of)
    with ui.read() as s:
        return (stats.fee_rows(s, user_, as_of, findings, region_id=region_id),
                stats.permit_rows(s, user_, as_of, findings, region_id=region_id))


def when_inputs(label: str, key: str):
    """A date and a time (five-minute steps) in Asia/Shanghai; a moment still to come is refused
    in words by the form's check (a date widget with a bound keeps a later day typed as today
    without a word)."""
    d1, t1 = st.columns(2)
    day = d1.date_input(f"{label}日期", value=ui.today_local(), format="YYYY-MM-DD",
                        key=f"{key}_day")
    now_local = now_utc().astimezone(TZ)
    at_time = t1.time_input(f"{label}时间", value=time(now_local.hour, now_local.minute // 5 * 5),
                            step=300, help="今天的时间不能晚于当前时刻", key=f"{key}_time")
    return day, at_time


def show_saved(what: str, saved) -> None:
    st.success(f"已登记{what}：{saved.external_id}")
    for f in saved.findings:
        amount = f"，涉及金额 {f.amount:,.2f} 元" if f.amount is not None else ""
        st.warning(f"规则发现（{badge(f.light)} {f.code}）：{f.reason}{amount}")


cases = load_cases(url, user, view.as_of, view.region_id, view.window_days)

# Only the selected tab runs (a click on another reruns the page for it): the default view does
# not evaluate the rules nor build the tables of the five tabs the reader has not opened. The
# choices made in a tab (the case, the stage, the finding, the action) are kept while another
# tab is open.
st.session_state.setdefault("power_stage", "during")
ui.keep_state("power_stage", "power_flag_pick", "power_flag_decide", "power_enf_case",
              "power_case", "power_action")
tab_steps, tab_stage, tab_flags, tab_enforce, tab_fees, tab_case = st.tabs(
    ["环节漏斗与超时", "事前 · 事中 · 事后", "规则发现（按单位）", "行政执法", "收费与规划",
     "办件时间线与登记"], key="power_tab", on_change="rerun")

with tab_steps:
    if tab_steps.open:  # only the selected tab runs
        if not cases:
            st.info("所选日期和范围内没有行政审批办件。" + ui.import_hint(user, "matters", "approvals"))
        else:
            left, right = st.container(), st.container()
            with left:
                st.markdown("**审批环节漏斗**（件数与中位用时）")
                fdf = pd.DataFrame(load_funnel(url, user, view.as_of, view.region_id,
                                               view.window_days))
                fdf["中位用时（工作日）"] = fdf["中位用时（工作日）"].map(
                    lambda x: "—" if x is None or pd.isna(x) else f"{x:g}")
                ui.table(fdf, "审批环节漏斗", key="power_funnel")
            with right:
                steps = stats.step_rows(cases, view.as_of)
                late = [r for r in steps if r["light"].light in (RED, YELLOW)]
                st.markdown(f"**超时最久的环节**（红黄牌 {len(late):,} 个，环节超时即亮牌，"
                            "即使整个办件仍在承诺时限内）",
                            help="按办件的环节计数（受理、决定、送达等各算一个）；页首卡片按监察事项计数，"
                                 "另含规则发现形成的亮牌，两者口径不同。")
                ui.table(pd.DataFrame([{
                    "灯色": badge(r["light"].light), "办件": r["case"].external_id,
                    "事项": r["case"].matter, "环节": r["step"].name, "单位": r["case"].unit,
                    "期限": fmt_time(r["step"].deadline),
                    "超出": fmt_duration(r["over"]) if r["over"] > 0 else "—",
                    "状态": "在办" if r["open"] else f"{fmt_time(r['step'].completed_at)} 办结",
                } for r in late[:200]], columns=["灯色", "办件", "事项", "环节", "单位", "期限", "超出",
                                                 "状态"]),
                    "超时环节", key="power_late_steps", height=360)

with tab_stage:
    if tab_stage.open:  # only the selected tab runs
        stage = st.segmented_control("阶段", list(stats.STAGES), format_func=stats.STAGES.get,
                                     key="power_stage", required=True)
        chosen = [c for c in cases if c.stage == stage]
        today = view.day
        if stage == "before":
            st.caption("收件后尚未受理的办件：5 个工作日内应一次性告知补正或受理；已告知补正的，待申请人补齐材料后受理。")
        elif stage == "during":
            paused = sum(1 for c in chosen if c.paused_on(today))
            extended = sum(1 for c in chosen if c.schedule.extension == "counted")
            st.caption(f"已受理、尚未作出决定的办件：暂停计时中 {paused} 件，已依法延期 {extended} 件。")
        else:
            st.caption("已作出决定的办件：决定是否超期、准予许可是否按时送达、不予受理/不予许可是否说明理由。")
        chosen.sort(key=lambda c: ({"red": 0, "yellow": 1}.get(c.worst.light, 2),
                                   -(c.schedule.due or c.schedule.correction_due).timestamp()))
        ui.table(pd.DataFrame([{
            "灯色": badge(c.worst.light), "办件": c.external_id, "事项": c.matter, "单位": c.unit,
            "区县": c.region, "收件": fmt_time(c.schedule.step("accept").received_at),
            "受理": fmt_time(c.values["accepted_at"]) if c.values["accepted_at"] else
            ("视为受理" if c.schedule.deemed else ("已告知补正" if c.values["correction_notice_at"]
                                                   else "—")),
            "决定期限": fmt_time(c.schedule.due) if c.schedule.due else "—",
            "暂停": f"{c.schedule.paused_days} 个工作日" if c.schedule.paused_days else "",
            "延期": {"counted": "已延期", "too_late": "延期无效（批准晚于期限）"}.get(c.schedule.extension, ""),
            "决定": stats.decision_label(c.values["decision"]) if c.values["decided_at"] else "",
            "原因": c.worst.reason,
        } for c in chosen[:500]], columns=["灯色", "办件", "事项", "单位", "区县", "收件", "受理", "决定期限",
                                            "暂停", "延期", "决定", "原因"]),
            f"审批{stats.STAGES[stage][:2]}", key=f"power_stage_{stage}", height=420)
        if len(chosen) > 500:
            st.caption(f"共 {len(chosen):,} 件，按亮牌优先列出前 500 件。" + ui.export_hint(user, "approvals"))

with tab_flags:
    if tab_flags.open:  # only the selected tab runs
        records, warnings = ui.domain_findings(url, DOMAIN, view.as_of)
        for w in warnings:
            st.warning(w)
        persisted = ui.domain_flags(url, user, DOMAIN, view.as_of)
        if not can(user, "view_all_units"):  # staff: their own unit's findings only
            records = [r for r in records if r.unit_id == user.unit_id]
        if not records:
            st.info("所选日期没有规则发现。")
        else:
            from lib.flags import RULES

            unit_names = {v.unit_id: v.unit for v in persisted} | {c.unit_id: c.unit for c in cases}
            df = pd.DataFrame([{"单位": unit_names.get(r.unit_id, str(r.unit_id)),
                                "规则": f"{r.code} {RULES[r.code].name}", "灯": r.light}
                               for r in records])
            by_unit = (df.assign(红牌=df["灯"].eq(RED).astype(int), 黄牌=df["灯"].eq(YELLOW).astype(int))
                       .groupby("单位")[["红牌", "黄牌"]].sum().reset_index()
                       .sort_values(["红牌", "黄牌"], ascending=False))
            by_rule = df.groupby("规则").size().reset_index(name="发现数").sort_values("发现数",
                                                                                    ascending=False)
            a, b = st.container(), st.container()
            with a:
                st.markdown("**各单位的规则发现**（环节超时与红线规则）")
                ui.table(by_unit, "权力运行规则发现（按单位）", key="power_flags_unit", height=320)
            with b:
                st.markdown("**各规则的发现数**")
                ui.table(by_rule, "权力运行规则发现（按规则）", key="power_flags_rule", height=320)
            pick = st.selectbox("查看一条发现的判定依据", range(len(records)), key="power_flag_pick",
                                format_func=lambda i: f"{badge(records[i].light)} {records[i].code} · "
                                                      f"{records[i].subject} · {records[i].reason[:40]}")
            ui.flag_why(records[pick])
            if persisted:
                st.markdown("**红线规则发现的核查**（纪检监察人员确认属实或排除）")
                ui.table(ui.flags_frame(persisted), "权力运行规则发现", key="power_flags_table",
                         height=280)
                # Picked by the flag's id (not its place in the list: a finding the rules add
                # between two runs would move the choice to another).
                by_flag = {f.id: f for f in persisted}
                chosen_flag = st.selectbox("核查对象", list(by_flag), key="power_flag_decide",
                                           format_func=lambda i: f"{by_flag[i].code} · "
                                                                 f"{by_flag[i].subject} · "
                                                                 f"{by_flag[i].status_label}")
                ui.flag_decision_form(user, by_flag[chosen_flag])

LEDGER_NOTE = ("本页签按{what}计数；页首“{card}”卡片按监察事项计数（该类业务的各项办理时限事项，"
               "加上规则发现形成的亮牌事项，一条发现一个事项），两者口径不同。")

with tab_enforce:
    if tab_enforce.open:  # only the selected tab runs
        st.caption(LEDGER_NOTE.format(what="执法案件", card="行政执法"))
        with ui.read() as s:
            erows = stats.enforcement_rows(s, user, view.as_of, region_id=view.region_id)
        if not erows:
            st.info("所选范围内没有行政执法案件。" + ui.import_hint(user, "discretion", "enforcement"))
        else:
            open_n = sum(1 for r in erows if r["decided_at"] is None)
            outside = sum(1 for r in erows if r["band"] in ("高于上限", "低于下限"))
            st.caption(f"立案后 90 日内（裁量基准另有规定的从其规定）作出处理决定；罚款对照该违法行为的裁量幅度。"
                       f"共 {len(erows):,} 件，未决 {open_n:,} 件，罚款超出幅度 {outside:,} 件。")
            erows.sort(key=lambda r: ({"red": 0, "yellow": 1}.get(r["light"].light, 2),
                                      r["band"] not in ("高于上限", "低于下限")))
            ui.table(pd.DataFrame([{
                "灯色": badge(r["light"].light), "案件": r["external_id"], "违法行为": r["violation"],
                "执法单位": r["unit"], "立案": fmt_time(r["filed_at"]), "决定期限": fmt_time(r["deadline"]),
                "决定": fmt_time(r["decided_at"]),
                "罚款（元）": "" if r["penalty"] is None else f"{float(r['penalty']):,.2f}",
                "裁量幅度（元）": r["band_text"], "对照": r["band"], "原因": r["light"].reason,
            } for r in erows[:500]]), "行政执法案件", key="power_enforcement", height=420)

        # -- staff: the decision on their own unit's open cases --
        if can(user, "update_items") and user.unit_id is not None:
            st.markdown("**登记处罚决定**（本单位尚未作出处理决定的执法案件）")
            with ui.read() as s:
                pct = forms.edge_pct(s)
                opens = {c.id: (c.external_id, std.name, c.filed_at, std.min_amount, std.max_amount,
                                band_edge(std, pct)) for c, std in forms.open_cases(s, user)}
            if not opens:
                st.caption("本单位没有待作出处理决定的执法案件。")
            else:
                eid = st.selectbox("执法案件", list(opens), key="power_enf_case",
                                   format_func=lambda i: f"{opens[i][0]} · {opens[i][1]} · 立案 "
                                                         f"{fmt_time(opens[i][2])}")
                ext, vname, filed, lo, hi, edge = opens[eid]
                st.caption(f"裁量基准 {float(lo):,.2f}～{float(hi):,.2f} 元；罚款不低于 "
                           f"{float(edge):,.2f} 元（幅度上端）、超出幅度或不予处罚的，须说明理由。")
                with st.form("power_penalty_form"):
                    kind = st.radio("处理决定", ["penalty", "none"], horizontal=True,
                                    format_func={"penalty": "给予罚款", "none": "不予处罚"}.get,
                                    key="power_penalty_kind")
                    penalty = st.number_input("罚款金额（元）（不予处罚时不填）", min_value=0.0,
                                              value=float(lo), step=100.0, format="%.2f",
                                              key="power_penalty_amount")
                    dday, dtime = when_inputs("决定", "power_penalty")
                    reason = st.text_area("裁量理由", max_chars=forms.MAX_REASON,
                                          key="power_penalty_reason")
                    close = st.checkbox("同时结案", key="power_penalty_close")
                    cday, ctime = when_inputs("结案", "power_close")
                    if st.form_submit_button("登记处罚决定", type="primary"):
                        try:
                            saved = ui.write(lambda s: forms.record_penalty(
                                s, user, eid, reason=reason,
                                penalty=None if kind == "none" else f"{penalty:.2f}",
                                decided_at=datetime.combine(dday, dtime, tzinfo=TZ),
                                closed_at=datetime.combine(cday, ctime, tzinfo=TZ) if close else None))
                        except (forms.FormError, PermissionDenied, ValueError) as exc:
                            st.error(f"未保存：{exc}")
                        else:
                            ui.clear_data_caches()
                            show_saved("处罚决定", saved)

with tab_fees:
    if tab_fees.open:  # only the selected tab runs
        st.caption(LEDGER_NOTE.format(what="收费笔数和规划许可件数", card="行政收费”“城乡规划"))
        frows, prows = load_fees_permits(url, user, view.as_of, view.region_id)
        st.markdown("**行政收费**（对照收费目录：擅自收费、超标准收费、不收费事项收费）")
        if not frows:
            st.info("所选范围内没有收费记录。" + ui.import_hint(user, "fee_items", "fees"))
        else:
            bad = [r for r in frows if r["light"] in (RED, YELLOW)]
            stake = sum(r["at_stake"] or 0 for r in bad)
            st.caption(f"共 {len(frows):,} 笔，规则发现 {len(bad):,} 笔，涉及金额 {stake:,.2f} 元；"
                       "亮牌的排在前面。")

            def money(x):
                return "" if x is None else f"{float(x):,.2f}"

            ui.table(pd.DataFrame([{
                "灯色": badge(r["light"]), "收费单号": r["external_id"], "收费项目": r["fee"],
                "收费单位": r["unit"], "收费时间": fmt_time(r["charged_at"]), "数量": r["quantity"],
                "实收（元）": money(r["amount"]), "目录": r["listed"],
                "标准×数量（元）": money(r["allowed"]), "超标准（元）": money(r["over"]),
                "涉及金额（元）": money(r["at_stake"]), "审批办件": r["case_ref"], "原因": r["reason"],
            } for r in frows[:500]]), "行政收费核对", key="power_fees", height=380)
            if len(frows) > 500:
                st.caption(f"共 {len(frows):,} 笔，按亮牌优先列出前 500 笔。" + ui.export_hint(user, "fees"))
        st.markdown("**规划许可**（许可指标对照控制性详细规划：许可值 / 规划限值，✗ 为突破）")
        if not prows:
            st.info("所选范围内没有规划许可。" + ui.import_hint(user, "plans", "permits"))
        else:
            from lib.domains.power.rules import INDICATORS

            labels = [label for _, _, label, _ in INDICATORS]
            st.caption(f"共 {len(prows):,} 件，规则发现 "
                       f"{sum(1 for r in prows if r['light'] in (RED, YELLOW)):,} 件。")
            ui.table(pd.DataFrame([{
                "灯色": badge(r["light"]), "许可证号": r["external_id"], "建设项目": r["project"],
                "规划": r["plan"], "核发单位": r["unit"], "核发时间": fmt_time(r["issued_at"]),
                **{label: r[label] for label in labels}, "规划修改": r["plan_changed"],
                "原因": r["reason"],
            } for r in prows[:500]]), "规划许可核对", key="power_permits", height=380)

        # -- staff: a fee their own unit charged --
        if can(user, "update_items") and user.unit_id is not None:
            st.markdown("**登记收费**（本单位收取的行政事业性收费，按收费目录选择项目）")
            with ui.read() as s:
                catalogue = [(f.code, f.name, f.standard, f.valid_to)
                             for f in forms.fee_catalogue(s)]
            own_cases = [c.external_id for c in cases if c.unit_id == user.unit_id][:300]
            if not catalogue:
                st.caption("收费目录为空。" + ui.import_hint(user, "fee_items"))
            else:
                names = {code: f"{code} {name}（{float(std):,.2f} 元/件）"
                         + (f"〔已于 {to} 后取消〕" if to else "") for code, name, std, to in catalogue}
                with st.form("power_fee_form"):
                    fee_code = st.selectbox("收费项目", list(names), format_func=names.get,
                                            key="power_fee_item")
                    q1, a1 = st.columns(2)
                    # No bounds on the widgets (their own messages are in English): the form's
                    # check says what is allowed, in Chinese, when 登记收费 is clicked.
                    quantity = q1.number_input("数量", value=1, step=1, key="power_fee_qty",
                                               help=f"1～{forms.MAX_QUANTITY} 的整数")
                    amount = a1.number_input("实收金额（元）", value=0.0, step=1.0,
                                             format="%.2f", key="power_fee_amount")
                    fday, ftime = when_inputs("收费", "power_fee")
                    payer = st.text_input("缴费人说明（缴费单位或缴费事由；勿填身份证号等个人信息）",
                                          max_chars=forms.MAX_PAYER, key="power_fee_payer")
                    case_ref = st.selectbox("审批办件（可选）", [""] + own_cases,
                                            format_func=lambda x: x or "不关联办件",
                                            key="power_fee_case")
                    receipt = st.text_input("收费单号（可选，留空自动编号）", max_chars=48,
                                            key="power_fee_receipt")
                    if st.form_submit_button("登记收费", type="primary"):
                        try:
                            saved = ui.write(lambda s: forms.record_charge(
                                s, user, fee_code=fee_code, amount=f"{amount:.2f}",
                                quantity=int(quantity), payer=payer, case_ref=case_ref or None,
                                receipt_no=receipt, charged_at=datetime.combine(fday, ftime, tzinfo=TZ)))
                        except (forms.FormError, PermissionDenied, ValueError) as exc:
                            st.error(f"未保存：{exc}")
                        else:
                            ui.clear_data_caches()
                            show_saved("收费", saved)

with tab_case:
    if tab_case.open:  # only the selected tab runs
        if not cases:
            st.info("没有可查看的办件。")
            st.stop()
        by_id = {c.id: c for c in cases}
        def pending(c) -> bool:
            """Staff have a step to record on it (it comes first for them)."""
            v = c.values
            return v["decided_at"] is None or (v["decision"] == "grant" and v["delivered_at"] is None)

        staff_first = can(user, "update_items")
        order = sorted(by_id, key=lambda i: (0 if staff_first and pending(by_id[i]) else 1,
                                             {"red": 0, "yellow": 1}.get(by_id[i].worst.light, 2),
                                             by_id[i].external_id))
        cid = st.selectbox("办件", order, key="power_case", format_func=lambda i: (
            f"{badge(by_id[i].worst.light)} {by_id[i].external_id} · {by_id[i].matter} · {by_id[i].unit}"))
        c = by_id[cid]
        sch = c.schedule
        st.markdown(f"**{c.external_id}** · {c.matter}（承诺时限 {c.promised_days} 个工作日）· {c.unit}"
                    f" · {c.region}")
        st.dataframe(pd.DataFrame([{
            "环节": step.name, "开始": fmt_time(step.received_at), "时限": step.basis,
            "期限": fmt_time(step.deadline), "完成": fmt_time(step.completed_at),
            "灯色": badge(c.lights[step.code].light) if step.code in c.lights else "—",
            "原因": c.lights[step.code].reason if step.code in c.lights else "",
        } for step in sch.steps]), hide_index=True, width="stretch")
        for note in sch.notes:
            st.caption(note)
        facts = []
        if c.values["correction_notice_at"]:
            facts.append(f"补正告知：{fmt_time(c.values['correction_notice_at'])}")
        if c.values["extension_approved_at"]:
            facts.append(f"延期 {c.values['extension_days']} 个工作日，{fmt_time(c.values['extension_approved_at'])} 批准"
                         + ("（有效）" if sch.extension == "counted" else "（晚于当时期限，无效）"))
        if c.values["decided_at"]:
            facts.append(f"决定：{stats.decision_label(c.values['decision'])}"
                         + (f"，理由：{c.values['reason']}" if c.values["reason"] else "，未说明理由"
                            if c.values["decision"] == "refuse" else ""))
        for f in facts:
            ui.plain(f)
        if c.pauses:
            st.markdown("**特别程序暂停**（起止日期均计入，期限顺延其间的工作日）")
            st.dataframe(pd.DataFrame([{"程序": stats.pause_label(k), "理由": r, "开始": str(a),
                                        "结束": str(b)} for k, r, a, b in c.pauses]),
                         hide_index=True, width="stretch")

        # -- staff's forms: their own unit's cases only (the library refuses any other) --
        if not can(user, "update_items"):
            st.stop()
        if user.unit_id != c.unit_id:
            st.caption("只能登记本单位办件的办理环节。")
            st.stop()
        v = c.values
        if v["decided_at"] is None:
            allowed = []
            if v["accepted_at"] is None:
                allowed += (["correct"] if v["correction_notice_at"] is None else []) + ["accept"]
            if sch.clock_start is not None:
                allowed += ["pause"] + (["resume"] if c.pauses else []) + \
                    (["extend"] if v["extension_days"] is None else [])
            allowed += ["decide"]
        else:
            allowed = ["deliver"] if v["decision"] == "grant" and v["delivered_at"] is None else []
        if not allowed:
            st.caption("该办件各环节均已办结。")
            st.stop()
        st.markdown("**登记办理环节**")
        action = st.selectbox("操作", allowed, format_func=approvals.ACTIONS.get, key="power_action")
        with st.form("power_step"):
            kw = {}
            if action in ("correct", "accept", "extend", "decide", "deliver"):
                d1, t1 = st.columns(2)
                day = d1.date_input("日期", value=ui.today_local(), format="YYYY-MM-DD")
                now_local = now_utc().astimezone(TZ)
                at_time = t1.time_input("时间", value=time(now_local.hour, now_local.minute // 5 * 5),
                                        step=300, help="今天的时间不能晚于当前时刻")
            if action == "decide":
                kw["decision"] = st.radio("决定", list(approvals.DECISIONS),
                                          format_func=approvals.DECISIONS.get, horizontal=True,
                                          key="power_decision")
            if action == "extend":
                kw["days"] = st.number_input("延期（工作日）", min_value=1, max_value=30, value=10)
            if action == "pause":
                kw["kind"] = st.selectbox("特别程序", list(approvals.PAUSE_KINDS),
                                          format_func=approvals.PAUSE_KINDS.get)
                p1, p2 = st.columns(2)
                kw["start"] = p1.date_input("暂停开始日期（含）", value=ui.today_local(), format="YYYY-MM-DD")
                kw["end"] = p2.date_input("预计结束日期（含）", value=ui.today_local(), format="YYYY-MM-DD")
            if action == "resume":
                kw["end"] = st.date_input("暂停实际结束日期（含）", value=ui.today_local(),
                                          format="YYYY-MM-DD")
            need = {"pause": "暂停理由（必填）", "extend": "延期理由（必填）",
                    "decide": "理由（不予许可必填）", "resume": "说明（可选）"}
            reason = st.text_area(need.get(action, "说明（可选）"), max_chars=approvals.MAX_REASON,
                                  key="power_reason")
            if st.form_submit_button("提交", type="primary"):
                if action in ("correct", "accept", "extend", "decide", "deliver"):
                    kw["at"] = datetime.combine(day, at_time, tzinfo=TZ)
                try:
                    result = ui.write(lambda s: approvals.record_step(
                        s, user, cid, action, reason=reason, **kw))
                except (approvals.ApprovalError, PermissionDenied, ValueError) as exc:
                    st.error(f"未保存：{exc}")
                else:
                    ui.clear_data_caches()
                    due = f"，决定期限 {fmt_time(result.due)}" if result.due else ""
                    st.success(f"已登记：{approvals.ACTIONS[action]}{due}")
