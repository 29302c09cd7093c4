"""`source-ingest export`: one record per stored article, for a downstream job that follows the
corpus (`--after` the last sequence it saw)."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ingest.console.cli_support import (
    EXIT_CONFIG,
    EXIT_PROBLEMS,
    cli_settings,
    fail,
    opened_index,
)
from ingest.console.entry_listing import ListingError, parse_since
from storage.articles import ArticleRow
from storage.corpus import CorpusFormatError, read_corpus_file

FIELDS = ("sequence", "file_name", "content_hash", "url", "feed", "title", "published",
          "language", "fetched_at", "text")


def export_record(row: ArticleRow, corpus_dir: Path) -> dict[str, Any]:
    document = read_corpus_file(corpus_dir / row.file_name)
    return {"sequence": row.sequence, "file_name": row.file_name,
            "content_hash": row.content_hash, "url": row.url or None, "feed": row.feed,
            "title": row.title, "published": row.published.isoformat() if row.published else None,
            "language": row.language,
            "fetched_at": row.fetched_at.isoformat(timespec="seconds"), "text": document.text}


@click.command()
@click.option("--format", "output_format", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--after", default=-1, type=click.IntRange(-1), metavar="N",
              help="Only articles with a sequence above N (the last one a previous export "
                   "gave): resume where it stopped.")
@click.option("--since", default=None, metavar="DATE",
              help="Only articles fetched since DATE (YYYY-MM-DD, UTC) or an ISO time.")
@click.option("--feed", "feed_names", multiple=True, metavar="NAME",
              help="Only this feed's articles (repeatable).")
@click.pass_context
def export(ctx: click.Context, output_format: str, after: int, since: str | None,
           feed_names: tuple[str, ...]) -> None:
    """Stream every stored article to standard output in sequence order: sequence, file
    name, hash, URL, feed, title, date, language, fetched-at and text (JSON Lines or CSV)."""
    settings = cli_settings(ctx)
    try:
        moment = parse_since(since)
    except ListingError as exc:
        fail(str(exc), EXIT_CONFIG)
        return
    missing: list[str] = []
    with opened_index(settings) as index:
        try:
            records = _records(index.stored_articles_after(after, feeds=feed_names,
                                                           since=moment),
                               settings.storage.corpus_dir, missing)
            if output_format == "csv":
                writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
                writer.writeheader()
                for record in records:
                    writer.writerow(record)
            else:
                for record in records:
                    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # `export | head` closes the pipe: that ends the export, it is not an error.
            # Python's advice: point stdout at /dev/null so the flush at exit does not fail
            # again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return
    for problem in missing:
        click.echo(f"source-ingest: left out {problem} (run `source-ingest verify`)", err=True)
    if missing:
        sys.exit(EXIT_PROBLEMS)


def _records(rows: Iterator[ArticleRow], corpus_dir: Path,
             missing: list[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        try:
            yield export_record(row, corpus_dir)
        except (OSError, CorpusFormatError) as exc:
            missing.append(f"{row.file_name}: {exc}")
