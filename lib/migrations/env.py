"""Alembic environment: runs against the engine handed over by `lib.db.migrate`."""

from alembic import context

import lib.domains  # noqa: F401 - the domains' models join Base.metadata
from lib.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` command line: fall back to DATABASE_URL
        from lib.db import get_engine

        engine = get_engine()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite changes a table by copying it and dropping the old one; with foreign keys
            # on, that drop would cascade into child tables and lose their rows. The pragma
            # only takes effect outside a transaction, so it goes straight to the driver (whose
            # own BEGIN is off, see lib.db) before the migration's transaction begins.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
            if sqlite:
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise RuntimeError(f"migration left broken foreign keys: {problems[:5]}")
        finally:
            if sqlite:
                connection.rollback()  # end whatever the check began
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


run_migrations_online()
