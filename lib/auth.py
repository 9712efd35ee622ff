"""Accounts: passwords (bcrypt), the password policy, login with lockout, the cookie key, and
the user administration the admin pages call. Every change is written to the audit trail.

Lockout: after MAX_FAILED wrong passwords in a row an account is locked for LOCK_MINUTES; the
count and the lock live in the database, so they survive restarts and span sessions.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import audit, config
from lib.access import ROLES, CurrentUser, PermissionDenied, can, parse_roles, require
from lib.clock import now_utc
from lib.lights import fmt_time
from lib.models import Unit, User

MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_LENGTH = 8
BCRYPT_MAX_BYTES = 72
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
COOKIE_KEY_FILE = config.DATA_DIR / "cookie_key"
# Keys that must never protect a production system.
DEMO_KEYS = {"", "change-me", "demo", "secret", "请替换为随机长字符串"}

POLICY_TEXT = (f"密码至少 {MIN_LENGTH} 位，须包含大写字母、小写字母、数字、符号中的至少三类，"
               f"不得包含用户名；UTF-8 编码后不超过 {BCRYPT_MAX_BYTES} 字节（约 24 个汉字）")


class AccountError(ValueError):
    """A refused account operation; the message is for the user, in Chinese."""


class ConfigError(RuntimeError):
    """The app is not configured to run safely (production without a real cookie key)."""


def bcrypt_rounds() -> int:
    return int(os.environ.get("BCRYPT_ROUNDS", "12"))


def check_policy(password: str, username: str = "") -> None:
    """Raise AccountError listing every rule the password breaks."""
    problems = []
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        problems.append(f"密码过长：UTF-8 编码后不能超过 {BCRYPT_MAX_BYTES} 字节（约 24 个汉字）")
    if len(password) < MIN_LENGTH:
        problems.append(f"密码至少 {MIN_LENGTH} 位")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 3:
        problems.append("须包含大写字母、小写字母、数字、符号中的至少三类")
    if username and username.lower() in password.lower():
        problems.append("不得包含用户名")
    if problems:
        raise AccountError("；".join(problems))


def hash_password(password: str, username: str = "") -> str:
    check_policy(password, username)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(bcrypt_rounds())).decode()


def _password_matches(password: str, hashed: str) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > BCRYPT_MAX_BYTES:  # bcrypt refuses these; no stored password is that long
        return False
    try:
        return bcrypt.checkpw(raw, hashed.encode())
    except ValueError:
        return False


_DUMMY_HASH = None


def _dummy_check(password: str) -> None:
    """Spend the time of a real check, so unknown names cannot be told apart by timing."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = bcrypt.hashpw(b"dummy-password", bcrypt.gensalt(bcrypt_rounds())).decode()
    _password_matches(password, _DUMMY_HASH)


# An account created without a password (by an import) holds the hash of a one-time
# activation code instead, behind this prefix; its owner sets a password with the code.
ACTIVATION_PREFIX = "activate$"
ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _activation_code() -> str:
    raw = "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def is_inactive(user: User) -> bool:
    return (user.password_hash or "").startswith(ACTIVATION_PREFIX)


def create_inactive_user(session: Session, actor: CurrentUser, *, username: str,
                         display_name: str, roles: set[str] | frozenset[str], unit_id: int | None,
                         actor_name: str | None = None) -> str:
    """A new account without a password; returns its one-time activation code (to hand over
    once: only its hash is kept)."""
    require(actor, "manage_users")
    name = (username or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise AccountError("用户名须为 3–32 位小写字母、数字或 _ . -，以字母开头")
    roles = frozenset(roles)
    _validate(session, roles=roles, unit_id=unit_id, display_name=display_name)
    if session.scalar(select(func.count()).select_from(User).where(User.username == name)):
        raise AccountError(f"用户名“{name}”已存在")
    code = _activation_code()
    hashed = bcrypt.hashpw(code.encode(), bcrypt.gensalt(bcrypt_rounds())).decode()
    user = User(username=name, display_name=display_name.strip(),
                password_hash=ACTIVATION_PREFIX + hashed, roles=",".join(sorted(roles)),
                unit_id=unit_id, active=True, failed_logins=0, password_changed_at=None,
                created_at=now_utc())
    session.add(user)
    session.flush()
    audit.record(session, actor=actor_name or actor.username, action="user.create",
                 entity="user", entity_id=name, after=_user_snapshot(user) | {"activation": True})
    return code


def activate(session: Session, username: str, code: str, new_password: str, confirm: str,
             now: datetime | None = None) -> None:
    """First sign-in: the owner of an imported account sets a password with the activation code.
    Wrong codes count towards the lockout like wrong passwords."""
    now = now or now_utc()
    name = (username or "").strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not is_inactive(user) or not user.active:
        _dummy_check(code or "x")
        raise AccountError("用户名或激活码不正确，或该账号无需激活")
    if user.locked_until is not None and user.locked_until > now:
        raise AccountError(f"账号已锁定，请于 {fmt_time(user.locked_until)} 后再试，或联系系统管理员")
    stored = user.password_hash[len(ACTIVATION_PREFIX):]
    if not _password_matches((code or "").strip().upper(), stored):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED:
            user.locked_until, user.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
        audit.record(session, actor=name, action="auth.activate_failed", entity="user",
                     entity_id=name)
        raise AccountError("用户名或激活码不正确")
    if new_password != confirm:
        raise AccountError("两次输入的密码不一致")
    user.password_hash = hash_password(new_password, name)
    user.password_changed_at, user.failed_logins, user.locked_until = now, 0, None
    audit.record(session, actor=name, action="user.activate", entity="user", entity_id=name)


def current_user_from(user: User, unit_name: str | None = None) -> CurrentUser:
    return CurrentUser(id=user.id, username=user.username, display_name=user.display_name,
                       roles=parse_roles(user.roles), unit_id=user.unit_id, unit_name=unit_name)


def load_user(session: Session, username: str) -> CurrentUser | None:
    """The active user with this name, or None."""
    row = session.execute(
        select(User, Unit.name).outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.username == (username or "").strip().lower(), User.active.is_(True))).first()
    return current_user_from(row[0], row[1]) if row else None


@dataclass(frozen=True)
class LoginResult:
    user: CurrentUser | None
    message: str


def authenticate(session: Session, username: str, password: str,
                 now: datetime | None = None) -> LoginResult:
    """Check a login. Counts failures and locks the account after MAX_FAILED; the caller commits
    whatever the outcome, so the count is kept even when the login fails."""
    now = now or now_utc()
    name = (username or "").strip().lower()
    if not name or not password:
        return LoginResult(None, "请输入用户名和密码")
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        _dummy_check(password)
        audit.record(session, actor=name[:64], action="auth.login_failed", entity="user",
                     entity_id=name[:64], after={"reason": "unknown_user"})
        return LoginResult(None, "用户名或密码错误")
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, actor=name, action="auth.login_refused", entity="user",
                     entity_id=name, after={"reason": "locked", "until": user.locked_until})
        return LoginResult(None, f"账号已锁定（连续 {MAX_FAILED} 次密码错误），"
                                 f"请于 {fmt_time(user.locked_until)} 后再试，或联系系统管理员解锁")
    if is_inactive(user):
        return LoginResult(None, "该账号尚未激活：请在登录框下方“首次登录”处，用管理员提供的激活码设置密码")
    if not _password_matches(password, user.password_hash):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            audit.record(session, actor=name, action="auth.locked", entity="user", entity_id=name,
                         after={"locked_until": user.locked_until})
            return LoginResult(None, f"密码连续错误 {MAX_FAILED} 次，账号已锁定 {LOCK_MINUTES} 分钟"
                                     f"（至 {fmt_time(user.locked_until)}）")
        audit.record(session, actor=name, action="auth.login_failed", entity="user",
                     entity_id=name, after={"failed_logins": user.failed_logins})
        left = MAX_FAILED - user.failed_logins
        return LoginResult(None, f"用户名或密码错误（再错 {left} 次，账号将锁定 {LOCK_MINUTES} 分钟）")
    if not user.active:
        return LoginResult(None, "账号已停用，请联系系统管理员")
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor=name, action="auth.login", entity="user", entity_id=name)
    unit_name = session.scalar(select(Unit.name).where(Unit.id == user.unit_id)) if user.unit_id else None
    return LoginResult(current_user_from(user, unit_name), "登录成功")


def credentials(session: Session) -> dict:
    """Active users in the shape streamlit-authenticator expects (passed as a dict, never a file)."""
    users = {}
    for u in session.scalars(select(User).where(User.active.is_(True))):
        users[u.username] = {"name": u.display_name, "password": u.password_hash,
                             "roles": sorted(parse_roles(u.roles)), "email": f"{u.username}@local"}
    return {"usernames": users}


# -- cookie key ------------------------------------------------------------------------------

def cookie_key(secret_value: str | None = None) -> str:
    """The key that signs the login cookie: from secrets.toml (`[auth] cookie_key`), else the
    AUTH_COOKIE_KEY environment variable; a demo install generates one into data/cookie_key
    (mode 0600, untracked). With APP_ENV=production a missing or demo key is refused."""
    key = (secret_value or os.environ.get("AUTH_COOKIE_KEY") or "").strip()
    if config.is_production():
        generated = COOKIE_KEY_FILE.read_text().strip() if COOKIE_KEY_FILE.exists() else None
        if key in DEMO_KEYS or len(key) < 32 or key == generated:
            raise ConfigError(
                "生产环境（APP_ENV=production）必须配置至少 32 位的随机 Cookie 密钥："
                "在 .streamlit/secrets.toml 的 [auth] cookie_key 或环境变量 AUTH_COOKIE_KEY 中设置，"
                "不得使用演示密钥。")
        return key
    if key:
        return key
    return _demo_cookie_key(COOKIE_KEY_FILE)


def _demo_cookie_key(path: Path) -> str:
    """The demo key, made once. Many first sessions may ask at the same moment (a fresh install
    opened by several browsers): each writes its key to a file of its own and links it into
    place, which succeeds for exactly one; the others read the winner's key. The file is never
    seen half-written."""
    try:
        key = path.read_text().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    own = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key)
        try:
            os.link(own, path)  # atomic: fails if another session's key is already there
        except FileExistsError:
            key = path.read_text().strip()
    finally:
        own.unlink(missing_ok=True)
    return key


# -- administration (each call audited; the caller commits) ------------------------------------

def _user_snapshot(u: User) -> dict:
    return {"username": u.username, "display_name": u.display_name, "roles": u.roles,
            "unit_id": u.unit_id, "active": u.active}


def _validate(session: Session, *, roles: frozenset[str], unit_id: int | None,
              display_name: str) -> None:
    if not roles:
        raise AccountError("至少选择一个角色")
    unknown = roles - set(ROLES)
    if unknown:
        raise AccountError(f"未知角色：{'、'.join(sorted(unknown))}")
    if "staff" in roles and unit_id is None:
        raise AccountError("部门经办人必须绑定一个单位")
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise AccountError("所选单位不存在")
    if not display_name.strip():
        raise AccountError("姓名不能为空")
    if len(display_name.strip()) > 32:
        raise AccountError("姓名不能超过 32 个字符")


def create_user(session: Session, actor: CurrentUser, *, username: str, display_name: str,
                roles: set[str] | frozenset[str], unit_id: int | None, password: str) -> User:
    require(actor, "manage_users")
    name = (username or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise AccountError("用户名须为 3–32 位小写字母、数字或 _ . -，以字母开头")
    roles = frozenset(roles)
    _validate(session, roles=roles, unit_id=unit_id, display_name=display_name)
    if session.scalar(select(func.count()).select_from(User).where(User.username == name)):
        raise AccountError(f"用户名“{name}”已存在")
    now = now_utc()
    user = User(username=name, display_name=display_name.strip(),
                password_hash=hash_password(password, name), roles=",".join(sorted(roles)),
                unit_id=unit_id, active=True, failed_logins=0, password_changed_at=now,
                created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor.username, action="user.create", entity="user",
                 entity_id=name, after=_user_snapshot(user))
    return user


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("用户不存在")
    return user


def update_user(session: Session, actor: CurrentUser, user_id: int, *, display_name: str,
                roles: set[str] | frozenset[str], unit_id: int | None, active: bool) -> User:
    require(actor, "manage_users")
    user = _get(session, user_id)
    roles = frozenset(roles)
    _validate(session, roles=roles, unit_id=unit_id, display_name=display_name)
    if user.id == actor.id and (not active or "admin" not in roles):
        raise AccountError("不能停用自己的账号或取消自己的系统管理员角色")
    before = _user_snapshot(user)
    user.display_name, user.roles = display_name.strip(), ",".join(sorted(roles))
    user.unit_id, user.active = unit_id, active
    after = _user_snapshot(user)
    if before != after:
        audit.record(session, actor=actor.username, action="user.update", entity="user",
                     entity_id=user.username, before=before, after=after)
    return user


def unlock_user(session: Session, actor: CurrentUser, user_id: int) -> None:
    require(actor, "manage_users")
    user = _get(session, user_id)
    before = {"failed_logins": user.failed_logins, "locked_until": user.locked_until}
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor=actor.username, action="user.unlock", entity="user",
                 entity_id=user.username, before=before, after={"failed_logins": 0})


def reset_password(session: Session, actor: CurrentUser, user_id: int, new_password: str) -> None:
    require(actor, "manage_users")
    user = _get(session, user_id)
    user.password_hash = hash_password(new_password, user.username)
    user.password_changed_at = now_utc()
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor=actor.username, action="user.reset_password", entity="user",
                 entity_id=user.username)


def change_password(session: Session, actor: CurrentUser, old_password: str, new_password: str,
                    confirm: str) -> None:
    """A user changes their own password."""
    if actor.id is None:
        raise PermissionDenied("系统账号不能修改密码")
    if not can(actor, "change_own_password"):
        raise PermissionDenied("本账号为只读的检查演示账号，不能修改密码")
    user = _get(session, actor.id)
    if not _password_matches(old_password, user.password_hash):
        raise AccountError("原密码不正确")
    if new_password != confirm:
        raise AccountError("两次输入的新密码不一致")
    if new_password == old_password:
        raise AccountError("新密码不能与原密码相同")
    user.password_hash = hash_password(new_password, user.username)
    user.password_changed_at = now_utc()
    audit.record(session, actor=actor.username, action="user.change_password", entity="user",
                 entity_id=user.username)


def list_users(session: Session, actor: CurrentUser) -> list[dict]:
    require(actor, "manage_users")
    rows = session.execute(select(User, Unit.name).outerjoin(Unit, Unit.id == User.unit_id)
                           .order_by(User.username)).all()
    now = now_utc()
    return [{
        "id": u.id, "username": u.username, "display_name": u.display_name,
        "roles": sorted(parse_roles(u.roles)), "unit_id": u.unit_id, "unit": unit or "",
        "active": u.active, "failed_logins": u.failed_logins,
        "locked_until": u.locked_until if u.locked_until and u.locked_until > now else None,
    } for u, unit in rows]
