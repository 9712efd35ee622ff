"""要素市场: public procurement, construction bidding, land and property trading under
supervision — the centres' KPIs and map, red flags by buyer and supplier, the weighted audit
queue with the inspectors' conclusions, trends, the fences computed from the data, and a
tender's drill-down (timeline, every bid, each flag's inputs, threshold and why)."""

from collections import Counter

import pandas as pd
import streamlit as st

from lib import charts, flags, ui
from lib.access import PermissionDenied, can
from lib.config import TZ
from lib.domains.market import DOMAIN, queries, rules
from lib.lights import badge, fmt_time

user = ui.require("market")
url = ui.url()
view = ui.domain_view(DOMAIN)

st.title("要素市场")
st.caption(f"政府采购、工程招投标、土地交易、产权交易 · {view.day:%Y-%m-%d} 结束时 · {view.window_name}"
           f" · {ui.scope_name(user, view)}。法定时限由统一亮灯引擎按时钟亮灯；红旗规则逐条说明定义、出处、数据与阈值。")
ui.domain_overview(user, view)


@st.cache_data(ttl=120, show_spinner=False)
def fences(url_: str, as_of):
    with ui.read() as s:
        return rules.fence_table(s, as_of)


@st.cache_data(ttl=120, show_spinner=False)
def lookups(url_: str):
    from sqlalchemy import select

    from lib.models import Unit

    with ui.read() as s:
        units = dict(s.execute(select(Unit.id, Unit.name)).all())
        return units, queries.winners(s), queries.supplier_names(s)


@st.cache_data(ttl=120, show_spinner=False)
def risks(url_: str, as_of, region_id, _records: list):
    """The tenders' and buyers' risk queues of the findings, kept by what the findings come
    from (the domain's rules as of the moment, in the county): hashing the records themselves
    for the cache's key took 24 ms of each run."""
    records = _records
    units, _, _ = lookups(url_)
    with ui.read() as s:  # the rules' settings read once, for both queues and the table
        weights = {code: float(t["weight"])
                   for code, t in flags.thresholds_of(s, flags.rules_of(DOMAIN)).items()}
        return (flags.risk_queue(s, records, weights=weights),
                queries.buyer_risk(s, records, units, weights=weights), weights)


records, warnings = ui.domain_findings(url, DOMAIN, view.as_of)
if view.region_id is not None:
    records = [r for r in records if r.region_id == view.region_id]
for w in warnings:
    st.warning(w)
units, winners, supplier_names = lookups(url)
rules_by_code = {r.code: r for r in flags.rules_of(DOMAIN)}
tender_subjects = {ext for ext in winners} | {r.subject for r in records
                                              if r.subject.startswith(("ZJCG-", "ZJGC-"))}

c = st.columns(4)
c[0].metric("触发规则的发现", f"{len(records)}", help="截至所选日期，所有规则（含法定时限）的发现")
c[1].metric("红牌", f"{sum(r.light == 'red' for r in records)}")
c[2].metric("涉及项目", f"{len({r.subject for r in records if r.subject in tender_subjects})}")
c[3].metric("涉及金额", f"{sum(float(r.amount or 0) for r in records) / 1e4:,.1f} 万元")

# Only the selected tab runs (a click on another reruns the page for it); the choices made in
# a tab are kept while another is open.
ui.keep_state("market_flag_pick", "market_tender", "market_th_rule", "market_th_name")
tab_queue, tab_who, tab_tender, tab_rules, tab_trend = st.tabs(
    ["核查队列", "按采购人与供应商", "项目详查", "规则与围栏", "趋势"], key="market_tab",
    on_change="rerun")

tender_q, buyer_q, weights = risks(url, view.as_of, view.region_id, records)

with tab_queue:
    if tab_queue.open:
        st.markdown("**项目风险队列**：每个项目按触发规则的权重求和排序（权重可在规则设置中调整，见“规则与围栏”）。")
        tq = [q for q in tender_q if q.subject in tender_subjects]
        if not tq:
            st.info("所选范围内没有触发规则的项目。")
        else:
            ui.table(pd.DataFrame([{
                "风险等级": flags.BUCKETS[q.bucket], "分值": q.score, "项目": q.subject,
                "采购人": units.get(q.unit_id, ""),
                "规则": "、".join(f"{c} {rules_by_code[c].name}" for c in q.codes),
                "涉及金额（元）": round(float(q.amount), 2),
            } for q in tq]), "项目风险队列", key="market_tender_queue")
        st.markdown("**采购人风险**：该单位全部发现的权重之和。")
        if buyer_q:
            ui.table(pd.DataFrame([{
                "单位": b["unit"], "分值": b["score"], "红牌": b["red"], "黄牌": b["yellow"],
                "规则": "、".join(b["codes"]), "涉及金额（元）": round(float(b["amount"]), 2)}
                for b in buyer_q]), "采购人风险", key="market_buyer_queue")
        st.divider()
        st.markdown("**待核查的发现**（红黄牌）：核查属实或排除；排除的发现其红黄牌撤销，不计入考核。")
        views = ui.domain_flags(url, user, DOMAIN, view.as_of)
        if view.region_id is not None:
            keep = {(r.code, r.subject) for r in records}
            views = [v for v in views if (v.code, v.subject) in keep]
        views.sort(key=lambda v: (ui.FLAG_STATUS_ORDER[v.status], -weights.get(v.code, 1.0),
                                  v.light != "red"))
        if not views:
            st.info("没有规则发现。规则每 10 分钟由系统自动运行一次；导入项目和投标后立即运行。")
        else:
            ui.table(ui.flags_frame(views), "要素市场规则发现", key="market_flags")
            by_id = {v.id: v for v in views}
            fid = st.selectbox("查看与核查", list(by_id), key="market_flag_pick",
                               format_func=lambda i: f"{by_id[i].status_label} · {by_id[i].code} "
                                                     f"{by_id[i].rule} · {by_id[i].subject}")
            ui.flag_why(by_id[fid])
            ui.flag_decision_form(user, by_id[fid])

with tab_who:
    if tab_who.open:
        left, right = st.columns(2)
        with left:
            st.markdown("**按采购人（责任单位）**")
            per_unit = Counter()
            for r in records:
                per_unit[(units.get(r.unit_id, ""), r.light)] += 1
            names = sorted({u for u, _ in per_unit}, key=lambda u: -(per_unit[(u, "red")] * 10
                                                                      + per_unit[(u, "yellow")]))
            ui.table(pd.DataFrame([{"单位": u, "红牌": per_unit[(u, "red")],
                                    "黄牌": per_unit[(u, "yellow")]} for u in names]),
                     "要素市场按采购人", key="market_by_buyer")
        with right:
            st.markdown("**按供应商**（中标项目被标记，或本身被标记）")
            per_sup: dict = {}
            for r in records:
                if r.subject in supplier_names:
                    code, name = r.subject, supplier_names[r.subject]
                elif r.subject in winners:
                    code, name = winners[r.subject]
                else:
                    continue
                a = per_sup.setdefault(code, {"供应商": name, "代码": code, "发现": 0, "规则": set()})
                a["发现"] += 1
                a["规则"].add(r.code)
            rows = sorted(per_sup.values(), key=lambda a: -a["发现"])
            ui.table(pd.DataFrame([a | {"规则": "、".join(sorted(a["规则"]))} for a in rows]),
                     "要素市场按供应商", key="market_by_supplier")

with tab_tender:
    if tab_tender.open:
        with ui.read() as s:
            options = queries.tender_options(s, view.as_of, view.region_id)
        if not options:
            st.info("所选范围内没有采购或招标项目。" + ui.import_hint(user, "tenders", "bids"))
        else:
            flagged = [q.subject for q in tender_q if q.subject in tender_subjects]
            titles = {ext: f"{ext} · {title or ''} · {buyer}" for ext, title, buyer in options}
            seen = set(flagged)
            order = [e for e in flagged if e in titles] + [e for e in titles if e not in seen]
            ext = st.selectbox("项目（有发现的在前，风险高者优先）", order, key="market_tender",
                               format_func=titles.get)
            with ui.read() as s:
                d = queries.tender_detail(s, ext, view.as_of)
            t = d["tender"]
            st.markdown(f"**{ui.esc(t.title or t.external_id)}** · 采购人 {ui.esc(d['buyer'])} · "
                        f"{d['method']} · 品目 {ui.esc(t.category)} · 预算 {float(t.estimate):,.2f} 元"
                        + (f" · 合同 {float(t.contract_value):,.2f} 元" if t.contract_value and
                           t.contract_signed_at and t.contract_signed_at <= view.as_of else ""))
            st.markdown("**时间线**（法定时限事项由统一亮灯引擎判定）")
            st.dataframe(pd.DataFrame([{
                "环节": e.what, "时间": fmt_time(e.at), "法定期限": fmt_time(e.due),
                "灯色": badge(e.light) if e.light else "", "说明": e.reason} for e in d["events"]]),
                hide_index=True, width="stretch")
            st.markdown("**全部投标**（按报价排序）"
                        + (f" · 有效报价离散度（最高/最低 − 1）：{d['spread']:.1%}" if d["spread"] is not None
                           else ""))
            if d["bids"]:
                ui.table(pd.DataFrame([{
                    "名次": b["rank"], "投标人": b["name"], "代码": b["supplier"],
                    "成立日期": str(b["founded"] or ""), "报价（元）": f"{b['price']:,.2f}",
                    "高于最低有效价": "" if b["vs_lowest"] is None else f"{b['vs_lowest']:+.2%}",
                    "相对中标价": "" if b["vs_winner"] is None else f"{b['vs_winner']:+.2%}",
                    "送达时间": fmt_time(b["received_at"]) + ("（截止后）" if b["late"] else ""),
                    "结果": "中标" if b["winner"] else ("否决：" + b["reason"] if b["disqualified"]
                                                       else "有效"),
                } for b in d["bids"]]), f"{ext}投标", key="market_bids")
            else:
                st.caption("尚无投标记录。")
            mine = [r for r in records if r.subject == ext]
            st.markdown(f"**本项目的发现**（{len(mine)} 条）")
            if not mine:
                st.caption("本项目没有触发任何规则。")
            for r in mine:
                with st.container(border=True):
                    ui.flag_why(r)

with tab_rules:
    if tab_rules.open:
        st.markdown("**由数据计算的围栏**（Q1 − k·IQR / Q3 + k·IQR；样本不足时该规则不判定）")
        ui.table(pd.DataFrame(fences(url, view.as_of)), "要素市场围栏", key="market_fences")
        st.markdown("**规则一览**")
        fired = Counter(r.code for r in records)
        with ui.read() as s:
            rows = []
            every = flags.thresholds_of(s, flags.rules_of(DOMAIN))
            for r in flags.rules_of(DOMAIN):
                th = every[r.code]
                rows.append({
                    "规则": r.code, "名称": r.name, "类型": "法定时限" if r.timing else "红旗",
                    "权重": th["weight"], "本期触发": fired.get(r.code, 0),
                    "阈值": "；".join(f"{r.labels.get(k, k)}={r.value_text(k, v)}" for k, v in th.items()
                                     if k != "weight") or "—",
                    "定义与出处": r.definition_with(th)})
        ui.table(pd.DataFrame(rows), "要素市场规则", key="market_rules")
        if can(user, "manage_settings"):
            st.markdown("**调整阈值或权重**（系统管理员；下一次规则运行起生效，留痕）")
            codes = [r.code for r in flags.rules_of(DOMAIN)]
            code = st.selectbox("规则", codes, key="market_th_rule",
                                format_func=lambda c: f"{c} {rules_by_code[c].name}")
            rule = rules_by_code[code]
            names = list(rule.defaults) + ["weight"]
            name = st.selectbox("参数", names, key="market_th_name",
                                format_func=lambda n: "风险权重" if n == "weight"
                                else rule.labels.get(n, n))
            with ui.read() as s:
                current = flags.thresholds(s, rule)[name]
            with st.form("market_threshold"):
                ratio = name.endswith(flags.RATIO_SUFFIXES)
                value = st.number_input(f"新值（当前 {current}" + (
                    f"，即 {rule.value_text(name, current)}；按小数填写，如 0.7 即 70%" if ratio else "")
                    + "）", min_value=0.0, max_value=1.0 if ratio else None, value=float(current),
                    step=1.0 if isinstance(current, int) else 0.01,
                    format="%d" if isinstance(current, int) else "%.4f")
                if st.form_submit_button("保存", type="primary"):
                    try:
                        ui.write(lambda s: flags.set_threshold(s, user, code, name, value))
                    except (flags.FlagError, PermissionDenied) as exc:
                        st.error(f"未保存：{exc}")
                    else:
                        ui.clear_data_caches()
                        st.success(f"已保存：{code} 的“{rule.labels.get(name, name)}”为 "
                                   f"{rule.value_text(name, value)}。")
        else:
            st.caption("阈值和权重由系统管理员在本页调整，每次调整记入审计日志。")

with tab_trend:
    if tab_trend.open:
        if not records:
            st.info("所选范围内没有发现。")
        else:
            df = pd.DataFrame([{"月份": r.at.astimezone(TZ).strftime("%Y-%m"),
                                "规则": f"{r.code} {rules_by_code[r.code].name}"} for r in records])
            pivot = df.pivot_table(index="月份", columns="规则", aggfunc="size", fill_value=0)
            st.markdown("**每月发现数**（按越线时间）")
            ui.chart(charts.monthly_stacked_bars(pivot, title="发现数"))
            ui.table(pivot.reset_index(), "要素市场趋势", key="market_trend")
