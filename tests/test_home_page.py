"""AppTest of the leaders' cockpit (Home.py)."""

from datetime import date

import pytest

from lib import db
from tests.apptest_helpers import LOGIN_KEYS, app, login


@pytest.fixture
def leader(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    return login(app(), "leader")


def texts(at):
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [p.proto.label for p in at.get("page_link")]
    parts += [f"{m.label}:{m.value}" for m in at.metric]
    return "\n".join(parts)


def test_the_cockpit_needs_a_login(sqlite_demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = app().run()
    assert not at.exception
    assert [t.key for t in at.text_input] == LOGIN_KEYS
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
    at.selectbox(key="cockpit.county").select("440811").run()  # 麻章区
    assert not at.exception
    assert any("麻章区" in c.value for c in at.caption)
    red_table = at.dataframe[-1].value
    assert set(red_table["区县"]) <= {"麻章区"}


def test_a_past_day_and_other_windows(leader):
    at = leader
    at.date_input[0].set_value(date(2025, 6, 30)).run()
    assert not at.exception
    assert any("2025-06-30 23:59" in c.value for c in at.caption)
    for code, name in (("30", "近30天"), ("90", "近90天"), ("all", "全部")):
        at.selectbox(key="cockpit.window").select(code).run()
        assert not at.exception
        assert any(f"统计区间：{name}" in c.value for c in at.caption)


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


def test_a_page_run_prints_nothing(sqlite_demo_url, monkeypatch, capfd):
    """A normal run (sign-in, cockpit, a rerun) writes no library noise or traceback."""
    monkeypatch.setenv("DATABASE_URL", sqlite_demo_url)
    at = login(app(), "leader")
    at.run()
    assert not at.exception
    out, err = capfd.readouterr()
    assert "Invalid token" not in out + err
    assert "Traceback" not in out + err


# -- click-through: each number on a card opens the list of exactly those items ----------------

def card_links(at):
    """(label, page, query string) of the links on the domain cards."""
    return [(p.proto.label, p.proto.page, p.proto.query_string) for p in at.get("page_link")
            if "domain=" in p.proto.query_string]


def list_total(at) -> int:
    import re

    line = next(m.value for m in at.markdown if m.value.startswith("共 **"))
    return int(re.match(r"共 \*\*([\d,]+)\*\* 件", line).group(1).replace(",", ""))


def open_link(at, page: str, query: str):
    from urllib.parse import parse_qsl

    at.switch_page(f"pages/{page}.py")
    for name in list(at.query_params):
        del at.query_params[name]
    for name, value in parse_qsl(query):
        at.query_params[name] = value
    return at.run()


@pytest.mark.parametrize("county", [None, "440882"])
def test_every_number_on_a_card_equals_the_list_it_opens(leader, county):
    import re

    at = leader
    if county:
        at.selectbox(key="cockpit.county").select(county).run()
    at.date_input(key="cockpit.asof").set_value(date(2026, 10, 31)).run()
    at.selectbox(key="cockpit.window").select("90").run()
    links = card_links(at)
    assert len(links) == 6 * 5  # six domains: the title, open, red, open red, yellow
    numbered = [(label, page, q) for label, page, q in links if re.search(r"\d", label)]
    for label, page, query in numbered:
        assert "asof=2026-10-31" in query and "window=90" in query
        assert (f"county={county}" in query) == bool(county)
        expected = int(re.search(r"([\d,]+)", label.replace("20%", "")).group(1).replace(",", ""))
        at2 = open_link(at, page, query)
        assert not at2.exception, (label, at2.exception)
        assert list_total(at2) == expected, (label, query)
        at2.switch_page("Home.py").run()


def test_the_items_list_is_urgent_first_across_all_its_pages(leader):
    """监察事项 for one district over 90 days, 20 a page: walking every page gives each item
    once, red (most overdue first), then yellow (least time left first), green, and the closed
    ones last; the count above the list is the number of rows walked."""
    at = open_link(leader, "items", "county=440802&window=90")
    at.selectbox(key="items.per").select(20).run()
    total = list_total(at)
    pages = -(-total // 20)
    assert pages >= 3
    rows = []
    for p in range(1, pages + 1):
        at.number_input(key="items.page").set_value(p).run()
        assert not at.exception
        rows += at.dataframe[0].value.to_dict("records")
    assert len(rows) == total == len({r["事项编号"] for r in rows})
    rank = {"■ 红牌": 0, "▲ 黄牌": 1, "● 绿灯": 2, "○ 资料不全": 3}

    def group(r):
        # A rule's card (red line, anomaly) stands with the open cards of its light.
        verdict = r["原因"].startswith(("触发红线规则", "规则提示异常"))
        return 4 if r["办结时间"] != "—" and not verdict else rank[r["灯色"]]

    groups = [group(r) for r in rows]
    assert groups == sorted(groups) and {0, 2, 4} <= set(groups)
    open_reds = [r["办理期限"] for r in rows if group(r) == 0]
    assert open_reds == sorted(open_reds)  # the most overdue (earliest deadline) first
    closed = [r for r in rows if group(r) == 4]
    late = [r["灯色"] == "■ 红牌" for r in closed]
    assert late == sorted(late, reverse=True)  # closed late before closed on time
