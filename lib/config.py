"""Settings read from the environment, with the embedded defaults of a demo install."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DEFAULT_SQLITE_PATH = DATA_DIR / "esupervision.db"

# All local times on screen and in time limits are China Standard Time.
TZ = ZoneInfo("Asia/Shanghai")

# Figures of the plan in the source document (not data: the plan itself).
PLANNED_SUBSYSTEMS = 42


def database_url() -> str:
    """`DATABASE_URL` selects the database; the default is a SQLite file in data/."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        # Accept the bare scheme Heroku-style hosts hand out; we drive PostgreSQL with psycopg 3.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def is_production() -> bool:
    return os.environ.get("APP_ENV", "").strip().lower() == "production"
