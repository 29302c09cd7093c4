"""`source-ingest backfill NAME [--since DATE] [--limit N]`: a source's older articles."""

from __future__ import annotations

from datetime import datetime

import click

from ingest.console.cli_support import (
    EXIT_CONFIG,
    check_corpus_before_writing,
    cli_index,
    cli_settings,
    fail,
)
from ingest.console.foreground_run import run_in_foreground
from ingest.records import RunTrigger
from storage.recovery import new_writer_identity


@click.command()
@click.argument("name")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only articles dated from this day on (YYYY-MM-DD; undated ones too).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most this many new articles, newest first.")
@click.pass_context
def backfill(ctx: click.Context, name: str, since: datetime | None, limit: int | None) -> None:
    """Fetch a source's older articles from its sitemaps (an RSS source: its site's), at the
    polite pace. Resumable: run it again after an interruption, done stays done."""
    from ingest.run.pipeline import RunRequest
    from ingest.run.source_read import Backfill

    settings = cli_settings(ctx)
    if name not in {feed.name for feed in settings.feeds}:
        fail(f"unknown feed {name}", EXIT_CONFIG)
    index = cli_index(settings)
    writer = new_writer_identity()
    check_corpus_before_writing(settings, index, writer.tag)
    request = RunRequest(trigger=RunTrigger.BACKFILL, feed_names=(name,), due_only=False,
                         backfill=Backfill(since=since.date() if since else None, limit=limit))
    run_in_foreground(settings, index, request, writer)
