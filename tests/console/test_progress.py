"""Progress without a terminal: log lines while a long run goes on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.console.progress import LogProgress
from ingest.records import EntryOutcome


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _progress_lines() -> Iterator[list[tuple[int, int]]]:
    logger = logging.getLogger("source_ingest.progress")
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[tuple[int, int]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines.extend((r.feeds_done, r.feeds_total) for r in handler.records  # type: ignore[attr-defined]
                 if getattr(r, "event", None) == "progress")


def test_a_run_of_feeds_with_nothing_new_still_reports_progress() -> None:
    # A poll of many unchanged feeds stores no article: progress must follow feeds too.
    progress = LogProgress(every_seconds=0)
    progress.feeds_claimed(1, ["a", "b", "c"])
    with _progress_lines() as lines:
        progress.feed_done("a", None)
        progress.feed_done("b", None)
    assert lines == [(1, 3), (2, 3)]


def test_progress_lines_are_spaced_out() -> None:
    progress = LogProgress(every_seconds=3600)
    progress.feeds_claimed(1, ["a", "b"])
    with _progress_lines() as lines:
        progress.feed_done("a", None)
        progress.entry_done("a", EntryOutcome.STORED)
    assert lines == []
