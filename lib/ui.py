"""The one module that adapts the library to Streamlit: caching, database readiness, page frame.

Cached functions take every input that changes their answer (database URL, as-of time, window,
filters) and never read session state.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from lib import catalog, config, db, demo, queries
from lib.items import now_utc
from lib.lights import LABELS, badge, fmt_time


@st.cache_resource(show_spinner="正在准备数据库（首次运行将创建数据库并载入演示数据，约需 10 秒）…")
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
    return _ready_engine(config.database_url())


def session():
    """A transaction on the app's database (commit on success, roll back on error)."""
    return db.session_scope(engine())


def page(title: str, icon: str = "🚦") -> None:
    st.set_page_config(page_title=f"{title} · 电子监察综合平台", page_icon=icon, layout="wide")


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
def light_counts(url: str, as_of: datetime, window_days: int | None,
                 unit_id: int | None = None) -> pd.DataFrame:
    with session() as s:
        return queries.light_counts(s, as_of=as_of, window_days=window_days, unit_id=unit_id)


@st.cache_data(ttl=300, show_spinner=False)
def source_figures(url: str, as_of: datetime) -> queries.SourceFigures:
    with session() as s:
        return queries.source_figures(s, as_of=as_of)


@st.cache_data(ttl=300, show_spinner=False)
def latest_red(url: str, as_of: datetime, region_id: int | None, limit: int = 10):
    with session() as s:
        return queries.latest_red(s, as_of=as_of, region_id=region_id, limit=limit)


def chart(chart, **kwargs):
    """Draw an Altair chart. The spec is built without Altair's JSON-schema validation, which
    costs more than the rest of the page; the charts are fixed code, checked by the tests."""
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    return st.vega_lite_chart(spec, theme=None, width="stretch", **kwargs)


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


def light_words() -> str:
    return "、".join(f"{v}" for v in LABELS.values())


def today_local() -> date:
    return now_utc().astimezone(config.TZ).date()


def default_since(days: int) -> date:
    return today_local() - timedelta(days=days)
