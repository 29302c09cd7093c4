"""Alembic environment, configured in code: no alembic.ini at runtime.

`storage.migrate` passes an open connection (inside its locked transaction) in
`config.attributes["connection"]`; an author running the `alembic` command instead sets
`sqlalchemy.url`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from storage.schema import metadata


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection: run `source-ingest db upgrade`, or set "
                           "sqlalchemy.url for the alembic command")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as own:
        _run_on(own)


_run()
