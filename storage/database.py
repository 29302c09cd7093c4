"""The index database: the engine, its transactions, and the errors every table module shares.

Every write is a short transaction; concurrent processes (a manual fetch beside the service, or
replicas on one PostgreSQL) coordinate through conditional updates and unique constraints, never
through in-process state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

# Most values in one IN (...) list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500


class DatabaseError(Exception):
    """The index database cannot be reached or used."""


class UnstorableValue(ValueError):
    """A value the database refused (a NUL on PostgreSQL, a lone surrogate): a fault of one
    record, not of the database, so it fails that record alone and never the run."""



def in_chunks(values: Sequence[str]) -> Iterator[list[str]]:
    """`values` in lists short enough for one IN (...) each."""
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start:start + _IN_CHUNK])


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def redact_database_url(url: str) -> str:
    """The URL with any password replaced, safe to log or show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://***"



def one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def missing_driver_error(database_url: str, exc: ModuleNotFoundError) -> DatabaseError:
    """What to install when the URL's driver is missing: the README's plain install has no
    PostgreSQL driver, and a bare ModuleNotFoundError traceback does not say so."""
    backend = database_url.split(":", 1)[0]
    hint = "pip install -e '.[postgres]'" if backend.startswith("postgresql") \
        else f"install the Python module {exc.name}"
    return DatabaseError(f"{redact_database_url(database_url)}: the database driver "
                         f"{exc.name!r} is not installed; {hint}")


def create_database_engine(database_url: str) -> Engine:
    try:
        return _create_engine(database_url)
    except ModuleNotFoundError as exc:
        raise missing_driver_error(database_url, exc) from exc


def _create_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `status` read while a run writes; the busy timeout lets a manual fetch and
    # the service share the file instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()



class Database:
    """An engine and its transactions; the table modules add what each table stores."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DataError, UnicodeEncodeError) as exc:
            raise UnstorableValue(f"value refused by the database: {one_line(exc)}") from exc
        except SQLAlchemyError as exc:
            raise DatabaseError(one_line(exc)) from exc

    def ping(self) -> None:
        with self._transaction() as conn:
            conn.execute(select(1))
