"""Passwords, login with lockout, account administration, the cookie key."""

import os
import stat
from datetime import timedelta

import pytest
from sqlalchemy import select

from lib import auth, db
from lib.access import CurrentUser, PermissionDenied
from lib.clock import now_utc
from lib.models import AuditLog, Unit, User

ADMIN = CurrentUser(id=None, username="root_admin", display_name="管理员", roles=frozenset({"admin"}))


@pytest.fixture
def accounts(empty_engine):
    with db.session_scope(empty_engine) as s:
        unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        auth.create_user(s, ADMIN, username="zhang", display_name="张三", roles={"staff"},
                         unit_id=unit, password="Zhuanyuan#2026")
    return empty_engine


def login(engine, username, password, now=None):
    with db.session_scope(engine) as s:
        return auth.authenticate(s, username, password, now=now)


@pytest.mark.parametrize("password,expected", [
    ("Ab1!", "至少 8 位"),
    ("abcdefgh", "至少三类"),
    ("abcdefg1", "至少三类"),
    ("Zhang#2026x", "不得包含用户名"),
    ("密" * 25 + "Ab1!", "72 字节"),
])
def test_password_policy(password, expected):
    with pytest.raises(auth.AccountError, match=expected):
        auth.check_policy(password, "zhang")


def test_policy_accepts_a_good_password_and_chinese_characters():
    auth.check_policy("Zhuanyuan#2026", "zhang")
    auth.check_policy("湛江监察Ab12", "zhang")  # 4 Chinese characters = 12 bytes


def test_login_success_and_wrong_password(accounts):
    ok = login(accounts, "ZHANG ", "Zhuanyuan#2026")
    assert ok.user is not None and ok.user.roles == {"staff"} and ok.user.unit_name == "遂溪县自然资源局"
    bad = login(accounts, "zhang", "wrong-password")
    assert bad.user is None and "再错 4 次" in bad.message
    assert login(accounts, "nobody", "x").message == "用户名或密码错误"
    assert login(accounts, "", "").message == "请输入用户名和密码"
    # A password over bcrypt's 72 bytes is simply wrong, never an exception.
    assert login(accounts, "zhang", "x" * 200).user is None


def test_lockout_after_five_failures_survives_sessions(accounts):
    t0 = now_utc()
    for i in range(4):
        assert "再错" in login(accounts, "zhang", f"bad{i}", now=t0).message
    locked = login(accounts, "zhang", "bad5", now=t0)
    assert "已锁定 15 分钟" in locked.message
    # Even the right password is refused while locked, from a brand-new engine (a restart).
    fresh = db.make_engine(accounts.url.render_as_string(hide_password=False))
    refused = login(fresh, "zhang", "Zhuanyuan#2026", now=t0 + timedelta(minutes=14))
    assert refused.user is None and "账号已锁定" in refused.message
    ok = login(fresh, "zhang", "Zhuanyuan#2026", now=t0 + timedelta(minutes=15, seconds=1))
    assert ok.user is not None
    with db.session_scope(fresh) as s:
        user = s.scalar(select(User).where(User.username == "zhang"))
        assert (user.failed_logins, user.locked_until) == (0, None)
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.entity_id == "zhang")))
    assert actions.count("auth.login_failed") == 4
    assert {"auth.locked", "auth.login_refused", "auth.login"} <= set(actions)
    fresh.dispose()


def test_admin_unlock_and_reset(accounts):
    t0 = now_utc()
    for i in range(5):
        login(accounts, "zhang", f"bad{i}", now=t0)
    with db.session_scope(accounts) as s:
        uid = s.scalar(select(User.id).where(User.username == "zhang"))
        auth.unlock_user(s, ADMIN, uid)
    assert login(accounts, "zhang", "Zhuanyuan#2026").user is not None
    with db.session_scope(accounts) as s:
        auth.reset_password(s, ADMIN, uid, "Xinmima@2027")
    assert login(accounts, "zhang", "Zhuanyuan#2026").user is None
    assert login(accounts, "zhang", "Xinmima@2027").user is not None


def test_change_own_password(accounts):
    user = login(accounts, "zhang", "Zhuanyuan#2026").user
    for old, new, confirm, expected in [
        ("wrong", "Xinmima@2027", "Xinmima@2027", "原密码不正确"),
        ("Zhuanyuan#2026", "Xinmima@2027", "Xinmima@2028", "不一致"),
        ("Zhuanyuan#2026", "short", "short", "至少 8 位"),
        ("Zhuanyuan#2026", "Zhuanyuan#2026", "Zhuanyuan#2026", "不能与原密码相同"),
    ]:
        with db.session_scope(accounts) as s, pytest.raises(auth.AccountError, match=expected):
            auth.change_password(s, user, old, new, confirm)
    with db.session_scope(accounts) as s:
        auth.change_password(s, user, "Zhuanyuan#2026", "Xinmima@2027", "Xinmima@2027")
    assert login(accounts, "zhang", "Xinmima@2027").user is not None


def test_disabled_user_cannot_log_in(accounts):
    with db.session_scope(accounts) as s:
        uid = s.scalar(select(User.id).where(User.username == "zhang"))
        u = s.get(User, uid)
        auth.update_user(s, ADMIN, uid, display_name=u.display_name, roles={"staff"},
                         unit_id=u.unit_id, active=False)
    assert "已停用" in login(accounts, "zhang", "Zhuanyuan#2026").message
    with db.session_scope(accounts) as s:
        assert auth.load_user(s, "zhang") is None
        assert "zhang" not in auth.credentials(s)["usernames"]


@pytest.mark.parametrize("kwargs,expected", [
    ({"username": "Zh"}, "用户名须为"),
    ({"username": "zhang"}, "已存在"),
    ({"roles": set()}, "至少选择一个角色"),
    ({"roles": {"staff"}, "unit_id": None}, "必须绑定一个单位"),
    ({"display_name": " "}, "姓名不能为空"),
    ({"password": "123"}, "至少 8 位"),
])
def test_create_user_validation(accounts, kwargs, expected):
    args = {"username": "li_si", "display_name": "李四", "roles": {"leader"}, "unit_id": None,
            "password": "Lisi#20261"} | kwargs
    with db.session_scope(accounts) as s, pytest.raises(auth.AccountError, match=expected):
        auth.create_user(s, ADMIN, **args)
    with db.session_scope(accounts) as s:
        assert s.scalar(select(User).where(User.username == "li_si")) is None


def test_only_admins_manage_users(accounts):
    leader = CurrentUser(id=None, username="l", display_name="l", roles=frozenset({"leader"}))
    with db.session_scope(accounts) as s, pytest.raises(PermissionDenied):
        auth.create_user(s, leader, username="li_si", display_name="李四", roles={"leader"},
                         unit_id=None, password="Lisi#20261")
    with db.session_scope(accounts) as s, pytest.raises(PermissionDenied):
        auth.list_users(s, leader)


def test_the_demo_cookie_key_is_made_once_when_many_sessions_start_at_once(tmp_path, monkeypatch):
    """A fresh install opened by many browsers at once: every session gets the same key, none
    fails (seen under load: FileExistsError for all but the first)."""
    import threading

    path = tmp_path / "data" / "cookie_key"
    monkeypatch.setattr(auth, "COOKIE_KEY_FILE", path)
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    slow = auth.secrets.token_urlsafe
    gate = threading.Barrier(12)

    def token(n):  # every session has looked for the file before any writes it
        gate.wait(timeout=10)
        return slow(n)

    monkeypatch.setattr(auth.secrets, "token_urlsafe", token)
    keys, errors = [], []

    def start():
        try:
            keys.append(auth.cookie_key(None))
        except Exception as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(keys) == 12 and len(set(keys)) == 1 and path.read_text() == keys[0]
    assert [p.name for p in path.parent.iterdir()] == ["cookie_key"]  # no file of its own left
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_cookie_key_sources(tmp_path, monkeypatch):
    path = tmp_path / "cookie_key"
    monkeypatch.setattr(auth, "COOKIE_KEY_FILE", path)
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    generated = auth.cookie_key(None)
    assert len(generated) >= 48 and path.read_text() == generated
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.cookie_key(None) == generated  # stable across restarts
    assert auth.cookie_key("from-secrets-file") == "from-secrets-file"
    monkeypatch.setenv("AUTH_COOKIE_KEY", "from-environment")
    assert auth.cookie_key(None) == "from-environment"


def test_production_refuses_missing_or_demo_keys(tmp_path, monkeypatch):
    path = tmp_path / "cookie_key"
    monkeypatch.setattr(auth, "COOKIE_KEY_FILE", path)
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    demo_key = auth.cookie_key(None)
    monkeypatch.setenv("APP_ENV", "production")
    for bad in (None, "change-me", "short-key", demo_key):
        with pytest.raises(auth.ConfigError, match="生产环境"):
            auth.cookie_key(bad)
    good = "k" * 20 + "9f3b2c7d1e8a6b5c4d3e2f1a0b9c8d7e"
    assert auth.cookie_key(good) == good
