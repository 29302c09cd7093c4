"""A fresh PostgreSQL schema per test or measurement, dropped afterwards (tests and bench/)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator


def postgres_schema_url(base_url: str, prefix: str = "t_") -> Iterator[str]:
    """Yield `base_url` pointed at a new schema (`search_path`); drop it when resumed."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"{prefix}{secrets.token_hex(6)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
