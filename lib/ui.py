"""The one module that adapts the library to Streamlit: caching, database readiness, page frame.

Cached functions take every input that changes their answer (database URL, as-of time, window,
filters) and never read session state.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time as time_module
from datetime import date, datetime, time

import pandas as pd
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from lib import access, audit, auth, catalog, config, db, demo, privacy, queries
from lib.access import CurrentUser
from lib.clock import now_utc
from lib.lights import badge, fmt_time

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


def engine():
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
                with db.session_scope(db.get_engine(url)) as s:
                    notices.run_if_due(s)
            except Exception:  # noqa: BLE001 - keep sweeping; the next minute retries
                logging.getLogger(__name__).exception("supervision sweep failed")
            time_module.sleep(60)

    thread = threading.Thread(target=loop, name="esup-sweeper", daemon=True)
    thread.start()
    return thread


def url() -> str:
    return config.database_url()


def session():
    """A transaction on the app's database (commit on success, roll back on error)."""
    return db.session_scope(engine())


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
    with session() as s:
        creds = auth.credentials(s)
    return stauth.Authenticate(creds, COOKIE_NAME, auth.cookie_key(_secret_cookie_key()),
                               COOKIE_DAYS, auto_hash=False, login_sleep_time=0)


def _on_logout(info: dict) -> None:
    if info.get("username"):
        with session() as s:
            audit.record(s, actor=info["username"], action="auth.logout", entity="user",
                         entity_id=info["username"])


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
        st.caption("群众反映问题、查询办理进度，无需登录：")
        for p in access.public_pages():
            st.page_link(p.path, label=p.title, icon=p.icon)
        if submitted:
            with session() as s:
                result = auth.authenticate(s, username, password)
            if result.user is None:
                st.error(result.message)
            else:
                user = result.user
    if user is not None:
        box.empty()
        st.session_state.update({"authentication_status": True, "username": user.username,
                                 "name": user.display_name, "roles": sorted(user.roles),
                                 "email": None, "logout": None})
        authenticator.cookie_controller.set_cookie()
    return user


def _restore(authenticator: stauth.Authenticate) -> CurrentUser | None:
    """The signed-in user of this session, or from the login cookie; None if there is none."""
    try:
        authenticator.login(location="unrendered")
    except LoginError:  # the cookie names a user who is no longer active
        authenticator.logout(location="unrendered")
        return None
    if not st.session_state.get("authentication_status"):
        return None
    with session() as s:
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
            st.stop()
    with st.sidebar:
        st.markdown(f"**{user.display_name}**  \n{user.role_names}"
                    + (f" · {user.unit_name}" if user.unit_name else ""))
        authenticator.logout("退出登录", location="sidebar", key="sign_out", callback=_on_logout)
    if not st.session_state.get("authentication_status"):
        _login_form(authenticator, notice="您已安全退出。")
        st.stop()
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


def plain(text: str | None) -> None:
    """User-written text shown as text (see `esc`), line breaks kept."""
    st.markdown(esc(text).replace("\n", "  \n") or "—")


def client_address() -> str | None:
    """The visitor's address, for rate-limiting public submissions (never stored in clear)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - not available outside a browser session
        return None
    return ip if isinstance(ip, str) and ip else None


def clear_data_caches() -> None:
    """After a write: drop every cached query result."""
    st.cache_data.clear()


def as_of_for(day: date) -> datetime:
    """Today: now (to the minute, so caches hold for a minute). A past day: its last second."""
    local_today = now_utc().astimezone(config.TZ).date()
    if day >= local_today:
        now = now_utc()
        return now.replace(second=0)
    return datetime.combine(day, time(23, 59, 59), tzinfo=config.TZ)


WINDOWS = {"近30天": 30, "近90天": 90, "近一年": 365, "全部": None}


@st.cache_data(ttl=600, show_spinner=False)
def catalog_frames(url: str) -> dict[str, pd.DataFrame]:
    with session() as s:
        return queries.catalog_frames(s)


@st.cache_data(ttl=300, show_spinner="正在统计…")
def light_counts(url: str, user: CurrentUser, as_of: datetime,
                 window_days: int | None) -> pd.DataFrame:
    with session() as s:
        return queries.light_counts(s, user=user, as_of=as_of, window_days=window_days)


@st.cache_data(ttl=300, show_spinner=False)
def source_figures(url: str, as_of: datetime) -> queries.SourceFigures:
    with session() as s:
        return queries.source_figures(s, as_of=as_of)


@st.cache_data(ttl=300, show_spinner=False)
def latest_red(url: str, user: CurrentUser, as_of: datetime, region_id: int | None,
               limit: int = 10):
    with session() as s:
        return queries.latest_red(s, user=user, as_of=as_of, region_id=region_id, limit=limit)


@st.cache_data(ttl=300, show_spinner="正在查询…")
def list_items(url: str, user: CurrentUser, as_of: datetime, window_days: int | None,
               light: str | None, domain_code: str | None, subsystem_code: str | None,
               region_id: int | None, unit_id: int | None, external_id: str | None,
               limit: int = 500):
    with session() as s:
        return queries.list_items(s, user=user, as_of=as_of, window_days=window_days, light=light,
                                  domain_code=domain_code, subsystem_code=subsystem_code,
                                  region_id=region_id, unit_id=unit_id, external_id=external_id,
                                  limit=limit)


@st.cache_data(ttl=300, show_spinner=False)
def open311_json(url: str) -> bytes:
    import json

    from lib import submissions

    with session() as s:
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


def chart(chart, **kwargs):
    """Draw an Altair chart. The spec is built without Altair's JSON-schema validation, which
    costs more than the rest of the page; the charts are fixed code, checked by the tests."""
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    return st.vega_lite_chart(spec, theme=None, width="stretch", **kwargs)


@st.cache_data(ttl=300, show_spinner=False)
def project_thresholds(url: str) -> tuple[int, int]:
    from lib import projects

    with session() as s:
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


def as_item_row(item, subsystem, unit_name: str, lt) -> queries.ItemRow:
    """An item with its light, in the shape `explain` and `items_frame` take."""
    return queries.ItemRow(item.id, item.external_id, item.title, unit_name, subsystem.name, "",
                           None, item.received_at, item.deadline, item.completed_at, lt.light,
                           lt.reason, lt.rule, lt.inputs)


def explain(row: queries.ItemRow) -> None:
    """'Why is this red?': the rule, its inputs and thresholds."""
    names = {
        "as_of": "查看时刻", "received_at": "受理时间", "deadline": "办理期限",
        "completed_at": "办结时间", "yellow_pct": "黄牌阈值（剩余时限占比 %）",
        "allowed": "总时限", "time_left": "剩余时间", "yellow_threshold": "黄牌线（剩余）",
        "late_by": "超期时长", "overdue_by": "逾期时长",
    }
    st.markdown(f"**{badge(row.light)}** · 规则 `{row.rule}` · {row.reason}")
    st.table(pd.DataFrame([{"项目": names.get(k, k), "值": str(v)} for k, v in row.inputs.items()]))


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

    with session() as s:
        return scoring.compute(s, period_code, level, as_of=as_of)


@st.cache_data(ttl=60, show_spinner=False)
def published_snapshots(url: str, level: str | None = "unit") -> list[dict]:
    """Published snapshots (metadata, rows and scheme) as plain dicts, newest first."""
    import json

    from lib import scoring

    with session() as s:
        return [{"period": x.period, "level": x.level, "as_of": x.as_of,
                 "published_at": x.published_at, "published_by": x.published_by,
                 "hash": x.hash, "valid": scoring.verify_snapshot(x),
                 "rows": json.loads(x.rows), "scheme": json.loads(x.scheme)}
                for x in scoring.published(s, level)]


@st.cache_data(ttl=300, show_spinner=False)
def items_behind(url: str, user: CurrentUser, period_code: str, level: str, code: str,
                 as_of: datetime) -> pd.DataFrame:
    from lib import scoring

    with session() as s:
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
