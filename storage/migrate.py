"""Schema migrations: the Alembic revisions in `storage/migrations`, applied under a lock.

Every process that opens the index calls `upgrade_schema`, so replicas starting together
race for it: the first to take the lock applies what is pending, the others wait, then find
the schema current. The lock lives in the migration's own transaction: an advisory
transaction lock on PostgreSQL (whose DDL is transactional, so a failed migration leaves
nothing behind), the write lock of `BEGIN IMMEDIATE` on SQLite.

A database made by `metadata.create_all`, before migrations existed, is stamped with the
initial revision and then upgraded like any other. Alembic is configured in code; no
alembic.ini is read.

Alembic is imported only when a migration is pending (or by the `db` commands): importing it
and reading the revision scripts took about a quarter of a second of every command's start.
A current schema is recognised by one query against HEAD_REVISION, which
tests/test_migrations.py keeps equal to the newest revision script.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("source_ingest.migrate")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest revision in MIGRATIONS_DIR: bump it with every new migration (a test checks).
HEAD_REVISION = "0007_sitemap_urls"
BASELINE_REVISION = "0001"
# The tables `metadata.create_all` made before migrations existed (revision 0001).
BASELINE_TABLES = frozenset({"counters", "articles", "signature_bands", "feeds", "entries",
                             "runs", "failures"})
# First key of the two-key PostgreSQL advisory lock ("SI" for source-ingest); the second is
# the schema's name, so deployments in separate schemas of one database do not wait on
# each other.
_ADVISORY_LOCK_NAMESPACE = 0x5349
_VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not change it


class SchemaError(Exception):
    """The database schema cannot be brought to the version this source-ingest needs."""


@dataclass(frozen=True)
class SchemaRevision:
    current: str | None  # None: no schema yet
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision as Alembic reads it from the revision scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade_schema(engine: Engine) -> SchemaRevision:
    """Apply pending migrations once, however many processes start at the same moment."""
    with engine.connect() as conn:
        # Without the lock first: a current schema (every start but the first) takes no
        # write lock, so `status` never waits behind a running service on SQLite.
        before = _stored_revision(conn)
        conn.rollback()
        if before == HEAD_REVISION:
            return SchemaRevision(current=HEAD_REVISION, head=HEAD_REVISION)
        from alembic import command

        head = head_revision()
        with _locked_transaction(conn):
            before = _current_revision(conn)
            if before == head:
                return SchemaRevision(current=head, head=head)
            _check_known(before)
            if before is None and _has_baseline_tables(conn):
                command.stamp(alembic_config(conn), BASELINE_REVISION)
                log.warning("existing schema adopted", extra={
                    "event": "schema_stamped", "revision": BASELINE_REVISION})
            command.upgrade(alembic_config(conn), "head")
            after = _current_revision(conn)
    log.info("schema upgraded", extra={"event": "schema_upgraded", "from_revision": before,
                                       "to_revision": after})
    return SchemaRevision(current=after, head=head)


def database_revision(database_url: str) -> SchemaRevision:
    """The schema revision of a database, read without changing anything."""
    head = head_revision()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        return SchemaRevision(current=None, head=head)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return SchemaRevision(current=_current_revision(conn), head=head)
    finally:
        engine.dispose()


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _stored_revision(conn: Connection) -> str | None:
    """The revision in Alembic's version table, read without Alembic; None when there is no
    table or not exactly one row (Alembic then looks again, and explains)."""
    if not inspect(conn).has_table(_VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except Exception as exc:  # alembic raises several kinds for an unknown revision
        raise SchemaError(
            f"the database schema is at revision {revision}, which this version of "
            f"source-ingest does not know (a newer version migrated it): upgrade "
            f"source-ingest") from exc


def _has_baseline_tables(conn: Connection) -> bool:
    present = BASELINE_TABLES & set(inspect(conn).get_table_names())
    if present and present != BASELINE_TABLES:
        raise SchemaError(
            f"the database has some source-ingest tables ({', '.join(sorted(present))}) but "
            f"not all, and no migration history: restore it or start from an empty database")
    return bool(present)


@contextmanager
def _locked_transaction(conn: Connection) -> Iterator[None]:
    """One transaction holding the database-wide migration lock; committed on success."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # pysqlite opens transactions itself only before DML; take over so that the DDL, the
        # version row and the write lock are all in one BEGIN IMMEDIATE transaction.
        driver = conn.connection.driver_connection
        previous = driver.isolation_level  # type: ignore[union-attr]
        driver.isolation_level = None  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            driver.isolation_level = previous  # type: ignore[union-attr]
        return
    try:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:namespace, "
                              "hashtext(coalesce(current_schema(), '')))"),
                         {"namespace": _ADVISORY_LOCK_NAMESPACE})
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise

