"""`python -m lib health` and the 运行状况 tab of the admin settings page."""

from datetime import timedelta

from lib import audit, db, demo, health, notices
from lib.__main__ import main
from lib.clock import now_utc
from tests.apptest_helpers import app, copy_sqlite, errors, login


def run_cli(capsys, monkeypatch, url, *args):
    monkeypatch.setenv("DATABASE_URL", url)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_health_follows_the_sweep_and_the_chain(empty_engine, capsys, monkeypatch):
    url = empty_engine.url.render_as_string(hide_password=False)
    db.transact(lambda s: audit.record(s, actor="tester", action="test.append", entity="probe"),
                empty_engine)
    code, out, _ = run_cli(capsys, monkeypatch, url, "health")
    assert code == 1  # the sweep never ran
    assert "正常  数据库连接" in out and "正常  数据库版本" in out
    assert "异常  督办扫描：从未运行" in out
    assert "正常  审计链：1 条，逐条校验通过；链头 id=1" in out

    code, _, err = run_cli(capsys, monkeypatch, url, "sweep")
    assert code == 0, err
    code, out, _ = run_cli(capsys, monkeypatch, url, "health")
    assert code == 0, out
    assert "正常  督办扫描：上次运行" in out and "结论：运行正常" in out
    assert "监察事项 0" in out
    code, out, _ = run_cli(capsys, monkeypatch, url, "health", "--format", "json")
    assert code == 0 and '"ok": true' in out

    # Ten minutes without a sweep is a fault; the app's own trigger also records its runs.
    later = now_utc() + timedelta(minutes=11)
    report = health.check(empty_engine, now=later)
    assert not report.ok and "超过 10 分钟未运行" in report.checks[2].detail
    assert db.transact(lambda s: notices.run_if_due(s, later), empty_engine) is not None
    with db.read_scope(empty_engine) as s:
        assert notices.last_swept(s) == later
    assert health.check(empty_engine, now=later).ok


def test_health_on_the_demo(demo_engine):
    report = health.check(demo_engine)
    names = [c.name for c in report.checks]
    assert names == ["数据库连接", "数据库版本", "督办扫描", "审计链"]
    assert [c.ok for c in report.checks] == [True, True, False, True]  # the demo swept only its past
    from sqlalchemy import func, select

    from lib.models import User

    with db.session_scope(demo_engine) as s:
        users = s.scalar(select(func.count()).select_from(User))
    # The demo's accounts, and the ones a domain's demo adds (the town's staff).
    assert report.figures["监察事项"] > 20_000
    assert report.figures["账号"] == users >= len(demo.DEMO_ACCOUNTS)
    assert report.figures["在办逾期"] <= report.figures["在办"] <= report.figures["监察事项"]


def test_health_unreachable_and_uninitialised(tmp_path, capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "postgresql+psycopg://postgres@127.0.0.1:1/none",
                           "health")
    assert code == 1 and "异常  数据库连接：无法连接" in out
    code, out, _ = run_cli(capsys, monkeypatch, f"sqlite:///{tmp_path / 'new.db'}", "health")
    assert code == 1 and "异常  数据库版本：当前 未初始化" in out


def test_settings_page_shows_health(sqlite_demo_url, tmp_path, monkeypatch):
    url = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", url)
    at = login(app(), "admin")
    at.switch_page("pages/admin_settings.py").run()
    assert not at.exception and not errors(at)
    assert not at.metric  # nothing checked until asked
    next(b for b in at.button if b.label == "检查运行状况").click()
    at.run()
    assert any("督办扫描" in w.value for w in at.warning)
    assert {m.label for m in at.metric} >= {"监察事项", "在办逾期", "账号"}
    db.transact(lambda s: notices.mark_swept(s, now_utc()), db.get_engine(url))
    next(b for b in at.button if b.label == "重新检查").click()
    at.run()
    assert any("运行正常" in x.value for x in at.success)
