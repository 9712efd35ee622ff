"""The one module that adapts the library to Streamlit: caching, database readiness, page frame.

Cached functions take every input that changes their answer (database URL, as-of time, window,
filters) and never read session state.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import re
import secrets
import sys
import threading
import time as time_module
import types
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
import streamlit as st
import streamlit_authenticator as stauth
import streamlit_authenticator.models.cookie_model as _cookie_model
from sqlalchemy.exc import DBAPIError
from streamlit_authenticator.utilities import LoginError

from lib import access, audit, auth, catalog, config, db, demo, privacy, queries, views
from lib.access import CurrentUser
from lib.clock import now_utc
from lib.lights import GREY, badge, fmt_time

try:
    # Streamlit reads a leading emoji off every alert's text that is not ASCII (all of ours):
    # the first time in a process it imports its emoji catalogue and compiles a regex of
    # thousands of alternatives (0.1 s of the first page that shows a message). Done here, when
    # the module is imported.
    from streamlit.string_util import extract_leading_emoji as _extract_leading_emoji

    _extract_leading_emoji("预热")
except ImportError:  # a Streamlit without it: nothing to prepare
    pass

# Streamlit's check, on the first element a process draws, for being run from a Python prompt
# instead of `streamlit run`: it walks the stack with `inspect.stack()`, resolving the file of
# every loaded module (0.05 s of the first page run, 5,000 file-system calls). This app is only
# run by `streamlit run` (and by AppTest in the tests), so the warning it guards can never apply:
# marked as given.
_streamlit_delta_generator = sys.modules.get("streamlit.delta_generator")
if _streamlit_delta_generator is not None and hasattr(_streamlit_delta_generator,
                                                      "_use_warning_has_been_displayed"):
    _streamlit_delta_generator._use_warning_has_been_displayed = True

_log = logging.getLogger("lib.ui")


def _library_print(*args, **kwargs) -> None:
    """streamlit-authenticator prints every failed cookie check (a missing or foreign cookie is
    routine); its words go to the debug log instead of the server's output."""
    _log.debug("streamlit-authenticator: %s", " ".join(str(a) for a in args))


# Only that module's own `print` is replaced; the library's code is used unmodified.
_cookie_model.print = _library_print


# The module (its package exports a class of the same name over it).
_stx_cookies = importlib.import_module("extra_streamlit_components.CookieManager")


class _CookieWriter(_stx_cookies.CookieManager):
    """extra-streamlit-components' cookie manager without the component it draws on creation to
    read every cookie of the browser. streamlit-authenticator (0.4.2) reads the login cookie from
    the request (`st.context.cookies`) and only sets and deletes through the manager; the reading
    component only cost each new session an iframe and a second run as soon as it answered, and
    a click that came while that run replaced the first was lost (a sign-in that did nothing,
    seen with 30 browsers at once)."""

    def __init__(self, key: str = "init") -> None:  # noqa: ARG002 - the library's signature
        self.cookie_manager = _stx_cookies._component_func
        self.cookies = {}

    def delete(self, cookie, key="delete"):
        self.cookies.setdefault(cookie, None)  # the library's delete forgets what it never read
        super().delete(cookie, key=key)


_cookie_model.stx = types.SimpleNamespace(CookieManager=_CookieWriter)


@st.cache_resource(show_spinner=False)
def _configure_logging() -> None:
    """The app's own log lines (warnings and errors, with time, level and where) on stderr."""
    root = logging.getLogger("lib")  # every module of lib/ logs under it
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
        root.addHandler(handler)
        root.setLevel(os.environ.get("ESUP_LOG_LEVEL", "INFO").upper())
        root.propagate = False


COOKIE_NAME = "esup_auth"
COOKIE_DAYS = 1.0  # a government workstation: sign in again every day


@st.cache_resource(show_spinner="正在准备数据库（首次运行将创建数据库并载入演示数据，约需 20 秒）…")
def _ready_engine(url: str):
    engine = db.get_engine(url)
    if db.needs_migration(engine):
        db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
        if not config.is_production() and not demo.is_loaded(s):
            demo.load_demo(s)
    return engine


@st.cache_resource(show_spinner=False)
def _tune_gc() -> bool:
    """Once per server process, after the modules are loaded: the objects alive then
    (modules, classes: hundreds of thousands) moved out of the collector's way
    (`gc.freeze`), and the youngest generation collected less often. A page allocates many
    small objects (rows, lights, frames); without this the collector walked every long-lived
    object again and again, a third of a domain page's run. No collection first: it walked
    the whole start-up heap (0.1 s of the first run) to free the little garbage start-up left."""
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    return True


def engine():
    _configure_logging()
    _tune_gc()  # before the engine's first reads: their allocations no longer walk the heap
    eng = _ready_engine(config.database_url())
    _start_sweeper(config.database_url())
    return eng


@st.cache_resource(show_spinner=False)
def _start_sweeper(url: str) -> threading.Thread | None:
    """The app's own supervision sweep: a background thread that asks every minute; the
    database decides which process runs it (lib.notices.run_if_due), so several app processes
    and a cron job never issue a notice twice. ESUP_SWEEPER=0 turns it off (tests)."""
    if os.environ.get("ESUP_SWEEPER", "1") == "0":
        return None
    from lib import notices

    def loop() -> None:
        while True:
            try:
                db.transact(notices.run_if_due, db.get_engine(url))
            except Exception:  # noqa: BLE001 - keep sweeping; the next minute retries
                _log.exception("supervision sweep failed (database %s); retrying in a minute",
                               db.get_engine(url).url.render_as_string())
            time_module.sleep(60)

    thread = threading.Thread(target=loop, name="esup-sweeper", daemon=True)
    thread.start()
    return thread


def url() -> str:
    return config.database_url()


def read():
    """A read-only transaction on the app's database: never takes SQLite's write lock."""
    return db.read_scope(engine())


BUSY_MESSAGE = "系统繁忙，本次操作未能保存（数据库正忙），请稍后再试一次。"


def write(fn):
    """Run `fn(session)` in one write transaction and return its result. A transient lock or
    serialization failure is retried (`lib.db.transact`); if it still fails, the user reads a
    plain message instead of a traceback and the page stops. Refusals (ValueError and its
    kind, PermissionDenied) reach the caller unchanged."""
    try:
        return db.transact(fn, engine())
    except DBAPIError as exc:
        if not db.is_transient(exc):
            raise
        _log.error("write failed after %d retries: %s", db.RETRIES, exc.orig)
        st.error(BUSY_MESSAGE)
        st.stop()


def page(title: str, icon: str = "🚦") -> None:
    st.set_page_config(page_title=f"{title} · 电子监察综合平台", page_icon=icon, layout="wide")


# -- sign-in, navigation and the guard every page calls first ----------------------------------

def _secret(section: str, key: str) -> str | None:
    try:
        return st.secrets[section][key]
    except Exception:  # noqa: BLE001 - no secrets.toml, or no such section
        return None


def _secret_cookie_key() -> str | None:
    return _secret("auth", "cookie_key")


def _check_privacy() -> None:
    """Personal data is never stored in clear: stop here if there is no key to encrypt it."""
    privacy.configure(_secret("privacy", "key"))
    try:
        privacy.check()
    except privacy.PrivacyConfigError as exc:
        st.error(str(exc))
        st.stop()


def _authenticator() -> stauth.Authenticate:
    """streamlit-authenticator over the users in the database (passed as a dict, so it never
    rewrites a file); one per run, because its cookie manager is a component drawn each run."""
    with read() as s:
        creds = auth.credentials(s)
    return stauth.Authenticate(creds, COOKIE_NAME, auth.cookie_key(_secret_cookie_key()),
                               COOKIE_DAYS, auto_hash=False, login_sleep_time=0)


def _on_logout(info: dict) -> None:
    if info.get("username"):
        write(lambda s: audit.record(s, actor=info["username"], action="auth.logout",
                                     entity="user", entity_id=info["username"]))


def _login_form(authenticator: stauth.Authenticate, notice: str | None = None) -> CurrentUser | None:
    box = st.empty()
    user = None
    with box.container():
        st.title("湛江市惩防体系电子监察综合平台")
        st.caption("请使用本单位分配的账号登录。连续输错密码 5 次，账号将锁定 15 分钟。")
        if notice:
            st.info(notice)
        with st.form("login_form"):
            username = st.text_input("用户名", key="login_username", max_chars=32)
            password = st.text_input("密码", type="password", key="login_password", max_chars=128)
            submitted = st.form_submit_button("登录", type="primary")
        with st.expander("首次登录：用激活码设置密码"):
            st.caption("由管理员批量导入的账号没有初始密码。请用管理员提供的一次性激活码设置本人密码，"
                       f"然后用新密码登录。{auth.POLICY_TEXT}。")
            with st.form("activate_form", clear_on_submit=True):
                a_user = st.text_input("用户名", key="activate_username", max_chars=32)
                a_code = st.text_input("激活码", key="activate_code", max_chars=20,
                                       placeholder="XXXX-XXXX-XXXX")
                a_new = st.text_input("新密码", type="password", key="activate_new", max_chars=128)
                a_again = st.text_input("再次输入新密码", type="password", key="activate_again",
                                        max_chars=128)
                if st.form_submit_button("设置密码"):
                    try:
                        write(lambda s: auth.activate(s, a_user, a_code, a_new, a_again))
                    except auth.AccountError as exc:
                        st.error(f"未设置：{exc}")
                    else:
                        st.success("密码已设置，请用新密码登录。")
        st.caption("群众反映问题、查询办理进度，无需登录：")
        for p in access.public_pages():
            st.page_link(p.path, label=p.title, icon=p.icon)
        if submitted:
            result = write(lambda s: auth.authenticate(s, username, password))
            if result.user is None:
                st.error(result.message)
            else:
                user = result.user
    if user is not None:
        box.empty()
        st.session_state.update({"authentication_status": True, "username": user.username,
                                 "name": user.display_name, "roles": sorted(user.roles),
                                 "email": None, "logout": None})
        st.session_state.pop(_LOGGED_OUT, None)
        model = authenticator.cookie_controller.cookie_model
        model.exp_date = model._set_exp_date()
        st.session_state[_LOGIN_COOKIE] = {
            "token": model._token_encode(),
            "expires": datetime.now() + timedelta(days=model.cookie_expiry_days)}
        # drawn by `require` once the page knows the user stays signed in (see below)
    return user


# The login cookie is written in the browser by a component (extra-streamlit-components' cookie
# manager) that must be on the page when the browser draws it. Drawn only in the login run (as
# streamlit-authenticator does), it was lost whenever that run was cut short by the next one
# before the browser had drawn it (many sign-ins at once, a busy server): the session went on
# signed in, but the next page opened or a reload asked for the password again. So the same
# cookie (the same token and expiry, so the browser's component does nothing new) is drawn in
# every run of the session that signed in, until it signs out.
_LOGIN_COOKIE = "_login_cookie"


# Signing out deletes the cookie through the same kind of component, with the same risk: drawn
# in one run only, a run cut short could leave the cookie, and a reload would sign the user in
# again (a shared computer). So a session that signed out draws the deletion in each of its runs
# that end on the login form, until it signs in again (never in a run that signs in: the
# browser could run the deletion after the new cookie).
_LOGGED_OUT = "_logged_out"


def _keep_logout(authenticator: stauth.Authenticate) -> None:
    if st.session_state.get(_LOGGED_OUT):
        model = authenticator.cookie_controller.cookie_model
        model.cookie_manager.delete(model.cookie_name)


def _keep_login_cookie(authenticator: stauth.Authenticate) -> None:
    cookie = st.session_state.get(_LOGIN_COOKIE)
    if cookie is None:
        return
    model = authenticator.cookie_controller.cookie_model
    model.cookie_manager.set(model.cookie_name, cookie["token"], expires_at=cookie["expires"])


def _restore(authenticator: stauth.Authenticate) -> CurrentUser | None:
    """The signed-in user of this session, or from the login cookie; None if there is none."""
    try:
        authenticator.login(location="unrendered")
    except LoginError:  # the cookie names a user who is no longer active
        authenticator.logout(location="unrendered")
        return None
    if not st.session_state.get("authentication_status"):
        st.session_state.pop(_LOGIN_COOKIE, None)
        return None
    with read() as s:
        user = auth.load_user(s, st.session_state.get("username") or "")
    if user is None:  # disabled while signed in
        authenticator.logout(location="unrendered")
    return user


def require(page_key: str) -> CurrentUser:
    """Every page's first call: page frame, sign-in, role-filtered navigation, and the server-side
    check that this user may open this page. Stops the script otherwise."""
    spec = access.PAGE_BY_KEY[page_key]
    page(spec.title, spec.icon)
    try:
        authenticator = _authenticator() if engine() else None
    except auth.ConfigError as exc:
        st.error(str(exc))
        st.stop()
    _check_privacy()
    user = _restore(authenticator)
    if user is None:
        user = _login_form(authenticator)
        if user is None:
            _keep_logout(authenticator)
            st.stop()
    with st.sidebar:
        st.markdown(f"**{user.display_name}**  \n{user.role_names}"
                    + (f" · {user.unit_name}" if user.unit_name else ""))
        authenticator.logout("退出登录", location="sidebar", key="sign_out", callback=_on_logout)
    if not st.session_state.get("authentication_status"):
        st.session_state.pop(_LOGIN_COOKIE, None)  # signed out: the cookie is deleted, not drawn
        st.session_state[_LOGGED_OUT] = True  # (deleted in this run by the library, see _keep_logout)
        _login_form(authenticator, notice="您已安全退出。")
        st.stop()
    _keep_login_cookie(authenticator)
    with st.sidebar:
        st.divider()
        for p in access.visible_pages(user):
            st.page_link(p.path, label=p.title, icon=p.icon)
        st.caption("群众门户")
        for p in access.public_pages():
            st.page_link(p.path, label=p.title, icon=p.icon)
    if not access.can_open(user, page_key):
        st.error(f"您的角色（{user.role_names}）无权访问“{spec.title}”。如需开通，请联系系统管理员。")
        st.stop()
    show_flash()
    return user


def public(page_key: str) -> None:
    """The first call of a public portal page: no sign-in, public navigation only."""
    spec = access.PAGE_BY_KEY[page_key]
    assert spec.public
    page(spec.title, spec.icon)
    engine()
    _check_privacy()
    with st.sidebar:
        st.markdown("**清风竹影 · 群众监督**")
        for p in access.public_pages():
            st.page_link(p.path, label=p.title, icon=p.icon)
        st.divider()
        st.page_link("Home.py", label="工作人员登录", icon=":material/login:")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:])")


def esc(text: str | None) -> str:
    """User-written text made safe inside Markdown: every Markdown, HTML and LaTeX character
    escaped, so a citizen's words can neither format the page nor load anything."""
    return _MARKDOWN.sub(r"\\\1", text or "")


def clip(text: str | None, n: int) -> str:
    """At most n characters of the text, an ellipsis marking a cut (a choice's label)."""
    text = text or ""
    return text if len(text) <= n else text[:n - 1] + "…"


def plain(text: str | None) -> None:
    """User-written text shown as text (see `esc`), line breaks kept."""
    st.markdown(esc(text).replace("\n", "  \n") or "—")


def client_address() -> str | None:
    """The visitor's address, for rate-limiting public submissions (never stored in clear): the
    peer, or behind the local reverse proxy the X-Real-IP it sets (`privacy.visitor_address`)."""
    from lib import privacy

    peer = None
    try:  # the peer as the server saw it: st.context.ip_address hides 127.0.0.1 and ::1 but
        # not ::ffff:127.0.0.1, the local proxy as a dual-stack socket reports it
        from streamlit.runtime.context import _get_client_context

        client = _get_client_context()
        peer = client.remote_ip if client is not None else None
    except Exception:  # noqa: BLE001 - a private helper: without it, Streamlit's public value
        pass
    try:
        peer = peer or st.context.ip_address
        real = st.context.headers.get("X-Real-IP")
    except Exception:  # noqa: BLE001 - not available outside a browser session
        return None
    return privacy.visitor_address(peer if isinstance(peer, str) else None, real)


def visitor() -> str | None:
    """Who is posting or voting on the portal, for rate limits and one vote per poll: the
    visitor's address, else (no address known, as under test) a random token kept for this
    browser session. Only its salted hash is stored."""
    return client_address() or st.session_state.setdefault(
        "_visitor", "session:" + secrets.token_hex(16))


_VIEW_CACHES: dict[str, object] = {}


def keep_state(*keys: str) -> None:
    """Keep the values of widgets that a run may not draw (in a tab that is not open: lazy
    tabs run only the selected one). Streamlit forgets a widget's value after a run that did
    not draw it; setting the key again at the top of every run keeps it (Streamlit's documented
    way: "interrupting the widget clean-up process"). For widgets outside forms, with no default
    argument (a default set this way would warn): give their first value with `setdefault`.
    What is typed into a form and not yet submitted lives in the browser and is not kept."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def view_cache(ttl: int = 120, show_spinner: bool | str = False):
    """Cache a view's computed objects (a page's cases, a domain's rule findings) as they are:
    shared read-only by the sessions asking for the same view (the arguments, the user among
    them, are the key), not pickled on store and unpickled on every read as `st.cache_data`
    does (a few thousand case objects took 0.4 s per read). Callers must not change what they
    get. Cleared with the data caches after every write."""
    def wrap(fn):
        cached = st.cache_resource(ttl=ttl, max_entries=64, show_spinner=show_spinner)(fn)
        _VIEW_CACHES[f"{fn.__module__}.{fn.__qualname__}"] = cached  # a page's rerun replaces it
        return cached
    return wrap


def clear_data_caches() -> None:
    """After a write: drop every cached query result and computed view."""
    st.cache_data.clear()
    for cached in _VIEW_CACHES.values():
        cached.clear()


def moment_on(day: date, at: time) -> datetime:
    """A day a form was given as a moment: that day at `at` Beijing time, or now if that is
    still to come today (a later day stays later, for the library to refuse in words)."""
    moment = datetime.combine(day, at, tzinfo=config.TZ)
    return min(moment, now_utc()) if day == now_utc().astimezone(config.TZ).date() else moment


def as_of_for(day: date) -> datetime:
    """Today: now (to the minute, so caches hold for a minute; to the second in the run right
    after a write, which must show it). A past day: its last second."""
    local_today = now_utc().astimezone(config.TZ).date()
    if day >= local_today:
        exact = st.session_state.get(_EXACT_NOW)  # the run right after a write (show_flash)
        return exact if exact is not None else now_utc().replace(second=0)
    return datetime.combine(day, time(23, 59, 59), tzinfo=config.TZ)


WINDOWS = {"近30天": 30, "近90天": 90, "近一年": 365, "全部": None}


@st.cache_data(ttl=600, show_spinner=False)
def catalog_frames(url: str) -> dict[str, pd.DataFrame]:
    with read() as s:
        return queries.catalog_frames(s)


@st.cache_data(ttl=300, show_spinner="正在统计…")
def light_counts(url: str, user: CurrentUser, as_of: datetime, window_days: int | None,
                 subsystem_ids: tuple[int, ...] | None = None) -> pd.DataFrame:
    """The cockpit's counts (`queries.light_counts`); `subsystem_ids`: only these subsystems."""
    with read() as s:
        return queries.light_counts(s, user=user, as_of=as_of, window_days=window_days,
                                    subsystem_ids=subsystem_ids)


@st.cache_data(ttl=60, show_spinner=False)
def data_source(url: str, as_of: datetime) -> str:
    """Which source the counts as of `as_of` are read from ('rollups', 'snapshot' or
    'direct')."""
    from lib import rollups

    with read() as s:
        return rollups.as_of_source(s, as_of)


SOURCE_TEXT = {
    "rollups": "数据来源：汇总表（已办结、已逾期事项按日汇总，未到期在办事项按到期日和转黄日汇总；"
               "当日到期、当日转黄的事项实时读取，与逐条统计一致）",
    "snapshot": "数据来源：月末快照（该月末在办事项的灯色快照，加已办结事项按日汇总，与逐条统计一致）",
    "direct": "数据来源：基础表逐条统计（汇总表不能回答该时刻：所选日期早于汇总表的更新时刻且不是月末，"
              "或汇总表、月末快照尚未生成；按事项逐条重算，结果相同。选择某月最后一天可从月末快照读取）",
}


def source_caption(as_of: datetime) -> str:
    return SOURCE_TEXT[data_source(url(), as_of)]


@st.cache_data(ttl=300, show_spinner=False)
def source_figures(url: str, as_of: datetime) -> queries.SourceFigures:
    with read() as s:
        return queries.source_figures(s, as_of=as_of)


@st.cache_data(ttl=300, show_spinner=False)
def latest_red(url: str, user: CurrentUser, as_of: datetime, region_id: int | None,
               limit: int = 10):
    with read() as s:
        return queries.latest_red(s, user=user, as_of=as_of, region_id=region_id, limit=limit)


@st.cache_data(ttl=300, show_spinner=False)
def open311_json(url: str) -> bytes:
    import json

    from lib import submissions

    with read() as s:
        return json.dumps(submissions.open311(s), ensure_ascii=False, indent=1).encode("utf-8")


def excel_bytes(frames: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx with one sheet per frame, columns sized to their content."""
    import io

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in frames.items():
            df.to_excel(writer, sheet_name=name[:31], index=False)
            sheet = writer.sheets[name[:31]]
            for i, col in enumerate(df.columns, start=1):
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
                sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(width * 1.6, 60)
    return buf.getvalue()


def import_hint(user: CurrentUser, *kind_codes: str) -> str:
    """Where the records an empty view lacks come from, said to this user: those who may import
    are sent to 数据接入 with the kinds as that page names them (label and code); the others
    are told who imports them (a clerk has no 数据接入 page to go to)."""
    from lib import exchange

    kinds = exchange.load_kinds()
    labels = [kinds[c].label if c in kinds else c for c in kind_codes]
    if access.can(user, "import_items"):
        named = "和".join(f"{label}（{code}）" for label, code in zip(labels, kind_codes,
                                                                 strict=True))
        return f"可在“数据接入”页导入{named}。"
    return (f"{'和'.join(labels)}由系统管理员或纪检监察人员在“数据接入”页导入；"
            "如有遗漏，请与他们联系。")


def export_hint(user: CurrentUser, kind_code: str) -> str:
    """Where the whole of a list cut short on the screen can be had, said to this user (the
    exports are 数据接入's, for those who may import; the others are told who exports)."""
    from lib import exchange

    kinds = exchange.load_kinds()
    label = kinds[kind_code].label if kind_code in kinds else kind_code
    if access.can(user, "import_items"):
        return f"完整记录可在“数据接入”页导出（数据类别：{label}）。"
    return f"完整记录可请系统管理员或纪检监察人员在“数据接入”页导出（数据类别：{label}）。"


def chart(chart, **kwargs):
    """Draw an Altair chart. The spec is built without Altair's JSON-schema validation, which
    costs more than the rest of the page; the charts are fixed code, checked by the tests."""
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    return st.vega_lite_chart(spec, theme=None, width="stretch", **kwargs)


@st.cache_data(ttl=300, show_spinner=False)
def project_thresholds(url: str) -> tuple[int, int]:
    from lib import projects

    with read() as s:
        return projects.thresholds(s)


def items_frame(rows: list[queries.ItemRow]) -> pd.DataFrame:
    """Items as a table: the light in words with its symbol, and the reason."""
    return pd.DataFrame([{
        "灯色": badge(r.light),
        "事项编号": r.external_id,
        "事项": r.title or "",
        "责任单位": r.unit,
        "子系统": r.subsystem,
        "区县": r.region or "市直",
        "受理时间": fmt_time(r.received_at),
        "办理期限": fmt_time(r.deadline),
        "办结时间": fmt_time(r.completed_at),
        "原因": r.reason,
    } for r in rows])


# -- views kept in the URL (lib.views) ---------------------------------------------------------
#
# A page's filters are widgets whose state lives in st.session_state under "<page>.<name>"; the
# URL holds the same filters as codes. When the URL comes from outside (first arrival, a link, the
# back or forward button), the widgets take their values from it; when the user changes a
# widget, the URL follows (a new browser history entry, so "back" returns to the view before).

def _url_now() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params}


_VIEW_NAMES = {"asof" if n == "day" else n for n in views.View.__dataclass_fields__}


@st.cache_data(ttl=600, show_spinner=False)
def known_codes(url: str) -> views.Known:
    cat = catalog_frames(url)
    return views.Known(counties=frozenset(cat["counties"]["adcode"]),
                       domains=frozenset(cat["domains"]["domain_code"]),
                       subsystems=frozenset(cat["subsystems"]["subsystem_code"]),
                       units=frozenset(cat["units"]["unit_code"]))


def adopt_url(page_key: str, names: tuple[str, ...]) -> views.View:
    """The view the URL names, for the widgets "<page_key>.<name>". A widget created in this run
    starts from the URL's value (see `current`); when the URL came from outside since the page
    last wrote it (the back or forward button, a link to the page it is on), a widget that
    already exists is set to it."""
    now = _url_now()
    view = views.View.parse(now, today=today_local(), known=known_codes(url()))
    outside = st.session_state.get(f"_url.{page_key}") != now
    starts = st.session_state.setdefault("_start", {})
    for name in names:
        key = f"{page_key}.{name}"
        value = getattr(view, "day" if name == "asof" else name)
        if name == "asof":
            value = value or today_local()
        elif name != "page":
            value = value or ""  # "" is "all" in the selectors (None would show no choice)
        if key not in st.session_state:
            starts[key] = value
        elif outside:
            st.session_state[key] = value
    if outside:
        st.session_state.pop(f"_filters.{page_key}", None)  # the link's page number stands
    st.session_state[f"_url.{page_key}"] = now
    return view


def current(key: str, default=None):
    """A widget's value before it is drawn in this run: its state if it exists, else the value
    it will be created with (from the URL)."""
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get("_start", {}).get(key, default)


def _given(key: str) -> bool:
    """True when `key` was set through st.session_state in this run: the widget is then sent
    its value with it, and must be given no default of its own (Streamlit logs a warning)."""
    from streamlit.runtime.state import get_session_state

    return key in st.session_state and get_session_state().is_new_state_value(key)


def keep_index(key: str, options: list, start=None) -> int:
    """The `index` to give a keyed selectbox: that of its current value (or `start` before it
    exists), so that it is drawn right even when the browser first meets it in a later run;
    0 when its value was set through st.session_state in this run (it travels with it)."""
    value = current(key, start)
    return 0 if _given(key) or value not in options else options.index(value)


# Why every URL-kept widget is given its current value as its default, on every run: a run can
# be cut short by the next one (the login cookie's component asks for a rerun right after the
# login run), so the browser may first meet a widget in a run where Streamlit thinks it already
# knows it and sends no value; it then shows its default. With the current value as default
# it shows the right one (a leader once saw "近30天" above figures for a year).


def publish_url(page_key: str, view: views.View) -> None:
    """Write the view into the URL (parameters that are not filters, like ?item=, are kept)."""
    now = _url_now()
    params = view.params() | {k: v for k, v in now.items() if k not in _VIEW_NAMES}
    if params != now:
        st.query_params.from_dict(params)
    st.session_state[f"_url.{page_key}"] = params


def set_url_param(page_key: str, name: str, value: str | None) -> None:
    """One parameter that is not a filter (e.g. the item whose details are open)."""
    now = _url_now()
    params = {k: v for k, v in now.items() if k != name} | ({name: value} if value else {})
    if params != now:
        st.query_params.from_dict(params)
    st.session_state[f"_url.{page_key}"] = params


def view_day(view: views.View) -> date:
    return view.day or today_local()


def link_to(page_key: str, view: views.View, label: str, *, icon: str | None = None,
            help: str | None = None, disabled: bool = False) -> None:
    """A link that opens `page_key` on `view` (its filters in the URL)."""
    st.page_link(access.PAGE_BY_KEY[page_key].path, label=label, icon=icon, help=help,
                 query_params=view.params(), disabled=disabled)


def go_to(page_key: str, view: views.View) -> None:
    """Open `page_key` on `view` now (after a click on a chart)."""
    st.switch_page(access.PAGE_BY_KEY[page_key].path, query_params=view.params())


def choose(where, label: str, key: str, options: dict[str, str], *, all_label: str = "全部",
           help: str | None = None) -> str:
    """A selector over codes with "all" first (the empty code), searchable by typing; returns
    the chosen code ("" for all)."""
    codes = ["", *options]
    if key in st.session_state and st.session_state[key] not in codes:
        st.session_state[key] = ""  # e.g. a subsystem of another domain
    return where.selectbox(label, codes, key=key, help=help, index=keep_index(key, codes, ""),
                           format_func=lambda c: options.get(c, all_label) if c else all_label)


def pick_window(where, key: str) -> str:
    """The statistics window (lib.views.WINDOWS), as a code."""
    codes = list(views.WINDOWS)
    return where.selectbox("统计区间", codes, key=key, format_func=views.WINDOW_LABELS.get,
                           index=keep_index(key, codes, views.DEFAULT_WINDOW),
                           help="在办事项，加上本区间内办结的事项。")


def pick_day(where, key: str, help: str) -> date:
    """The as-of day (today: now)."""
    return where.date_input("查看日期", value="today" if _given(key) else current(key, "today"),
                            max_value=today_local(), format="YYYY-MM-DD", key=key, help=help)


def item_filters(user: CurrentUser, page_key: str, *, domain: str | None = None) -> tuple[
        views.View, queries.ItemFilter]:
    """The sidebar filters of an item list, kept in the URL: as-of day, window, domain (unless
    the page is one domain's), subsystem, light, open/closed, county and unit (not for staff,
    who see their own unit), and a search. Returns the view and the filter for `item_list`."""
    cat = catalog_frames(url())
    own_unit = access.unit_scope(user)
    names = ("asof", "window", "domain", "sub", "light", "state", "county", "unit", "q", "page")
    adopt_url(page_key, names)
    k = {n: f"{page_key}.{n}" for n in names}
    bar = st.sidebar
    bar.header("筛选")
    val = {"asof": pick_day(bar, k["asof"], "看这一天结束时的状况；今天为当前时刻。"),
           "window": pick_window(bar, k["window"])}
    domains = dict(zip(cat["domains"]["domain_code"], cat["domains"]["domain"], strict=True))
    val["domain"] = domain if domain is not None else choose(bar, "领域", k["domain"], domains)
    subs = cat["subsystems"].merge(cat["domains"], on="domain_id")
    if val["domain"]:
        subs = subs[subs["domain_code"] == val["domain"]]
    sub_names = dict(zip(subs["subsystem_code"], subs["subsystem"], strict=True))
    val["sub"] = choose(bar, "子系统", k["sub"], sub_names)
    val["light"] = choose(bar, "灯色", k["light"], {x: badge(x) for x in views.LIGHTS})
    val["state"] = choose(bar, "办理状态", k["state"], queries.STATES)
    counties = dict(zip(cat["counties"]["adcode"], cat["counties"]["region"], strict=True))
    units = dict(zip(cat["units"]["unit_code"], cat["units"]["unit"], strict=True))
    if own_unit is None:
        val["county"] = choose(bar, "区县", k["county"], counties)
        val["unit"] = choose(bar, "责任单位", k["unit"], units, help="可输入单位名称的一部分搜索")
    else:  # staff see their own unit; a county in a link still narrows it
        val["county"], val["unit"] = current(k["county"], "") or None, None
    val["q"] = bar.text_input("搜索", value="" if _given(k["q"]) else current(k["q"], ""),
                              max_chars=64, key=k["q"], placeholder="事项编号或名称的一部分")
    picked = views.View(
        day=None if val["asof"] >= today_local() else val["asof"], window=val["window"],
        county=val["county"] or None, domain=val["domain"] or None, sub=val["sub"] or None,
        light=val["light"] or None, state=val["state"] or None, unit=val["unit"] or None,
        q=(val["q"] or "").strip() or None, page=current(k["page"], 1) or 1)
    # Another filter shows another list: start again at its first page.
    last = st.session_state.get(f"_filters.{page_key}")
    if last is not None and last != picked.but(page=1):
        picked = picked.but(page=1)
        if k["page"] in st.session_state:
            st.session_state[k["page"]] = 1
        else:
            st.session_state["_start"][k["page"]] = 1
    st.session_state[f"_filters.{page_key}"] = picked.but(page=1)
    publish_url(page_key, picked)
    region_ids = dict(zip(cat["counties"]["adcode"], cat["counties"]["region_id"], strict=True))
    unit_ids = dict(zip(cat["units"]["unit_code"], cat["units"]["unit_id"], strict=True))
    flt = queries.ItemFilter(
        as_of=as_of_for(view_day(picked)), window_days=picked.window_days,
        domain_code=picked.domain, subsystem_code=picked.sub,
        region_id=int(region_ids[picked.county]) if picked.county else None,
        unit_id=int(unit_ids[picked.unit]) if picked.unit else None,
        light=picked.light, state=picked.state, text=picked.q)
    return picked, flt


def describe(view: views.View, user: CurrentUser) -> str:
    """The view in words, for the caption above a list: '全市 · 权力运行 · 红牌 · 在办'."""
    cat = catalog_frames(url())
    counties = dict(zip(cat["counties"]["adcode"], cat["counties"]["region"], strict=True))
    if access.unit_scope(user) is not None:
        parts = [f"{user.unit_name}（本单位）"]
    else:
        parts = ["全市"] if not view.county else []
    lookups = [
        (view.county, counties),
        (view.domain, dict(zip(cat["domains"]["domain_code"], cat["domains"]["domain"], strict=True))),
        (view.sub, dict(zip(cat["subsystems"]["subsystem_code"], cat["subsystems"]["subsystem"],
                            strict=True))),
        (view.unit, dict(zip(cat["units"]["unit_code"], cat["units"]["unit"], strict=True))),
    ]
    parts += [names.get(code, code) for code, names in lookups if code]
    if view.light:
        parts.append(badge(view.light))
    if view.state:
        parts.append(queries.STATES[view.state])
    if view.q:
        parts.append(f"含“{view.q}”")
    return " · ".join(parts)


# -- the item list: urgent first, counted, paged, exported whole ---------------------------------

PER_PAGE = (20, 50, 100, 200)


@st.cache_data(ttl=300, show_spinner="正在查询…")
def item_page(url: str, user: CurrentUser, flt: queries.ItemFilter, page: int,
              per_page: int) -> queries.ItemPage:
    counts = None
    if queries.tally_from_counts(flt) and data_source(url, flt.as_of) != "direct":
        # The page's own counts, cached: a domain page's (its subsystems' only) or the city's
        # (a list filtered by a subsystem alone is cut from them).
        counts = light_counts(url, user, flt.as_of, flt.window_days,
                              subsystem_ids(flt.domain_code) if flt.domain_code else None)
    with read() as s:
        return queries.item_page(s, user=user, flt=flt, page=page, per_page=per_page,
                                 counts=counts)


def items_export(url: str, user: CurrentUser, flt: queries.ItemFilter, sheet: str) -> bytes:
    """Every item of the list (not just the page shown), as an Excel workbook."""
    with read() as s:
        rows = queries.item_page(s, user=user, flt=flt, per_page=None).rows
    return excel_bytes({sheet: items_frame(rows)})


def tally(result: queries.ItemPage, noun: str = "件") -> None:
    """'共 1,234 件  ■ 红牌 56  ▲ 黄牌 7  ● 绿灯 1,171 （在办 90 件，其中逾期 12 件）'."""
    c = result.counts
    lights = "　".join(f"{badge(x)} **{c[x]:,}**" for x in views.LIGHTS if x != GREY or c[x])
    st.markdown(f"共 **{result.total:,}** {noun}　{lights}　（在办 {c['open']:,} {noun}，其中逾期 "
                f"{c['open_red']:,} {noun}）")


def page_size(key: str) -> tuple[int, int]:
    """(page, per page) of the list `key`, from its pager's widgets (a new page size starts
    again at the first page)."""
    page_key, per_key = f"{key}.page", f"{key}.per"
    per = st.session_state.get(per_key) or 50
    if st.session_state.get(f"_per.{key}", per) != per:
        if page_key in st.session_state:
            st.session_state[page_key] = 1
        else:
            st.session_state.setdefault("_start", {})[page_key] = 1
    st.session_state[f"_per.{key}"] = per
    return current(page_key, 1) or 1, per


def pager(key: str, result: queries.ItemPage, noun: str = "件"):
    """Page number and page size under a list, and which rows are shown; returns the column
    left for an export button."""
    page_key, per_key = f"{key}.page", f"{key}.per"
    if page_key in st.session_state and st.session_state[page_key] != result.page:
        st.session_state[page_key] = result.page  # kept within the list
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2], vertical_alignment="bottom")
    c1.number_input(f"页码（共 {result.pages:,} 页）", min_value=1, max_value=result.pages, step=1,
                    value="min" if _given(page_key) else result.page, key=page_key)
    c2.selectbox("每页条数", list(PER_PAGE), key=per_key,
                 index=keep_index(per_key, list(PER_PAGE), 50))
    last = result.first + len(result.rows) - 1
    c3.caption(f"第 {result.first:,}–{last:,} {noun}，共 {result.total:,} {noun}")
    return c4


def item_list(user: CurrentUser, flt: queries.ItemFilter, *, key: str, empty: str,
              export_name: str = "监察事项") -> queries.ItemPage:
    """The list every item view shows (lib.queries.item_page): how many match and of which
    light, one page of them urgent first, a pager over all of them, and an export of all.
    The page number lives in st.session_state["<key>.page"] (item_filters keeps it in the URL).
    Returns the page (its rows feed a detail selector)."""
    page, per = page_size(key)
    result = item_page(url(), user, flt, page, per)
    tally(result)
    if not result.total:
        st.info(empty)
        return result
    st.caption(f"排列：{queries.ORDER_TEXT}。")
    st.dataframe(items_frame(result.rows), hide_index=True, width="stretch")
    spare = pager(key, result)
    day = flt.as_of.astimezone(config.TZ).date()
    u = url()
    spare.download_button(f"导出全部 {result.total:,} 件（Excel）",
                          data=lambda: items_export(u, user, flt, export_name),
                          file_name=f"{export_name}_{day:%Y%m%d}.xlsx", on_click="ignore",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return result


def as_item_row(item, subsystem, unit_name: str, lt) -> queries.ItemRow:
    """An item with its light, in the shape `explain` and `items_frame` take."""
    return queries.ItemRow(item.id, item.external_id, item.title, unit_name, subsystem.name, "",
                           None, item.received_at, item.deadline, item.completed_at, lt.light,
                           lt.reason, lt.rule, lt.inputs)


# The light engine's inputs (`lib.lights`) in the screen's words.
INPUT_NAMES = {
    "as_of": "查看时刻", "received_at": "受理时间", "deadline": "办理期限",
    "completed_at": "办结时间", "yellow_pct": "黄牌阈值（剩余时限占比 %）",
    "allowed": "总时限", "time_left": "剩余时间", "yellow_threshold": "黄牌线（剩余）",
    "late_by": "超期时长", "overdue_by": "逾期时长", "verdict": "规则判定",
    "period_end": "公开期间结束",
}
# The light engine's rules (`lib.lights.RULE_*`) in the screen's words.
LIGHT_RULE_NAMES = {
    "missing_data": "数据缺失", "completed_late": "超期办结", "completed_on_time": "按时办结",
    "open_overdue": "在办逾期", "open_near_deadline": "临近期限", "open_on_track": "在办正常",
    "card_cancelled": "申诉撤销亮牌", "rule_red": "红线规则判定", "rule_yellow": "规则提示异常",
}


def explain(row: queries.ItemRow) -> None:
    """'Why is this red?': the rule, its inputs and thresholds."""
    st.markdown(f"**{badge(row.light)}** · 判定规则：{LIGHT_RULE_NAMES.get(row.rule, row.rule)} · "
                f"{esc(row.reason)}")
    st.table(pd.DataFrame([{"项目": INPUT_NAMES.get(k, k), "值": str(v)}
                           for k, v in row.inputs.items()]))


def today_local() -> date:
    return now_utc().astimezone(config.TZ).date()


# -- efficiency assessment (lib.scoring) ---------------------------------------------------------

def scoring_as_of(period) -> datetime:
    """Now (to the minute), or the period's end when it is over: a finished period's ranking is
    computed once and shared by everyone from the cache."""
    return min(now_utc().replace(second=0), period.end)


@st.cache_data(ttl=300, show_spinner="正在计算考核得分…")
def ranking(url: str, period_code: str, level: str, as_of: datetime):
    from lib import scoring

    with read() as s:
        return scoring.compute(s, period_code, level, as_of=as_of)


@st.cache_data(ttl=60, show_spinner=False)
def published_snapshots(url: str, level: str | None = "unit") -> list[dict]:
    """Published snapshots (metadata, rows and scheme) as plain dicts, newest first."""
    import json

    from lib import scoring

    with read() as s:
        return [{"period": x.period, "level": x.level, "as_of": x.as_of,
                 "published_at": x.published_at, "published_by": x.published_by,
                 "hash": x.hash, "valid": scoring.verify_snapshot(x),
                 "rows": json.loads(x.rows), "scheme": json.loads(x.scheme)}
                for x in scoring.published(s, level)]


@st.cache_data(ttl=300, show_spinner=False)
def items_behind(url: str, user: CurrentUser, period_code: str, level: str, code: str,
                 as_of: datetime) -> pd.DataFrame:
    from lib import scoring

    with read() as s:
        return scoring.items_behind(s, user, period_code, level, code, as_of=as_of)


def scores_table(df: pd.DataFrame):
    """A table of scores for st.dataframe: two decimals for scores, one for indicators, and a
    dash where there is no figure (st.dataframe draws a missing number as "None", so a column
    with gaps is shown as text)."""
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_float_dtype(out[c]):
            continue
        digits = 2 if c == "得分" or any(k in c for k in ("季度", "月", "年度")) else 1
        if out[c].isna().any():
            out[c] = [("—" if pd.isna(v) else f"{v:.{digits}f}") for v in out[c]]
        else:
            out[c] = out[c].round(digits)
    return out


# -- domain pages (权力运行, 要素市场, 专项资金, 信息公开): one frame for all of them -----------------

@dataclass(frozen=True)
class DomainView:
    """What a domain page looks at: the as-of moment, the window and the county."""

    domain: str
    day: date
    as_of: datetime
    window_name: str
    window_days: int | None
    region_id: int | None
    region_name: str  # 全市 or the county's name
    adcode: str | None


def scope_name(user: CurrentUser, view: DomainView) -> str:
    """What a domain page shows this user: the city or the county picked, or a clerk's own
    unit (a clerk sees only the unit's records, whatever county is picked)."""
    if access.unit_scope(user) is None:
        return view.region_name
    return f"{user.unit_name}（本单位）"


def domain_view(domain: str) -> DomainView:
    """The sidebar's filters of a domain page: the day to look at (the city as it stood at its
    end; today is now), the window and the county (also picked by a click on the map). Each
    starts from the page's URL in the cockpit's words (?asof=2026-10-31&window=365&county=440823,
    lib.views), so the cockpit's links and a sent link open the same view, and is written back
    to it."""
    cat = catalog_frames(url())
    counties = cat["counties"]
    names = ["全市"] + list(counties["region"])
    params = st.query_params
    key = f"{domain}_region"
    if key not in st.session_state:
        by_code = dict(zip(counties["adcode"], counties["region"], strict=True))
        st.session_state[key] = by_code.get(params.get("county", ""), "全市")
    today = today_local()
    start_day = today
    for name in ("asof", "day"):  # `day`: links written before the cockpit's names
        try:
            start_day = min(date.fromisoformat(params.get(name, "")), today)
            break
        except ValueError:
            continue
    st.sidebar.header("查看条件")
    day = st.sidebar.date_input("查看日期", value=start_day, max_value=today, format="YYYY-MM-DD",
                                key=f"{domain}_day", help="看这一天结束时的状况；今天为当前时刻。")
    windows = list(WINDOWS)
    asked = params.get("window", views.DEFAULT_WINDOW)
    wanted = views.WINDOW_LABELS.get(asked, asked)
    window_name = st.sidebar.selectbox("统计区间", windows, key=f"{domain}_window",
                                       index=windows.index(wanted) if wanted in windows else 2,
                                       help="在办事项，加上本区间内办结的事项。")
    region_name = st.sidebar.selectbox("区县", names, key=key,
                                       help="也可以在地图上点击区县；双击地图空白处取消。")
    region_id = adcode = None
    if region_name != "全市":
        row = counties[counties["region"] == region_name].iloc[0]
        region_id, adcode = int(row["region_id"]), str(row["adcode"])
    window_code = next(c for c, label in views.WINDOW_LABELS.items() if label == window_name)
    wanted_params = {} if window_code == views.DEFAULT_WINDOW else {"window": window_code}
    if day < today:
        wanted_params["asof"] = day.isoformat()
    if adcode:
        wanted_params["county"] = adcode
    for k in ("asof", "window", "county", "day"):
        if k in wanted_params and params.get(k) != wanted_params[k]:
            params[k] = wanted_params[k]
        elif k not in wanted_params and k in params:
            del params[k]
    return DomainView(domain, day, as_of_for(day), window_name, WINDOWS[window_name], region_id,
                      region_name, adcode)


def subsystem_ids(domain_code: str | None,
                  subsystem_code: str | None = None) -> tuple[int, ...] | None:
    """The ids of a domain's subsystems (and of the one subsystem named), from the catalog;
    None for no such filter (every subsystem)."""
    if not (domain_code or subsystem_code):
        return None
    cat = catalog_frames(url())
    subs, domains = cat["subsystems"], cat["domains"]
    wanted = {int(d) for d, code in zip(domains["domain_id"].tolist(),
                                        domains["domain_code"].tolist(), strict=True)
              if not domain_code or code == domain_code}
    return tuple(sorted(int(i) for i, d, code in zip(
        subs["subsystem_id"].tolist(), subs["domain_id"].tolist(),
        subs["subsystem_code"].tolist(), strict=True)
        if d in wanted and (not subsystem_code or code == subsystem_code)))


def domain_counts(user: CurrentUser, view: DomainView) -> pd.DataFrame:
    """The cockpit's counts for this domain's subsystems only (cells and open items of the
    other domains not read): every county."""
    return light_counts(url(), user, view.as_of, view.window_days, subsystem_ids(view.domain))


def map_values(regions: pd.DataFrame) -> dict[str, dict]:
    """Per county (adcode): what the county map writes on it and shows in its tooltip."""
    from lib import charts
    from lib.lights import SYMBOLS

    values = {}
    for _, r in regions.iterrows():
        values[r["adcode"]] = {
            "grade": r["grade"], "grade_label": charts.GRADE_LABELS[r["grade"]],
            "symbol": SYMBOLS[r["grade"]], "map_label": f"{r['region']} {SYMBOLS[r['grade']]}",
            "total": int(r["total"]), "open": int(r["open"]), "red": int(r["red"]),
            "yellow": int(r["yellow"]),
            "red_rate_text": f"{r['red_rate']:.1%}" if r["total"] else "—",
        }
    return values


UNIT_ROWS_AUTO = 9  # up to this many units the table is as tall as its rows, not the map


def unit_table_height(rows: int, beside: int = 380) -> int | str:
    """The lights-by-unit table's height: as tall as the map beside it when it has many rows,
    as tall as its rows when few (a clerk's one unit drew a column of empty grid)."""
    return beside if rows > UNIT_ROWS_AUTO else "auto"


def domain_overview(user: CurrentUser, view: DomainView) -> pd.DataFrame:
    """The frame every domain page opens with: KPIs per subsystem, the county map lit by this
    domain (a click picks the county), and the lights by unit. Returns the counts in view
    (the county's, when one is picked) for the page's own panels."""
    from lib import charts, geo
    from lib.lights import SYMBOLS

    cat = catalog_frames(url())
    all_counts = domain_counts(user, view)
    counts = all_counts if view.region_id is None else \
        all_counts[all_counts["region_id"] == view.region_id]
    subs = cat["subsystems"].merge(cat["domains"], on="domain_id")
    subs = subs[subs["domain_code"] == view.domain]
    per_sub = counts.groupby("subsystem_id")[queries.COUNT_COLUMNS].sum()
    cols = st.columns(max(len(subs), 1))
    for col, (_, sub) in zip(cols, subs.iterrows(), strict=False):
        k = per_sub.loc[sub["subsystem_id"]] if sub["subsystem_id"] in per_sub.index else None
        with col.container(border=True):
            st.markdown(f"**{sub['subsystem']}**")
            if k is None or int(k["total"]) == 0:
                st.caption("暂无事项")
                continue
            st.metric("在办", f"{int(k['open']):,}")
            # Red counts the items closed late in the window too: say how many are still open,
            # or a red count above the open one reads as a mistake.
            st.markdown(f"{SYMBOLS['red']} 红牌 **{int(k['red']):,}**  \n"
                        f"其中在办逾期 {int(k['open_red']):,}  \n"
                        f"{SYMBOLS['yellow']} 黄牌 **{int(k['yellow']):,}**",
                        help="红牌：逾期未办结及超期办结的事项；黄牌：在办、剩余时间不足总时限 20% 的事项")
            closed = int(k["closed"])
            st.caption(f"按时办结率 {int(k['on_time']) / closed:.1%}" if closed else "按时办结率 —")
    st.caption(source_caption(view.as_of))
    left, right = st.columns([3, 2])
    map_key = f"{view.domain}_map"

    def pick() -> None:
        event = st.session_state.get(map_key)
        picked = (event or {}).get("selection", {}).get("county") or []
        counties = cat["counties"]
        name = "全市"
        if picked:
            match = counties[counties["adcode"] == picked[0].get("adcode")]
            if not match.empty:
                name = match.iloc[0]["region"]
        st.session_state[f"{view.domain}_region"] = name

    with left:
        st.markdown("**区县红黄绿灯**（本领域）")
        regions = queries.region_summary(all_counts, cat)
        features = geo.merge(geo.county_features(), map_values(regions))
        chart(charts.county_map(features, selected=view.adcode, height=380), key=map_key,
              on_select=pick, selection_mode="county")
        st.caption(f"灯色按红牌占比评定：{queries.AreaThresholds().describe()}。■红 ▲黄 ●绿 ○灰。")
    with right:
        st.markdown("**各单位灯色**" + ("" if view.region_id is None else f"（{view.region_name}）"))
        by_unit = queries.unit_lights(counts, cat)
        if by_unit.empty:
            st.caption("所选范围内没有本领域的事项。")
        else:
            st.dataframe(by_unit.rename(columns={
                "grade_text": "灯色", "unit": "单位", "total": "在监察", "open": "在办",
                "red": "红牌", "yellow": "黄牌", "on_time_rate_text": "按时办结率"})[
                ["灯色", "单位", "在监察", "在办", "红牌", "黄牌", "按时办结率"]],
                hide_index=True, width="stretch", height=unit_table_height(len(by_unit)))
    return counts


FLAG_STATUS_ORDER = {"open": 0, "confirmed": 1, "dismissed": 2, "withdrawn": 3}


@view_cache(ttl=120, show_spinner="正在运行规则…")
def domain_findings(url_: str, domain: str, as_of: datetime) -> tuple[list, list[str]]:
    """Every rule of the domain evaluated as of the moment (verdicts and timing), and the
    warnings about rules firing on an implausible share."""
    from lib import flags

    with read() as s:
        ev = flags.evaluate(s, domain=domain, as_of=as_of)
    return ev.records, ev.warnings()


@st.cache_data(ttl=120, show_spinner=False)
def domain_flags(url_: str, user: CurrentUser, domain: str, as_of: datetime) -> list:
    """The domain's persisted flags (with their decisions) that the user may see."""
    from lib import flags

    with read() as s:
        return flags.listing(s, user, domain=domain, as_of=as_of)


def flags_frame(views) -> pd.DataFrame:
    """Persisted flags as a table: the light in words, the rule, the subject, the money."""
    from lib.lights import badge

    return pd.DataFrame([{
        "灯色": badge(v.light), "规则": f"{v.code} {v.rule}", "对象": v.subject, "责任单位": v.unit,
        "涉及金额（元）": None if v.amount is None else round(float(v.amount), 2), "发生时间": fmt_time(v.at),
        "状态": v.status_label, "原因": v.reason,
    } for v in views])


def flag_why(record) -> None:
    """"Why is this flagged?": the rule's definition and source, the inputs it read and the
    thresholds it used (a FlagRecord or a FlagView)."""
    from lib import flags
    from lib.lights import badge

    rule = flags.RULES.get(record.code)
    st.markdown(f"**{badge(record.light)}** · 规则 `{record.code}`"
                + (f"（{rule.name}）" if rule else "") + f" · {esc(record.reason)}")
    if rule:
        st.caption(f"规则定义与出处：{rule.definition_with(record.thresholds)}")
    left, right = st.columns(2)
    with left:
        st.markdown("**判定所用数据**")
        # (a timing rule's inputs are the light engine's: named in the screen's words)
        st.table(pd.DataFrame([{"项目": INPUT_NAMES.get(k, k), "值": str(v)}
                               for k, v in record.inputs.items()])
                 if record.inputs else pd.DataFrame([{"项目": "—", "值": "—"}]))
    with right:
        st.markdown("**所用阈值**")
        labels = rule.labels if rule else {}
        if record.thresholds:
            st.table(pd.DataFrame([{"阈值": labels.get(k, k),
                                    "值": rule.value_text(k, v) if rule else str(v)}
                                   for k, v in record.thresholds.items()]))
        else:
            st.caption("按办理期限亮灯，不设可调阈值（转黄比例见左侧数据）。" if rule and rule.timing
                       else "该规则不设可调阈值：判定依据见左侧数据和上方定义。")
    if record.amount is not None:
        st.caption(f"涉及金额：{record.amount:,.2f} 元")


def flag_decision_form(user: CurrentUser, view) -> None:
    """Inspectors conclude on an open flag: confirmed (with the amount recovered) or dismissed
    (with the reason). A dismissed flag's card leaves the scores like a cancelled one. Saved,
    the page runs again (the counts and the lists show the conclusion) and says so."""
    from lib import audit, flags

    if view.stands == "cancelled" and view.status == "open":
        st.caption("该发现的红黄牌已经申诉撤销，不计入考核，无需核查。")
        return
    if not access.can(user, "review_flags") or view.status != "open":
        if view.status != "open":
            names = access.can(user, "view_staff_names")
            note = view.decision_note and (esc(view.decision_note) if names else audit.WITHHELD)
            st.caption(f"核查结论：{flags.STATUS[view.status]}"
                       + (f"（{esc(access.actor_for(user, view.decided_by))}）" if view.decided_by else "")
                       + (f"；{note}" if note else "")
                       + (f"；追回 {view.recovered:,.2f} 元" if view.recovered else "")
                       + ("；红黄牌其后经申诉撤销" if view.stands == "cancelled" else ""))
        return
    with st.form(f"flag_decide_{view.id}"):
        note = st.text_area("核查意见（排除时必填）", max_chars=1000, key=f"flag_note_{view.id}")
        at_stake = f"；该条发现涉及金额 {view.amount:,.2f} 元" if view.amount is not None else ""
        recovered = st.text_input(f"追回金额（元，属实时选填{at_stake}）", max_chars=20,
                                  key=f"flag_rec_{view.id}", placeholder="如 1200.50")
        beyond_ok = st.checkbox("追回金额超过涉及金额，已核对", key=f"flag_beyond_{view.id}",
                                help="部分规则的涉及金额是超出标准或均值的部分；整笔追回时追回金额可大于涉及金额") \
            if view.amount else False
        a, b = st.columns(2)
        confirm = a.form_submit_button("核查属实", type="primary")
        dismiss = b.form_submit_button("排除（撤销红黄牌）")
        if confirm or dismiss:
            try:
                write(lambda s: flags.decide(s, user, view.id, confirm=bool(confirm), note=note,
                                             recovered=recovered, beyond_ok=beyond_ok))
            except (flags.FlagError, access.PermissionDenied) as exc:
                st.error(f"未保存：{exc}")
            else:
                clear_data_caches()
                flash(f"已记录核查结论：{view.code} {esc(view.rule)} · {esc(view.subject)} "
                      + ("核查排除，该红黄牌已撤销，不计入考核。" if dismiss else "核查属实。"))
                st.rerun()


_FLASH = "_flash"


def flash(message: str) -> None:
    """A message for the next run of the page (a write's result, shown after the rerun that
    brings its effect on screen)."""
    st.session_state[_FLASH] = message


_EXACT_NOW = "_exact_now"


def show_flash() -> None:
    """The message `flash` kept, as a notice in the corner (seen wherever the page is scrolled
    to: the form that wrote is usually far down) that stays until closed. The run that shows it
    reads as of this very moment, not the minute's start (`as_of_for`), so what was just
    written is on screen."""
    message = st.session_state.pop(_FLASH, None)
    st.session_state.pop(_EXACT_NOW, None)
    if message:
        st.session_state[_EXACT_NOW] = now_utc()
        st.toast(message, icon=":material/check_circle:", duration="infinite")


# -- tables with their exports ------------------------------------------------------------------

def _cells(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    header = [str(c) for c in df.columns]
    rows = [["" if (v is None or (isinstance(v, float) and v != v)) else v for v in row]
            for row in df.itertuples(index=False, name=None)]
    return header, rows


def table_csv(df: pd.DataFrame) -> bytes:
    """The table as CSV (UTF-8 with a BOM for spreadsheets), formula cells neutralized."""
    import io

    from lib import exchange

    buf = io.StringIO()
    header, rows = _cells(df)
    exchange.write_csv(header, rows, buf)
    return buf.getvalue().encode("utf-8-sig")


def table_xlsx(df: pd.DataFrame, sheet: str = "数据") -> bytes:
    from lib import exchange

    header, rows = _cells(df)
    return exchange.xlsx_bytes(header, rows, sheet=sheet)


def money_columns(df: pd.DataFrame) -> dict:
    """Column settings for the amounts of money in a table: 888,592.33, not 888592.33."""
    return {c: st.column_config.NumberColumn(format="accounting") for c in df.columns
            if isinstance(c, str) and ("（元）" in c or "金额" in c)
            and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}


def file_uploader(label: str, *, types: list[str], key: str):
    """st.file_uploader with its own words in Chinese. Streamlit draws "Upload" and
    "20MB per file • CSV" itself and lets no caller change them (streamlit/streamlit#13500):
    the uploader's text is hidden and the Chinese put in its place by a style scoped to this
    uploader's key (the element's class st-key-<key>)."""
    size = st.get_option("server.maxUploadSize")
    hint = f"或将文件拖到此处 · 单个文件不超过 {size}MB · 格式：{'、'.join(t.upper() for t in types)}"
    scope = f".st-key-{key} [data-testid='stFileUploaderDropzone']"
    st.html(f"""<style>
{scope} button [data-testid='stMarkdownContainer'] p {{ font-size: 0; }}
{scope} button [data-testid='stMarkdownContainer'] p::after {{ content: "选择文件"; font-size: 0.875rem; }}
{scope} [data-testid='stFileUploaderDropzoneInstructions'] span {{ font-size: 0; }}
{scope} [data-testid='stFileUploaderDropzoneInstructions'] span::after {{
  content: "{hint}"; font-size: 0.875rem; }}
</style>""")
    return st.file_uploader(label, type=types, key=key)


def table(df: pd.DataFrame, name: str, *, key: str, height: int | str = "auto",
          column_config: dict | None = None) -> None:
    """A table with its CSV and Excel downloads: exactly what it shows, formula cells
    neutralized, each file built only when its button is clicked. Amounts of money (a numeric
    column named …（元） or …金额…) are shown with thousands separators and two decimals."""
    st.dataframe(df, hide_index=True, width="stretch", height=height,
                 column_config=money_columns(df) | (column_config or {}))
    if df.empty:
        return
    # Side by side, each as wide as its words (fixed-ratio columns squeezed them to one
    # character in a narrow column of the page).
    with st.container(horizontal=True, gap="small"):
        st.download_button("导出 CSV", lambda: table_csv(df), file_name=f"{name}.csv",
                           mime="text/csv", key=f"{key}_csv", on_click="ignore")
        st.download_button("导出 Excel", lambda: table_xlsx(df, name[:31]),
                           file_name=f"{name}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}_xlsx", on_click="ignore")
