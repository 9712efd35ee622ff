"""AppTest of 行政效能 (rankings, why this score, publication), the scheme form on 系统设置, and
the public portal's published rankings and online evaluation."""

import pytest
from sqlalchemy import func, select

from lib import db, scoring
from lib.models import AppSetting, AuditLog, Evaluation, RankingSnapshot
from tests.apptest_helpers import app, copy_sqlite, errors, login


@pytest.fixture
def url(sqlite_demo_url, tmp_path, monkeypatch):
    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def efficiency(role):
    at = login(app(), role)
    at.switch_page("pages/efficiency.py").run()
    assert not at.exception, at.exception
    return at


def caption_text(at):
    return "\n".join(c.value for c in at.caption)


def test_leader_sees_the_published_quarter_and_can_switch_to_live(url):
    at = efficiency("leader")
    assert not errors(at)
    assert "2026年第三季度 · 单位排名 · 已公布" in caption_text(at)
    assert "哈希校验通过" in caption_text(at)
    metrics = {m.label: m.value for m in at.metric}
    ranked, total = metrics["参与排名的单位"].split(" / ")
    assert int(ranked) > 50 and int(total) >= int(ranked)
    full = next(d.value for d in at.dataframe if "较上期" in d.value.columns)
    assert full["名次"].iloc[0] in ("1", "1（并列）")
    # Q2 was published too: every ranked unit shows its move against it.
    ranked_moves = full.loc[full["名次"] != "不参与排名", "较上期"]
    assert ranked_moves.map(lambda m: m in ("新", "—") or m[0] in "▲▼").all()
    assert "ZJ.JW" not in set(full["单位代码"])  # the inspectors' office is not assessed
    at.radio(key="eff_source").set_value("实时计算").run()
    assert not at.exception and "实时计算，尚未公布" in caption_text(at)


def test_why_this_score_lists_indicators_and_items(url):
    at = efficiency("inspector")
    explain = next(d.value for d in at.dataframe if "得分贡献" in d.value.columns)
    assert list(explain["指标"]) == [i.label for i in scoring.INDICATORS]
    contributions = explain["得分贡献"].astype(float).sum()
    score = float(next(m.value for m in at.metric if m.label == "综合得分"))
    assert contributions == pytest.approx(score, abs=0.05)
    items = next(d.value for d in at.dataframe if "事项编号" in d.value.columns)
    assert len(items) > 0 and set(items["结果"]) <= {
        "按时办结", "超期办结", "逾期未办结", "在办（未到期）", "超期（红牌经申诉撤销，计为按时）"}


def test_reviewer_sees_people_with_masked_names(url):
    at = efficiency("reviewer")
    at.radio(key="eff_level").set_value("个人").run()
    assert not at.exception and not errors(at)
    full = next(d.value for d in at.dataframe if "姓名" in d.value.columns)
    assert len(full) > 100 and full["姓名"].str.contains(r"\*").all()


def test_staff_see_only_their_own_unit(url):
    at = efficiency("staff")
    assert not errors(at)
    metrics = {m.label for m in at.metric}
    assert {"本单位得分", "全市名次", "等次", "考核事项"} <= metrics
    table = next(d.value for d in at.dataframe if "较上期" in d.value.columns)
    assert list(table["单位"]) == ["遂溪县自然资源局"]
    assert any("只能查看本单位" in i.value for i in at.info)
    assert not any(b.label == "公布" for b in at.button)


def test_inspector_publishes_a_month_once(url):
    at = efficiency("inspector")
    at.radio(key="eff_kind").set_value("月度").run()
    at.selectbox(key="eff_period_month").set_value("2026-08").run()
    assert "实时计算，尚未公布" in caption_text(at)
    publish = next(b for b in at.button if b.label == "公布")
    publish.click().run()
    assert any("请先勾选确认" in e for e in errors(at))
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        assert scoring.get_snapshot(s, "2026-08") is None
    at.checkbox(key="publish_confirm").check()
    next(b for b in at.button if b.label == "公布").click().run()
    assert not at.exception and not errors(at)
    assert any("已公布 2026年8月单位排名" in s.value for s in at.success)
    assert "已公布" in caption_text(at)
    with db.session_scope(engine) as s:
        snap = scoring.get_snapshot(s, "2026-08")
        assert snap.published_by == "inspector" and scoring.verify_snapshot(snap)
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action == "ranking.publish",
                               AuditLog.actor == "inspector")) == 1
    assert not any(b.label == "公布" for b in at.button)  # no second publication


def test_leader_may_not_publish(url):
    at = efficiency("leader")
    assert not any(b.label == "公布" for b in at.button)
    assert any(s.value == "已公布的排名" for s in at.subheader)


def test_admin_edits_the_scheme(url):
    at = login(app(), "admin")
    at.switch_page("pages/admin_settings.py").run()
    inputs = {n.label: n for n in at.number_input}
    inputs["按时办结率权重"].set_value(35)  # 105 in all
    next(b for b in at.button if b.label == "保存考核办法").click().run()
    assert any("各项权重之和须为 100，现为 105" in e for e in errors(at))
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        assert not s.scalar(select(func.count()).select_from(AppSetting)
                            .where(AppSetting.key.like("scoring.%")))
    inputs = {n.label: n for n in at.number_input}
    inputs["按时办结率权重"].set_value(35)
    inputs["工作量权重"].set_value(5)
    inputs["红牌每张扣分"].set_value(8.0)
    next(b for b in at.button if b.label == "保存考核办法").click().run()
    assert not errors(at) and any("已保存" in s.value for s in at.success)
    with db.session_scope(engine) as s:
        scheme = scoring.load_scheme(s)
        assert scheme.weights["on_time"] == 35 and scheme.weights["workload"] == 5
        assert scheme.red_deduction == 8
        # Published rankings keep the scheme they were computed with.
        assert scoring.snapshot_scheme(scoring.get_snapshot(s, "2026-Q3")) == scoring.Scheme()


def public_rankings():
    at = app()
    at.switch_page("pages/public_rankings.py")
    return at.run()


def test_public_rankings_and_year_summary(url):
    at = public_rankings()
    assert not at.exception and not errors(at)
    assert [t.value for t in at.title] == ["行政效能排名公布"]
    assert "login_username" not in [t.key for t in at.text_input]
    assert at.selectbox(key="pub_period").value == "2026-10"
    tables = [d.value for d in at.dataframe]
    full = next(t for t in tables if "较上期" in t.columns)
    with db.session_scope(db.get_engine(url)) as s:
        n = len(scoring.snapshot_rows(scoring.get_snapshot(s, "2026-10")))
        published = s.scalar(select(func.count()).select_from(RankingSnapshot))
    assert len(full) == n and published >= 4
    at.selectbox(key="pub_period").set_value("2026-Q2").run()
    assert not at.exception
    summary = next(d.value for d in at.dataframe if "单位代码" in d.value.columns
                   and "2026年第二季度" in d.value.columns)
    assert "2026年第一季度" in summary.columns and "2026年9月" in summary.columns


def test_online_evaluation_form(url):
    at = public_rankings()
    next(b for b in at.button if b.label == "提交评价").click().run()
    assert any("请选择要评价的单位" in e for e in errors(at))
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        before = s.scalar(select(func.count()).select_from(Evaluation))
    at.selectbox(key="eval_unit").set_value("440823.ZRZY")
    at.radio(key="eval_rating").set_value(4)
    at.text_area[0].input("窗口服务热情")
    next(b for b in at.button if b.label == "提交评价").click().run()
    assert not errors(at) and any("评价已提交" in s.value for s in at.success)
    with db.session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Evaluation)) == before + 1
        last = s.scalar(select(Evaluation).order_by(Evaluation.id.desc()).limit(1))
        assert (last.rating, last.comment) == (4, "窗口服务热情")
