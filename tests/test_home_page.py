"""AppTest of the leaders' cockpit (Home.py)."""

from datetime import date

import pytest

from lib import db
from tests.apptest_helpers import app, login


@pytest.fixture
def leader(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    return login(app(), "leader")


def texts(at):
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [f"{m.label}:{m.value}" for m in at.metric]
    return "\n".join(parts)


def test_the_cockpit_needs_a_login(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = app().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert not at.metric and not at.dataframe


def test_cockpit_shows_the_source_figures(leader):
    at = leader
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


def test_cockpit_panels(leader):
    at = leader
    subheaders = [s.value for s in at.subheader]
    for name in ("六个方面", "区县红黄绿灯", "单位排名（按时办结率）", "最新红牌"):
        assert name in subheaders
    body = texts(at)
    for domain in ("权力运行", "要素市场", "专项资金", "网络投诉", "行政效能", "信息公开"):
        assert f"**{domain}**" in body
    assert any("为什么是红牌" in m.value for m in at.markdown)
    assert len(at.expander) >= 3


def test_selecting_a_county_filters_the_page(leader):
    at = leader
    at.selectbox(key="region").select("麻章区").run()
    assert not at.exception
    assert any("麻章区" in c.value for c in at.caption)
    red_table = at.dataframe[-1].value
    assert set(red_table["区县"]) <= {"麻章区"}


def test_a_past_day_and_other_windows(leader):
    at = leader
    at.date_input[0].set_value(date(2025, 6, 30)).run()
    assert not at.exception
    assert any("2025-06-30 23:59" in c.value for c in at.caption)
    for name in ("近30天", "近90天", "全部"):
        at.selectbox[0].select(name).run()
        assert not at.exception


def test_staff_see_their_own_unit_only(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = login(app(), "staff")
    assert not at.exception
    assert any("遂溪县自然资源局（本单位）" in c.value for c in at.caption)
    assert any("部门经办人只能查看本单位的数据" in i.value for i in at.info)
    reds = at.dataframe[-1].value
    assert set(reds["责任单位"]) == {"遂溪县自然资源局"}


def test_empty_database_says_what_to_do(tmp_path, monkeypatch):
    """Production: no demo data. An administrator created by hand signs in to an empty system."""
    from lib import auth, catalog
    from lib.models import User

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AUTH_COOKIE_KEY", "p" * 40)
    from cryptography.fernet import Fernet

    monkeypatch.setenv("PRIVACY_KEY", Fernet.generate_key().decode())
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
        s.add(User(username="chief", display_name="管理员", roles="admin,leader",
                   password_hash=auth.hash_password("Chief#2026x"), active=True, failed_logins=0))
    at = login(app(), "chief", "Chief#2026x")
    assert not at.exception
    assert any("还没有监察事项" in i.value and "import items" in i.value for i in at.info)


def test_production_without_a_cookie_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    at = app().run()
    assert any("生产环境" in e.value for e in at.error)
    assert not at.text_input  # no login form, nothing else


def test_production_without_a_privacy_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AUTH_COOKIE_KEY", "p" * 40)
    monkeypatch.delenv("PRIVACY_KEY", raising=False)
    at = app()
    at.switch_page("pages/public_submit.py").run()
    assert any("加密密钥" in e.value for e in at.error)
    assert not at.text_input
