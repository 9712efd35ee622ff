"""专项资金: from budget to the person paid — KPIs per fund line, execution against the
time-proportional plan, the county map, what the rules found (by unit, village and payee, with
the money at stake), an inspector's conclusion on each finding, and a payment's or payee's
drill-down with every finding's why."""

from collections import defaultdict

import pandas as pd
import streamlit as st

from lib import access, charts, queries, ui
from lib import flags as flags_lib
from lib.domains.funds import store
from lib.lights import RED, YELLOW, badge, fmt_time

DOMAIN = "FUNDS"
user = ui.require("funds")
url = ui.url()

params = st.query_params
wanted_light = params.get("light") if params.get("light") in ("red", "yellow", "green", "grey") else ""
wanted_state = params.get("state") if params.get("state") in ("open", "closed") else ""

view = ui.domain_view(DOMAIN)
st.title("专项资金")
st.caption(f"{ui.scope_name(user, view)} · 截至 {fmt_time(view.as_of)} · 财政资金运行、“三公”经费、扶贫救灾、惠农补贴、"
           "社保基金、住房公积金：从预算到每一位收款人。每笔发放的“审批—发放”环节按时限亮灯，"
           "异常由规则判定，逐条列明原因和涉及金额。")
counts = ui.domain_overview(user, view)


@st.cache_data(ttl=120, show_spinner=False)
def kpis(url_, user_, as_of, region_id):
    with ui.read() as s:
        return store.line_kpis(s, user_, as_of, region_id)


@st.cache_data(ttl=120, show_spinner=False)
def curves(url_, user_, as_of, region_id):
    with ui.read() as s:
        return store.execution_curves(s, user_, as_of, region_id=region_id)


@st.cache_data(ttl=120, show_spinner=False)
def program_rows(url_, user_, as_of):
    with ui.read() as s:
        return store.program_table(s, user_, as_of)


def money(x) -> str:
    return "—" if x is None or pd.isna(x) else f"{x / 10000:,.1f} 万元"


# -- execution against plan ----------------------------------------------------------------------
st.subheader("预算执行与序时进度")
k = kpis(url, user, view.as_of, view.region_id)
cols = st.columns(len(k))
for col, (_, r) in zip(cols, k.iterrows(), strict=True):
    with col.container(border=True):
        st.markdown(f"**{r['line_name']}**")
        if not r["programs"]:
            st.caption("本年度暂无资金项目")
            continue
        execution = r["execution"]
        gap = (r["plan"] - execution) * 100 if execution is not None else None
        st.metric("执行率", f"{execution:.1%}" if execution is not None else "—",
                  delta=None if gap is None else f"{-gap:+.1f} 点",
                  delta_color="normal", help=f"序时进度 {r['plan']:.1%}（本年已过天数 ÷ 全年天数）；箭头为执行率"
                       "超前（+）或落后（−）序时进度的百分点")
        st.caption(f"预算 {money(r['budget'])} · 已支出 {money(r['paid'])}  \n"
                   f"{r['programs']} 个项目 · {int(r['payments']):,} 笔 · {int(r['payees']):,} 名收款人（各项目合计）")
        if r["budget"] and r["paid"] and r["paid"] > r["budget"]:
            st.markdown(f":red[**支出超出预算 {money(r['paid'] - r['budget'])}**]",
                        help="已支出合计大于预算合计：请核对预算调整是否已录入，或是否存在超预算支出")
cv = curves(url, user, view.as_of, view.region_id)
if cv.empty:
    st.info("本年度还没有资金项目。" + ui.import_hint(user, "programs", "payments"))
else:
    st.vega_lite_chart(charts.execution_curves(cv))
    st.caption("实线：累计实际支出占预算的比例；虚线：序时进度。支出落后序时进度 10–30 个百分点为黄牌，"
               "超过 30 个百分点为红牌（阈值可在系统设置中调整）；“三公”经费超预算或高于上年同期为红牌。")
programs_box = st.expander("资金项目一览", key="funds_programs_open", on_change="rerun")
with programs_box:
    if programs_box.open:  # read only when opened (a click reruns the page)
        pt = program_rows(url, user, view.as_of)
        if pt.empty:
            st.caption("暂无资金项目。")
        else:
            ui.table(pt, "资金项目", key="funds_programs")

# -- findings -------------------------------------------------------------------------------------
st.subheader("规则发现与涉及金额")
TIMED_RULES = {r.code for r in flags_lib.rules_of(DOMAIN) if r.timing}  # lit by the clock
records, warnings = ui.domain_findings(url, DOMAIN, view.as_of)
own = access.unit_scope(user)
cat = ui.catalog_frames(url)
unit_region = dict(zip(cat["units"]["unit_id"], cat["units"]["unit_region_id"], strict=True))
if own is not None:
    records = [r for r in records if r.unit_id == own]
if view.region_id is not None:
    records = [r for r in records if (r.region_id or unit_region.get(r.unit_id)) == view.region_id]
for w in warnings:
    st.warning(w)
subjects = sorted({r.subject for r in records})


@st.cache_data(ttl=120, show_spinner=False)
def payments_of(url_, user_, externals: tuple[str, ...]):
    with ui.read() as s:
        return {p.external_id: p for p in store.payments(s, user_, externals)}


pay = payments_of(url, user, tuple(subjects))
units = dict(zip(cat["units"]["unit_id"], cat["units"]["unit"], strict=True))
rules = {}
for r in records:
    rules.setdefault(r.code, r)
if not records:
    st.success("所选范围内没有规则发现。")
else:
    reds = sum(r.light == RED for r in records)
    at_stake = sum(r.amount or 0 for r in records)
    c = st.columns(4)
    c[0].metric("规则发现", f"{len(records):,} 条")
    c[1].metric(f"{badge(RED)}", f"{reds:,}")
    c[2].metric(f"{badge(YELLOW)}", f"{len(records) - reds:,}")
    c[3].metric("涉及金额", money(at_stake), help="各条发现涉及金额之和（同一笔发放触发多条规则时分别计入）")
    from lib import flags as flag_rules

    by_rule = defaultdict(lambda: [0, 0, 0.0])
    for r in records:
        a = by_rule[r.code]
        a[0] += r.light == RED
        a[1] += r.light == YELLOW
        a[2] += r.amount or 0
    ui.table(pd.DataFrame([{"规则": f"{code} {flag_rules.RULES[code].name}", "红牌": a[0], "黄牌": a[1],
                            "涉及金额（元）": round(a[2], 2),
                            "定义": flag_rules.RULES[code].definition_with(rules[code].thresholds)}
                           for code, a in sorted(by_rule.items())]), "规则发现汇总", key="funds_by_rule")

    def group_table(key_of, label: str, name: str, key: str) -> None:
        acc = defaultdict(lambda: [0, 0, 0.0, set()])
        for r in records:
            g = key_of(r)
            if not g:
                continue
            a = acc[g]
            a[0] += r.light == RED
            a[1] += r.light == YELLOW
            a[2] += r.amount or 0
            a[3].add(r.code)
        df = pd.DataFrame([{label: g, "红牌": a[0], "黄牌": a[1], "涉及金额（元）": round(a[2], 2),
                            "规则": "、".join(flag_rules.RULES[c].name for c in sorted(a[3]))}
                           for g, a in acc.items()])
        if df.empty:
            st.caption("没有可归属的发现。")
            return
        ui.table(df.sort_values(["红牌", "涉及金额（元）"], ascending=False), name, key=key)

    def village_of(r):
        if r.subject in pay:
            return pay[r.subject].village or None
        if r.code == "FND-R07":
            return r.inputs.get("村")
        return None

    # Only the selected tab's table is built (a click on another reruns the page for it).
    t_unit, t_village, t_payee, t_all = st.tabs(["按单位", "按村（居）", "按收款人", "全部发现"],
                                                key="funds_find_tab", on_change="rerun")
    with t_unit:
        if t_unit.open:
            group_table(lambda r: units.get(r.unit_id), "单位", "规则发现_按单位", "funds_g_unit")
    with t_village:
        if t_village.open:
            group_table(village_of, "村（居）", "规则发现_按村", "funds_g_village")
    with t_payee:
        if t_payee.open:
            group_table(lambda r: (f"{pay[r.subject].payee}（#{pay[r.subject].payee_id}）"
                                   if r.subject in pay else None),
                        "收款人", "规则发现_按收款人", "funds_g_payee")
    with t_all:
        if t_all.open:
            ui.table(pd.DataFrame([{
                "灯色": badge(r.light), "规则": f"{r.code} {flag_rules.RULES[r.code].name}",
                "对象": r.subject, "责任单位": units.get(r.unit_id, ""), "涉及金额（元）": r.amount,
                "发生时间": fmt_time(r.at), "原因": r.reason} for r in records]),
                "规则发现", key="funds_all")

# -- conclusions -----------------------------------------------------------------------------------
st.subheader("核查结论")
flagged = ui.domain_flags(url, user, DOMAIN, view.as_of)
if view.region_id is not None:
    flagged = [f for f in flagged if unit_region.get(f.unit_id) == view.region_id]
if not flagged:
    st.caption("暂无需要核查的规则发现（规则引擎每 10 分钟更新一次）。")
else:
    standing = [f.stands for f in flagged]
    names = flags_lib.STANDING | {"withdrawn": "已撤回"}  # short enough for a button
    status = st.segmented_control("状态", list(names), default="open", key="funds_flag_status",
                                  format_func=lambda s: f"{names[s]}（{standing.count(s)}）")
    shown = [f for f in flagged if not status or f.stands == status]
    ui.table(ui.flags_frame(shown), "规则发现核查", key="funds_flags")
    recovered = sum(f.recovered or 0 for f in flagged)
    clocked = [r.code for r in records if r.code in TIMED_RULES]
    st.caption(f"需要核查的规则发现共 {len(flagged)} 条：已核查属实 {standing.count('confirmed')} 条，"
               f"追回金额 {recovered:,.2f} 元；排除 {standing.count('dismissed')} 条。"
               + (f"另有按时限亮灯的 {len(clocked)} 条（{'、'.join(sorted(set(clocked)))}），"
                  "由时限判定，不需核查，见下方“审批—发放环节”。" if clocked else ""))
    if shown:
        by_id = {f.id: f for f in shown}
        fid = st.selectbox("选择一条发现", list(by_id), key="funds_flag_pick",
                           format_func=lambda i: f"{by_id[i].code} {by_id[i].rule} · {by_id[i].subject}"
                                                 f" · {by_id[i].status_label}")
        with st.container(border=True):
            ui.flag_why(by_id[fid])
            ui.flag_decision_form(user, by_id[fid])

# -- drill-down --------------------------------------------------------------------------------------
st.subheader("发放明细与收款人")


@st.cache_data(ttl=120, show_spinner=False)
def recent(url_, user_, as_of):
    with ui.read() as s:
        return store.recent_payments(s, user_, as_of, limit=300)


flagged_pay = [pay[s] for s in subjects if s in pay]
choices = {p.external_id: p for p in flagged_pay}
for p in recent(url, user, view.as_of):
    choices.setdefault(p.external_id, p)
if not choices:
    st.info("暂无发放记录。" + ui.import_hint(user, "payments"))
    st.stop()
flagged_ids = {p.external_id for p in flagged_pay}
ext = st.selectbox("选择发放记录（有规则发现的在前，其后为最近发放）", list(choices), key="funds_pay_pick",
                   format_func=lambda e: f"{'⚑ ' if e in flagged_ids else ''}{e} · {choices[e].payee} · "
                                         f"{choices[e].amount:,.2f} 元 · {choices[e].program}")
p = choices[ext]
c = st.columns([1, 3])
c[0].metric("金额", f"{p.amount:,.2f} 元")
c[1].markdown(f"收款人：**{ui.esc(p.payee)}**　所在村（居）：**{ui.esc(p.village or '—')}**  \n"
              f"发放时间：**{fmt_time(p.paid_at) if p.paid_at else '未发放'}**")
st.caption(f"{p.program}（{p.program_code}，{p.line}）· 发放单位 {p.unit} · 审批 {fmt_time(p.approved_at)}")
if access.can(user, "view_payee_identity"):
    if st.button("查看收款人证件号和收款账号（将记入审计日志）", key=f"funds_reveal_{p.id}"):
        try:
            id_no, account = ui.write(lambda s: store.reveal(s, user, p.id))
        except (store.FundsError, access.PermissionDenied) as exc:
            st.error(f"未显示：{exc}")
        else:
            st.info(f"证件号：{id_no}　收款账号：{account}（本次查看已留痕）")
mine = [r for r in records if r.subject == ext]
if mine:
    st.markdown(f"**这笔发放的规则发现（{len(mine)} 条）**")
    for r in mine:
        with st.container(border=True):
            ui.flag_why(r)
else:
    st.caption("这笔发放没有规则发现。")


@st.cache_data(ttl=120, show_spinner=False)
def history(url_, user_, payee_id, as_of):
    with ui.read() as s:
        return store.payee_payments(s, user_, payee_id, as_of)


hist = history(url, user, p.payee_id, view.as_of)
by_subject = defaultdict(list)
for r in records:
    by_subject[r.subject].append(r)
st.markdown(f"**收款人 {ui.esc(p.payee)} 的全部发放（{len(hist)} 笔）**")
ui.table(pd.DataFrame([{
    "发放编号": h.external_id, "项目": h.program, "金额（元）": h.amount, "村（居）": h.village,
    "审批": fmt_time(h.approved_at), "发放": fmt_time(h.paid_at) if h.paid_at else "未发放",
    "规则发现": "、".join(f"{badge(r.light)} {r.code}" for r in by_subject.get(h.external_id, [])),
} for h in hist]), "收款人发放记录", key="funds_payee_hist")
others = [r for h in hist if h.external_id != ext for r in by_subject.get(h.external_id, [])]
if others:
    with st.expander(f"该收款人其他发放的规则发现（{len(others)} 条）"):
        for r in others:
            with st.container(border=True):
                ui.flag_why(r)

# -- the supervised steps ---------------------------------------------------------------------------
st.subheader("审批—发放环节（按时限亮灯）")
lights = {"": "全部", "red": badge(RED), "yellow": badge(YELLOW), "green": "● 绿灯", "grey": "○ 资料不全"}
a, b = st.columns(2)
light = a.selectbox("灯色", list(lights), format_func=lights.get, key="funds_list_light",
                    index=list(lights).index(wanted_light))
states = {"": "全部", **queries.STATES}
state = b.selectbox("办理状态", list(states), format_func=states.get, key="funds_list_state",
                    index=list(states).index(wanted_state))
flt = queries.ItemFilter(as_of=view.as_of, window_days=view.window_days, domain_code=DOMAIN,
                         region_id=view.region_id, light=light or None, state=state or None)
ui.item_list(user, flt, key="funds_items", export_name="专项资金事项",
             empty="没有符合条件的事项。可换一个灯色、办理状态或查看日期。")
