"""AppTest of the leaders' cockpit (Home.py)."""

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from lib import db


@pytest.fixture
def app(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = AppTest.from_file("../Home.py", default_timeout=120)
    return at


def texts(at):
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [f"{m.label}:{m.value}" for m in at.metric]
    return "\n".join(parts)


def test_cockpit_shows_the_source_figures(app):
    at = app.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["重点工作督办完成"] == "2,794 项"
    assert metrics["重点项目在线监察"] == "53 个"
    assert metrics["通报批评单位"] == "7 个"
    assert metrics["村务e路通"] == "88 个乡镇"
    body = texts(at)
    assert "按时办结率 97%" in body
    assert "已完成 22 个 · 节点按时完成率 86%" in body
    assert "问责处级、科级干部 9 名" in body
    assert "1,503 个行政村" in body


def test_cockpit_panels(app):
    at = app.run()
    subheaders = [s.value for s in at.subheader]
    for name in ("六个方面", "区县红黄绿灯", "单位排名（按时办结率）", "最新红牌"):
        assert name in subheaders
    body = texts(at)
    for domain in ("权力运行", "要素市场", "专项资金", "网络投诉", "行政效能", "信息公开"):
        assert f"**{domain}**" in body
    # Latest red cards, each with its why.
    assert any("为什么是红牌" in m.value for m in at.markdown)
    assert len(at.expander) >= 3


def test_selecting_a_county_filters_the_page(app):
    at = app.run()
    at.selectbox(key="region").select("麻章区").run()
    assert not at.exception
    assert any("麻章区" in c.value for c in at.caption)
    red_table = at.dataframe[-1].value
    assert set(red_table["区县"]) <= {"麻章区"}


def test_a_past_day_and_other_windows(app):
    at = app.run()
    at.date_input[0].set_value(date(2025, 6, 30)).run()
    assert not at.exception
    assert any("2025-06-30 23:59" in c.value for c in at.caption)
    for name in ("近30天", "近90天", "全部"):
        at.selectbox[0].select(name).run()
        assert not at.exception


def test_empty_database_says_what_to_do(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_ENV", "production")  # no demo data in production
    at = AppTest.from_file("../Home.py", default_timeout=60).run()
    assert not at.exception
    assert any("还没有监察事项" in i.value and "import items" in i.value for i in at.info)
    assert db.current_revision(db.get_engine(url)) == db.head_revision()
