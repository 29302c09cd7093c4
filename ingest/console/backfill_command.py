"""`source-ingest backfill NAME [--since DATE] [--limit N]`: a source's older articles."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime

import click

from ingest.console.cli_support import (
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    check_corpus_before_writing,
    cli_index,
    cli_settings,
    fail,
)
from ingest.console.progress import LogProgress, TerminalProgress
from ingest.console.run_summary import render_summary
from ingest.records import RunState, RunTrigger
from storage.database import DatabaseError
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
    from ingest.run.pipeline import RunRequest, RunSummary, run_fetch
    from ingest.run.source_read import Backfill
    from scheduler.policy import SchedulePolicy

    settings = cli_settings(ctx)
    if name not in {feed.name for feed in settings.feeds}:
        fail(f"unknown feed {name}", EXIT_CONFIG)
    index = cli_index(settings)
    writer = new_writer_identity()
    check_corpus_before_writing(settings, index, writer.tag)
    observer = TerminalProgress(sys.stderr) if sys.stderr.isatty() else LogProgress()
    request = RunRequest(trigger=RunTrigger.BACKFILL, feed_names=(name,), due_only=False,
                         backfill=Backfill(since=since.date() if since else None, limit=limit))

    async def main() -> RunSummary | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await run_fetch(settings, index, request, writer,
                               policy=SchedulePolicy(settings.schedule), observer=observer,
                               stop=stop)

    try:
        summary = asyncio.run(main())
    except DatabaseError as exc:
        fail(f"database error: {exc}", EXIT_DATABASE)
        return
    finally:
        observer.close()
        index.close()
    if summary is not None:
        click.echo(render_summary(summary))
        if summary.state is RunState.INTERRUPTED:
            sys.exit(EXIT_INTERRUPTED)
