"""What one run counts as it goes (`RunTally`): the status log's and the summary's numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ingest.records import EntryOutcome
from storage.runs import RunCounts


@dataclass
class RunTally:
    """What one run did so far; owned by that run alone."""

    run_id: int
    outcomes: Counter[EntryOutcome] = field(default_factory=Counter)
    failure_kinds: Counter[str] = field(default_factory=Counter)
    feeds_polled: int = 0
    entries_seen: int = 0

    def counts(self) -> RunCounts:
        outcomes = self.outcomes
        return RunCounts(
            feeds_polled=self.feeds_polled, entries_seen=self.entries_seen,
            articles_stored=outcomes[EntryOutcome.STORED],
            duplicates=outcomes[EntryOutcome.DUPLICATE],
            near_duplicates=outcomes[EntryOutcome.NEAR_DUPLICATE],
            filtered=outcomes[EntryOutcome.FILTERED], failures=sum(self.failure_kinds.values()))
