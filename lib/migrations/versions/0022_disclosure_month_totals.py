"""The city's disclosure totals per month, kept by triggers (`village_disclosure_months`).

The cockpit shows how many items the villages have published and how often they were read, up
to the as-of month: a sum over every village's every month (72,000 rows in the demo, 9 ms of the
cockpit's query set at ten million items). Triggers on `village_disclosures` keep one row per
month with the sums, in the writing transaction (an insert adds, a delete subtracts, an update
does both), so the cockpit reads a few dozen rows. The upgrade fills the table from the rows
there; `python -m lib rollups verify` compares it with the sums and `rebuild` recomputes it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ITEMS = "{r}.party_items + {r}.village_items + {r}.finance_items"


def _add_sqlite(r: str) -> str:
    return ("INSERT OR IGNORE INTO village_disclosure_months (month, items, views) "
            f"VALUES ({r}.month, 0, 0); "
            f"UPDATE village_disclosure_months SET items = items + {ITEMS.format(r=r)}, "
            f"views = views + {r}.views WHERE month = {r}.month;")


def _subtract_sqlite(r: str) -> str:
    return (f"UPDATE village_disclosure_months SET items = items - ({ITEMS.format(r=r)}), "
            f"views = views - {r}.views WHERE month = {r}.month;")


CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in
                      ("month", "party_items", "village_items", "finance_items", "views"))
CHANGED_PG = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in
                         ("month", "party_items", "village_items", "finance_items", "views"))

TRIGGERS_SQLITE = [
    "CREATE TRIGGER trg_vd_months_ins AFTER INSERT ON village_disclosures "
    f"BEGIN {_add_sqlite('NEW')} END",
    "CREATE TRIGGER trg_vd_months_del AFTER DELETE ON village_disclosures "
    f"BEGIN {_subtract_sqlite('OLD')} END",
    f"CREATE TRIGGER trg_vd_months_upd AFTER UPDATE ON village_disclosures WHEN {CHANGED} "
    f"BEGIN {_subtract_sqlite('OLD')} {_add_sqlite('NEW')} END",
]

TRIGGERS_PG = [
    "CREATE FUNCTION village_disclosure_month_total() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP IN ('UPDATE', 'DELETE') THEN "
    f"UPDATE village_disclosure_months SET items = items - ({ITEMS.format(r='OLD')}), "
    "views = views - OLD.views WHERE month = OLD.month; "
    "END IF; "
    "IF TG_OP IN ('UPDATE', 'INSERT') THEN "
    "INSERT INTO village_disclosure_months AS t (month, items, views) "
    f"VALUES (NEW.month, {ITEMS.format(r='NEW')}, NEW.views) "
    "ON CONFLICT (month) DO UPDATE SET items = t.items + EXCLUDED.items, "
    "views = t.views + EXCLUDED.views; "
    "END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER trg_vd_months AFTER INSERT OR DELETE ON village_disclosures "
    "FOR EACH ROW EXECUTE FUNCTION village_disclosure_month_total()",
    "CREATE TRIGGER trg_vd_months_upd AFTER UPDATE ON village_disclosures "
    f"FOR EACH ROW WHEN ({CHANGED_PG}) EXECUTE FUNCTION village_disclosure_month_total()",
]

FILL = ("INSERT INTO village_disclosure_months (month, items, views) "
        f"SELECT month, SUM({ITEMS.format(r='village_disclosures')}), SUM(views) "
        "FROM village_disclosures GROUP BY month")


def upgrade() -> None:
    op.create_table(
        "village_disclosure_months",
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # no write may come between the fill and the triggers
        op.execute("LOCK TABLE village_disclosures IN SHARE ROW EXCLUSIVE MODE")
    op.execute(FILL)
    for ddl in TRIGGERS_PG if bind.dialect.name == "postgresql" else TRIGGERS_SQLITE:
        op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_vd_months_upd ON village_disclosures")
        op.execute("DROP TRIGGER trg_vd_months ON village_disclosures")
        op.execute("DROP FUNCTION village_disclosure_month_total()")
    else:
        for name in ("trg_vd_months_ins", "trg_vd_months_del", "trg_vd_months_upd"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("village_disclosure_months")
