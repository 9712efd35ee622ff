"""PostgreSQL: the rollups' dirty markers of one written item in one statement.

`rollup_mark()` (migrations 0018, 0019, 0025) inserted each marker of a written row on its own:
an item inserted wrote its cell's marker ('c' or 'o', unit, day) and its receipt's ('s', unit,
day) with two `INSERT … ON CONFLICT DO NOTHING`, an update up to four. Each statement run from
PL/pgSQL costs its own executor start; at ten million items an insert cost 122 µs more with the
triggers than without (`python -m bench.pg_curve`; the aim is 100). The same markers are now
written by one statement per write, its rows from a VALUES list (a row whose kind is NULL, an
item with neither completion nor deadline, left out). The markers are the same, so nothing kept
changes. SQLite's triggers are statements already: unchanged.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

FAR = 253402300799  # 9999-12-31 23:59:59 UTC: "not completed", after every month-end (0025)
SAME_PG = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in (
    "unit_id", "subsystem_id", "region_id", "received_at", "deadline", "card_cancelled",
    "verdict"))  # the row's snapshot columns but the completion as they were (0025)
FIRST_DONE = f"LEAST(COALESCE(OLD.completed_at, {FAR}), COALESCE(NEW.completed_at, {FAR}))"


def _day(value: str) -> str:
    """The local day (China Standard Time, UTC+8) of an epoch-second value."""
    return f"({value} + 28800) / 86400"


def _cell(row: str) -> str:
    """The row's cell marker: its completion's day ('c'), else its deadline's ('o'), else
    none (kind NULL)."""
    return (f"(CASE WHEN {row}.completed_at IS NOT NULL THEN 'c' WHEN {row}.deadline IS NOT NULL "
            f"THEN 'o' END, {row}.unit_id, {_day(f'COALESCE({row}.completed_at, {row}.deadline)')})")


def _receipt(row: str) -> str:
    return f"('s', {row}.unit_id, {_day(f'COALESCE({row}.received_at, 0)')})"


def _first_done() -> str:
    """An update of the completion alone: the month-ends from the earlier completion on (0025)."""
    return f"('s', NEW.unit_id, {_day(FIRST_DONE)})"


def _insert(*rows: str) -> str:
    return ("INSERT INTO rollup_dirty (kind, unit_id, day) SELECT k, u, d FROM (VALUES "
            + ", ".join(rows) + ") AS m (k, u, d) WHERE k IS NOT NULL ON CONFLICT DO NOTHING;")


FUNCTION_PG = (
    "CREATE OR REPLACE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP = 'INSERT' THEN {_insert(_cell('NEW'), _receipt('NEW'))} "
    f"ELSIF TG_OP = 'DELETE' THEN {_insert(_cell('OLD'), _receipt('OLD'))} "
    f"ELSIF {SAME_PG} THEN "
    f"{_insert(_cell('OLD'), _cell('NEW'), _first_done())} "
    f"ELSE {_insert(_cell('OLD'), _cell('NEW'), _receipt('OLD'), _receipt('NEW'))} "
    "END IF; RETURN NULL; END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION_PG)  # the triggers call it by name


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # 0025's function, as that migration wrote it.
        path = Path(__file__).with_name("0025_completion_markers.py")
        spec = importlib.util.spec_from_file_location("esup_migration_0025", path)
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)
        op.execute(before.function_pg(True))
