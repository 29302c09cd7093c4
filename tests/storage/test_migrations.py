"""Schema migrations: what a user sees when upgrading, starting replicas, or adopting an old
database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
    update,
)

from storage import schema
from storage.database import DatabaseError
from storage.index import open_index
from storage.migrate import (
    BASELINE_REVISION,
    HEAD_REVISION,
    alembic_config,
    database_revision,
    head_revision,
    upgrade_schema,
)
from tests.cli_runner import run_cli

ALEMBIC_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32)))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = create_engine(database_url)
    yield created
    created.dispose()


def _schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        # article_search differs by dialect (FTS5 on SQLite) and is not in the metadata.
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, _type, _parents: not (name or "").startswith(
                "article_search")})
        return list(compare_metadata(context, schema.metadata))


def test_head_revision_constant_names_the_newest_migration() -> None:
    # A current schema is recognised without Alembic by comparing with HEAD_REVISION: a new
    # migration whose revision is not copied there would never be applied to a database at
    # the previous head.
    assert head_revision() == HEAD_REVISION


def test_opening_a_current_index_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    open_index(url).close()
    code = ("import sys; from storage.index import open_index; "
            f"open_index({url!r}).close(); print(sorted(m for m in sys.modules "
            "if m == 'alembic' or m.startswith('alembic.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"


def test_upgrade_creates_exactly_the_schema_the_queries_use(database_url: str,
                                                            engine: Engine) -> None:
    open_index(database_url).close()
    assert _schema_differences(engine) == []
    assert database_revision(database_url).current == head_revision()


def _create_baseline_schema(engine: Engine) -> None:
    """What `metadata.create_all` made before migrations existed: revision 0001's tables,
    without Alembic's version table (today's metadata has the later revisions' changes)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))


def test_database_created_before_migrations_is_adopted_with_its_data(
        database_url: str, engine: Engine) -> None:
    _create_baseline_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(schema.counters).values(name="article_sequence", value=41))
    index = open_index(database_url)
    index.close()
    assert database_revision(database_url).current == head_revision()
    assert _schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(schema.counters.c.value)).scalar_one() == 41


def test_replicas_starting_together_apply_the_migrations_once(database_url: str,
                                                              engine: Engine) -> None:
    results: list[object] = []
    errors: list[BaseException] = []

    def start_replica() -> None:
        own = create_engine(database_url)
        try:
            results.append(upgrade_schema(own))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=start_replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert _schema_differences(engine) == []


def test_second_start_finds_the_schema_current(database_url: str, engine: Engine) -> None:
    open_index(database_url).close()
    with engine.begin() as conn:
        conn.execute(insert(schema.counters).values(name="other", value=7))
    open_index(database_url).close()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.counters)).scalar_one() == 2


def test_database_migrated_by_a_newer_version_is_refused_with_advice(
        database_url: str, engine: Engine) -> None:
    open_index(database_url).close()
    with engine.begin() as conn:
        conn.execute(update(ALEMBIC_VERSION).values(version_num="9999"))
    with pytest.raises(DatabaseError, match="upgrade source-ingest"):
        open_index(database_url)


def test_half_created_database_without_history_is_refused(database_url: str,
                                                          engine: Engine) -> None:
    schema.articles.create(engine)
    with pytest.raises(DatabaseError, match="some source-ingest tables"):
        open_index(database_url)


def test_db_commands_show_and_apply_pending_migrations(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase_url = "sqlite:///{tmp_path / "index.sqlite3"}"\n'
                      f'corpus_dir = "{tmp_path / "corpus"}"\n', encoding="utf-8")
    before = run_cli("--config", str(config), "db", "current", cwd=tmp_path)
    assert before.returncode == 1 and "db upgrade" in before.stdout
    upgraded = run_cli("--config", str(config), "db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"revision {head_revision()}" in upgraded.stdout
    after = run_cli("--config", str(config), "db", "current", cwd=tmp_path)
    assert after.returncode == 0 and "up to date" in after.stdout
