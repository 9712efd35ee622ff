"""The current time, in one place (UTC, whole seconds)."""

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
