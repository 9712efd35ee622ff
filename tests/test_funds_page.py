"""AppTest of the 专项资金 page and the public 惠民资金公开 page: every role's view, the audited
reading of an identity number, an inspector's conclusion, and no identity number or account on
any screen."""

import re

import pytest
from sqlalchemy import select, text

from lib import db
from lib.models import Flag
from tests.apptest_helpers import app, copy_sqlite, errors, login

LONG_NUMBER = re.compile(r"[0-9A-Z]{18,30}")


def secrets(url) -> set[str]:
    """Every payee's identity number and every account, decrypted (what must never show)."""
    from lib import privacy

    with db.read_scope(db.get_engine(url)) as s:
        values = [*s.scalars(text("select id_enc from fund_payees")),
                  *s.scalars(text("select enc from fund_accounts"))]
    return {privacy.decrypt(v) for v in values}


def leaks(at, url) -> set[str]:
    return set(LONG_NUMBER.findall(screen_text(at))) & secrets(url)


@pytest.fixture
def url(sqlite_demo_url, tmp_path, monkeypatch):
    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def screen_text(at) -> str:
    parts = [str(df.value.to_csv()) for df in at.dataframe]
    parts += [str(m.value) for m in at.metric] + [m.value for m in at.markdown]
    parts += [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(parts)


def open_funds(role: str):
    at = login(app(), role)
    at.switch_page("pages/funds.py").run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    return at


def test_inspector_reads_an_identity_number_once_audited_and_concludes(url):
    at = open_funds("inspector")
    assert any(m.label == "规则发现" for m in at.metric)
    assert not leaks(at, url)
    reveal = next(b for b in at.button if b.label.startswith("查看收款人证件号"))
    reveal.click().run()
    shown = [i.value for i in at.info if "证件号：" in i.value]
    assert shown and set(LONG_NUMBER.findall(shown[0])) & secrets(url)
    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        assert s.scalar(text("select count(*) from audit_log where action = 'personal.read' "
                             "and entity = 'fund_payment'")) == 1
        open_before = s.scalar(select(text("count(*)")).select_from(Flag.__table__)
                               .where(Flag.domain == "FUNDS", Flag.status == "open"))
    confirm = next(b for b in at.button if b.label == "核查属实")
    amount = next(t for t in at.text_input if t.label.startswith("追回金额"))
    amount.input("NaN")
    confirm.click().run()
    assert any("追回金额无效" in e.value for e in at.error)  # in words, nothing written
    amount = next(t for t in at.text_input if t.label.startswith("追回金额"))
    amount.input("1")
    next(b for b in at.button if b.label == "核查属实").click().run()
    assert not errors(at), errors(at)
    # The page ran again with the conclusion: said in a notice, counted in the statuses.
    assert any("已记录核查结论" in t.value for t in at.toast)
    status = next(c for c in at.get("button_group"))
    assert "核查属实（1）" in str(status.proto)
    with db.read_scope(engine) as s:
        assert s.scalar(select(text("count(*)")).select_from(Flag.__table__).where(
            Flag.domain == "FUNDS", Flag.status == "confirmed")) == 1
        assert s.scalar(select(text("count(*)")).select_from(Flag.__table__).where(
            Flag.domain == "FUNDS", Flag.status == "open")) == open_before - 1


@pytest.mark.parametrize("role", ["leader", "reviewer", "staff", "admin"])
def test_other_roles_see_no_identity_number_and_cannot_read_one(url, role):
    at = open_funds(role)
    assert not any(b.label.startswith("查看收款人证件号") for b in at.button)
    assert not any(b.label == "核查属实" for b in at.button)
    assert not leaks(at, url)
    if role == "reviewer":  # payees' names masked
        payee = next(m.value for m in at.markdown if m.value.startswith("收款人："))
        assert "\\*" in payee


FINDING_TABS = {"按单位": ["单位", "红牌", "黄牌", "涉及金额（元）", "规则"],
                "按村（居）": ["村（居）", "红牌", "黄牌", "涉及金额（元）", "规则"],
                "按收款人": ["收款人", "红牌", "黄牌", "涉及金额（元）", "规则"],
                "全部发现": ["灯色", "规则", "对象", "责任单位", "涉及金额（元）", "发生时间", "原因"]}


@pytest.mark.parametrize("role", ["inspector", "reviewer"])
def test_each_findings_tab_builds_its_table_when_opened_and_shows_no_identity(url, role):
    """Only the selected tab of the findings runs; each, opened in turn, shows its table (its
    first column the grouping) and no identity number or account."""
    at = open_funds(role)
    columns = [list(df.value.columns) for df in at.dataframe]
    assert FINDING_TABS["按单位"] in columns  # the default tab
    for tab in ("按村（居）", "按收款人", "全部发现"):  # a tab not opened is not built
        assert FINDING_TABS[tab] not in columns, tab
    for tab, table in FINDING_TABS.items():
        at.session_state["funds_find_tab"] = tab
        at.run()
        assert not at.exception and not errors(at), tab
        columns = [list(df.value.columns) for df in at.dataframe]
        assert table in columns, tab
        assert [t for t in FINDING_TABS.values() if t in columns] == [table], tab  # only its own
        assert not leaks(at, url), tab
        if role == "reviewer" and tab == "按收款人":
            df = next(df.value for df in at.dataframe if list(df.value.columns)[0] == "收款人")
            assert all("*" in name for name in df["收款人"]), "names masked for a reviewer"


def test_the_program_list_is_read_when_its_expander_is_opened(url):
    """资金项目一览 is read only once opened (a closed expander's content does not run)."""
    at = open_funds("leader")
    assert not any("主管单位" in df.value.columns for df in at.dataframe)
    at.session_state["funds_programs_open"] = True
    at.run()
    assert not at.exception and not errors(at)
    table = next(df.value for df in at.dataframe if "主管单位" in df.value.columns)
    assert list(table.columns)[:3] == ["编号", "项目", "资金类别"] and len(table) > 5


def test_public_village_list_without_sign_in(url):
    at = app()
    at.switch_page("pages/public_funds.py").run()
    assert not at.exception and not errors(at)
    assert at.dataframe, "a village's subsidies are listed"
    for df in at.dataframe:
        assert all(re.fullmatch(r".\*+", name) for name in df.value["收款人"])
    assert not leaks(at, url)


def test_the_conclusions_say_where_each_finding_stands_and_why_fewer_than_found(url):
    from lib import flags
    from lib.access import CurrentUser
    from lib.clock import now_utc

    engine = db.get_engine(url)
    with db.session_scope(engine) as s:  # one finding's card cancelled on appeal
        s.execute(text("update items set card_cancelled = true where id = (select min(item_id) "
                       "from flags where domain = 'FUNDS' and status = 'open')"))
    at = open_funds("inspector")
    inspector = CurrentUser(id=None, username="x", display_name="x", roles=frozenset({"inspector"}))
    with db.read_scope(engine) as s:
        listed = flags.listing(s, inspector, domain="FUNDS", as_of=now_utc())
        found = flags.evaluate(s, domain="FUNDS", as_of=now_utc()).records
    cancelled = sum(f.cancelled and f.status in ("open", "confirmed") for f in listed)
    pending = sum(f.status == "open" and not f.cancelled for f in listed)
    assert cancelled >= 1
    control = next(w for w in at.get("button_group") if w.label == "状态")
    labels = [str(o) for o in control.options]
    assert f"待核查（{pending}）" in labels and f"红牌经申诉撤销（{cancelled}）" in labels, labels
    table = next(df.value for df in at.dataframe if "状态" in df.value.columns and "规则" in df.value.columns
                 and len(df.value) == pending)
    assert set(table["状态"]) == {"待核查"}
    clocked = sum(r.code == "FND-T01" for r in found)
    caption = next(c.value for c in at.caption if c.value.startswith("需要核查的规则发现共"))
    assert caption.startswith(f"需要核查的规则发现共 {len(listed)} 条")
    assert f"另有按时限亮灯的 {clocked} 条（FND-T01）" in caption, caption


def test_a_fund_line_paid_beyond_its_budget_says_so(url):
    from lib.access import CurrentUser
    from lib.clock import now_utc
    from lib.domains.funds import store

    engine = db.get_engine(url)
    leader = CurrentUser(id=None, username="x", display_name="x", roles=frozenset({"leader"}))
    with db.session_scope(engine) as s:  # one line's first program's budget cut below its spending
        s.execute(text("update fund_programs set budget = 1 where id = (select min(id) from fund_programs)"))
    with db.read_scope(engine) as s:
        k = store.line_kpis(s, leader, now_utc(), None)
    over = [r for _, r in k.iterrows() if r["budget"] and r["paid"] and r["paid"] > r["budget"]]
    assert over
    at = open_funds("leader")
    said = [m.value for m in at.markdown if "支出超出预算" in m.value]
    assert len(said) == len(over), said


@pytest.mark.parametrize("role, who, note_shown", [("leader", "inspector", True),
                                                   ("reviewer", "i********", False)])
def test_a_conclusion_names_who_made_it_as_the_role_may_see_it(url, role, who, note_shown):
    from lib import flags
    from lib.access import CurrentUser

    inspector = CurrentUser(None, "inspector", "陈静", frozenset({"inspector"}))
    with db.session_scope(db.get_engine(url)) as s:
        fid = s.scalar(select(Flag.id).where(Flag.domain == "FUNDS", Flag.status == "open")
                       .order_by(Flag.id).limit(1))
        flags.decide(s, inspector, fid, confirm=True, note="经核实，收款人王某某重复领取属实")
    at = open_funds(role)
    next(c for c in at.get("button_group")).set_value("confirmed").run()
    assert not errors(at), errors(at)
    said = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("核查结论：")]
    assert said and f"（{who}）" in said[0], said
    assert ("重复领取属实" in said[0]) is note_shown
