"""Shared fixtures: a database URL per test (SQLite file, or PostgreSQL when configured)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import postgres_schema_url

TEST_DATABASE_ENV = "SOURCE_INGEST_TEST_DATABASE_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    base = os.environ.get(TEST_DATABASE_ENV)
    if not base:
        pytest.skip(f"{TEST_DATABASE_ENV} not set: PostgreSQL variant skipped")
    yield from postgres_schema_url(base)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.sqlite3'}"
