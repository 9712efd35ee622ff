"""效能排名与网上测评 (public portal): the published efficiency rankings of units, every published
period, the year's summary, and the public's online evaluation of a unit's service."""

import pandas as pd
import streamlit as st

from lib import evaluations, scoring, scoring_export, ui
from lib.lights import fmt_time

ui.public("rankings")
SCORE_FORMAT = {"得分": st.column_config.NumberColumn(format="%.2f")}  # as the full table: 93.00
url = ui.url()
st.title("行政效能排名公布")
st.caption("湛江市纪委监委定期公布各单位行政效能考核得分和排名，接受社会监督，并作为年度考核依据。"
           "公布的排名冻结保存，之后不再改变；每期附校验值（SHA-256）。")

tab_rank, tab_year, tab_eval = st.tabs(["各期排名", "年度汇总", "网上测评"])
snaps = ui.published_snapshots(url, "unit")

with tab_rank:
    if not snaps:
        st.info("尚未公布效能排名。考核期结束后由纪检监察机关公布，届时可在此查看。")
    else:
        by_period = {x["period"]: x for x in snaps}
        code = st.selectbox("考核期", list(by_period), key="pub_period",
                            format_func=lambda c: scoring.Period.parse(c).label)
        snap = by_period[code]
        period = scoring.Period.parse(code)
        prev = by_period.get(period.previous().code)
        rows = scoring.compare(snap["rows"], prev["rows"] if prev else None)
        scheme = scoring.Scheme.from_dict(snap["scheme"])
        st.markdown(f"**{period.label}单位排名** · 公布于 {fmt_time(snap['published_at'])} · "
                    + ("校验通过" if snap["valid"] else "**校验失败**"))
        if not snap["valid"]:
            st.error("本期排名数据与公布时的校验值不符，已报告系统管理员。")
        ranked = [r for r in rows if r["ranked"]]
        red, black = st.columns(2)
        with red:
            st.markdown("**红榜（前五名）**")
            ui.table(pd.DataFrame([{"名次": scoring.rank_text(r), "单位": r["name"],
                                        "得分": r["score"], "等次": r["grade"]}
                                       for r in ranked[:5]]), "红榜", key="pub_red",
                     column_config=SCORE_FORMAT)
        with black:
            st.markdown("**黑榜（后五名）**")
            ui.table(pd.DataFrame([{"名次": scoring.rank_text(r), "单位": r["name"],
                                        "得分": r["score"], "等次": r["grade"]}
                                       for r in ranked[-5:][::-1]]), "黑榜", key="pub_black",
                     column_config=SCORE_FORMAT)
        public = scoring.frame(rows, "unit", with_move=prev is not None)
        ui.table(ui.scores_table(public), "效能排名", key="pub_all")
        st.caption(f"校验值：{snap['hash']}")
        with st.expander("考核办法"):
            for line in scheme.describe():
                st.markdown(f"- {line}")
            for i in scoring.INDICATORS:
                st.markdown(f"- **{i.label}**（权重 {scheme.weights[i.code]}）：{i.how}")
        meta = scoring_export.ReportMeta(period.label, "unit",
                                         f"已公布 {fmt_time(snap['published_at'])}",
                                         scoring.as_of_text(snap["as_of"]), snap["hash"])
        moved = prev is not None
        st.download_button("下载打印版（HTML）",  # built when clicked, not on every run
                           lambda: scoring_export.printable_html(rows, meta, scheme,
                                                                 with_move=moved).encode("utf-8"),
                           file_name=f"行政效能排名_{code}.html", mime="text/html")

with tab_year:
    years = sorted({scoring.Period.parse(x["period"]).year for x in snaps}, reverse=True)
    if not years:
        st.info("尚无已公布的考核期。")
    else:
        year = st.selectbox("年度", years, key="pub_year")
        summary = scoring.summarize_year([(x["period"], x["rows"]) for x in snaps], year)
        ui.table(ui.scores_table(summary), "年度汇总", key="pub_year")
        st.caption(f"各列为该年度已公布各期的得分（“—”：该期未参与排名）；“{scoring.QUARTER_MEAN}”为该单位"
                   "参与排名的已公布季度得分的平均，年度排名公布前供参考。")

with tab_eval:
    st.markdown("请对您办过事的单位的服务作出评价。评价不需要登录，不收集个人信息；"
                f"同一单位 {evaluations.PER_UNIT_DAYS} 天内只能评价一次。评价结果计入该单位的“网上测评满意度”。")
    with ui.read() as s:
        choices = evaluations.units(s)
    names = {u.code: u.name for u in choices}
    ids = {u.code: u.id for u in choices}
    with st.form("evaluate", clear_on_submit=True):
        unit_code = st.selectbox("评价单位", list(names), index=None, format_func=names.get,
                                 placeholder="请选择单位", key="eval_unit")
        rating = st.radio("满意程度", list(evaluations.LABELS), index=None, horizontal=True,
                          format_func=evaluations.LABELS.get, key="eval_rating")
        comment = st.text_area("意见建议（选填，不超过 200 字）", max_chars=evaluations.MAX_COMMENT)
        if st.form_submit_button("提交评价", type="primary"):
            # Besides the per-address limits in lib.evaluations (no address behind some
            # proxies): one evaluation per unit, and PER_DAY in all, per browser session.
            done = st.session_state.setdefault("evaluated_units", set())
            try:
                if unit_code in done:
                    raise evaluations.EvaluationError(f"您已评价过{names[unit_code]}，感谢参与")
                if len(done) >= evaluations.PER_DAY:
                    raise evaluations.EvaluationError(
                        f"每次访问最多评价 {evaluations.PER_DAY} 个单位，感谢参与")
                ui.write(lambda s: evaluations.submit(s, ids.get(unit_code), rating, comment,
                                                      source=ui.client_address()))
            except evaluations.EvaluationError as exc:
                st.error(str(exc))
            else:
                done.add(unit_code)
                st.success(f"评价已提交，感谢您对{names[unit_code]}工作的监督。")
