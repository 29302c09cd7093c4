"""What a run tells whoever watches it: a progress bar, log lines or the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ingest.records import EntryOutcome, FailureKind


class RunObserver(Protocol):
    """Progress of a run, for a progress bar, log lines or the HTTP API."""

    def feeds_claimed(self, run_id: int, names: Sequence[str]) -> None: ...
    def entries_found(self, feed: str, new_entries: int) -> None: ...
    def entry_done(self, feed: str, outcome: EntryOutcome) -> None: ...
    def feed_done(self, feed: str, failure: FailureKind | None) -> None: ...


class SilentObserver:
    def feeds_claimed(self, run_id: int, names: Sequence[str]) -> None:
        pass

    def entries_found(self, feed: str, new_entries: int) -> None:
        pass

    def entry_done(self, feed: str, outcome: EntryOutcome) -> None:
        pass

    def feed_done(self, feed: str, failure: FailureKind | None) -> None:
        pass
