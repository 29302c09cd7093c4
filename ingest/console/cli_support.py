"""What every `source-ingest` command shares: exit codes, the settings, the index."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click

from config.loading import load_settings, resolve_config_path
from config.settings import Settings
from config.sources import ConfigError
from storage.corpus_guard import CorpusGuardError, check_corpus_matches_index, probe_corpus_dir
from storage.database import DatabaseError
from storage.index import CorpusIndex, open_index

EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_PROBLEMS = 1
EXIT_INTERRUPTED = 130  # a fetch stopped by SIGINT/SIGTERM before it finished (128 + 2)


def fail(message: str, code: int) -> None:
    click.echo(f"source-ingest: {message}", err=True)
    sys.exit(code)


def cli_settings(ctx: click.Context) -> Settings:
    try:
        path = resolve_config_path(ctx.obj["config"], os.environ)
        return load_settings(path, os.environ)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
        raise AssertionError from exc  # unreachable: _fail exits


def cli_index(settings: Settings) -> CorpusIndex:
    try:
        return open_index(settings.storage.database_url)
    except DatabaseError as exc:
        fail(f"database error: {exc}", EXIT_DATABASE)
        raise AssertionError from exc


@contextlib.contextmanager
def opened_index(settings: Settings) -> Iterator[CorpusIndex]:
    """The index for one command, closed when the command is done with it. A database error
    on the way ends the command with its message and exit code 3, never a traceback."""
    index = cli_index(settings)
    try:
        yield index
    except DatabaseError as exc:
        fail(f"database error: {exc}", EXIT_DATABASE)
    finally:
        index.close()


def check_corpus_before_writing(settings: Settings, index: CorpusIndex, writer: str) -> None:
    """Exit 2 with the reason before the first article when the corpus folder cannot be
    written or does not belong to this index (it would be written twice)."""
    try:
        probe_corpus_dir(settings.storage.corpus_dir, writer)
        check_corpus_matches_index(index, settings.storage.corpus_dir)
    except CorpusGuardError as exc:
        index.close()
        fail(str(exc), EXIT_CONFIG)
    except DatabaseError as exc:
        index.close()
        fail(f"database error: {exc}", EXIT_DATABASE)
