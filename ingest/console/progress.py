"""Progress of a foreground fetch: a bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from ingest.records import EntryOutcome, FailureKind

log = logging.getLogger("source_ingest.progress")


class TerminalProgress:
    """One redrawn line: feeds done, entries done of those found, what became of them."""

    def __init__(self, stream: TextIO, width: int = 80) -> None:
        self._stream = stream
        self._width = width
        self._feeds_total = 0
        self._feeds_done = 0
        self._entries_total = 0
        self._outcomes: Counter[str] = Counter()
        self._last_draw = 0.0

    def feeds_claimed(self, run_id: int, names: Sequence[str]) -> None:
        self._feeds_total = len(names)
        self._draw(force=True)

    def entries_found(self, feed: str, new_entries: int) -> None:
        self._entries_total += new_entries
        self._draw()

    def entry_done(self, feed: str, outcome: EntryOutcome) -> None:
        self._outcomes[outcome] += 1
        self._draw()

    def feed_done(self, feed: str, failure: FailureKind | None) -> None:
        self._feeds_done += 1
        self._draw(force=self._feeds_done == self._feeds_total)

    def close(self) -> None:
        if self._feeds_total:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done = sum(self._outcomes.values())
        total = max(self._entries_total, 1)
        bar_width = 24
        filled = int(bar_width * min(done / total, 1.0)) if self._entries_total else 0
        bar = "#" * filled + "-" * (bar_width - filled)
        outcomes = self._outcomes
        failed = outcomes[EntryOutcome.FAILED] + outcomes[EntryOutcome.RETRY]
        duplicates = outcomes[EntryOutcome.DUPLICATE] + outcomes[EntryOutcome.NEAR_DUPLICATE]
        line = (f"[{bar}] feeds {self._feeds_done}/{self._feeds_total} "
                f"articles {done}/{self._entries_total} "
                f"stored {outcomes[EntryOutcome.STORED]} dup {duplicates} failed {failed}")
        self._stream.write("\r" + line[: self._width - 1].ljust(self._width - 1))
        self._stream.flush()


class LogProgress:
    """Without a terminal: a progress log line at most every few seconds while feeds or
    articles are being done."""

    def __init__(self, every_seconds: float = 5.0) -> None:
        self._every = every_seconds
        self._feeds_total = 0
        self._feeds_done = 0
        self._entries_total = 0
        self._done = 0
        self._last = time.monotonic()

    def feeds_claimed(self, run_id: int, names: Sequence[str]) -> None:
        self._feeds_total = len(names)

    def entries_found(self, feed: str, new_entries: int) -> None:
        self._entries_total += new_entries

    def entry_done(self, feed: str, outcome: EntryOutcome) -> None:
        self._done += 1
        self._report_if_due()

    def feed_done(self, feed: str, failure: FailureKind | None) -> None:
        self._feeds_done += 1
        self._report_if_due()

    def close(self) -> None:
        pass

    def _report_if_due(self) -> None:
        if time.monotonic() - self._last >= self._every:
            self._report()

    def _report(self) -> None:
        self._last = time.monotonic()
        log.info("progress", extra={"event": "progress", "feeds_done": self._feeds_done,
                                    "feeds_total": self._feeds_total,
                                    "articles_done": self._done,
                                    "articles_found": self._entries_total})
