"""A manual run in the foreground (`fetch`, `backfill`): progress, SIGINT/SIGTERM stop it
cleanly, the summary is printed, and an interrupted run exits non-zero."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

import click

from config.settings import Settings
from ingest.console.cli_support import EXIT_DATABASE, EXIT_INTERRUPTED, fail
from ingest.console.progress import LogProgress, TerminalProgress
from ingest.console.run_summary import render_summary
from ingest.records import RunState
from storage.database import DatabaseError
from storage.index import CorpusIndex
from storage.recovery import WriterIdentity

if TYPE_CHECKING:
    from ingest.run.pipeline import RunRequest, RunSummary


def run_in_foreground(settings: Settings, index: CorpusIndex, request: RunRequest,
                      writer: WriterIdentity) -> RunSummary | None:
    """Run `request`, print its summary and return it; closes the index."""
    from ingest.run.pipeline import run_fetch
    from scheduler.policy import SchedulePolicy

    observer = TerminalProgress(sys.stderr) if sys.stderr.isatty() else LogProgress()

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
        return None
    finally:
        observer.close()
        index.close()
    if summary is not None:
        click.echo(render_summary(summary))
        if summary.state is RunState.INTERRUPTED:
            sys.exit(EXIT_INTERRUPTED)
    return summary
