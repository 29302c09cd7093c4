"""What the running service counts: totals of the runs this process finished, and the latency
of every HTTP exchange. `ingest/console/metrics.py` renders them for `GET /metrics`."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field

from ingest.run.pipeline import RunSummary

# Seconds for one HTTP exchange (one hop, body included), from a fast local feed to the
# fetcher's total timeout.
FETCH_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class FetchLatencyHistogram:
    """Latency of every HTTP exchange the fetcher made; its `observe` is `PageFetcher`'s hook."""

    bounds: tuple[float, ...] = FETCH_LATENCY_BUCKETS
    bucket_counts: list[int] = field(default_factory=list)  # not cumulative; last is +Inf
    count: int = 0
    total_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.bucket_counts:
            self.bucket_counts = [0] * (len(self.bounds) + 1)

    def observe(self, host: str, seconds: float, status: int | None) -> None:
        # Host and status are not labels: article hosts are unbounded, and status is counted
        # per failure kind already.
        del host, status
        slot = next((i for i, bound in enumerate(self.bounds) if seconds <= bound),
                    len(self.bounds))
        self.bucket_counts[slot] += 1
        self.count += 1
        self.total_seconds += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with +Inf."""
        running = 0
        result = []
        for bound, count in zip((*self.bounds, math.inf), self.bucket_counts, strict=True):
            running += count
            result.append((bound, running))
        return result


@dataclass
class ServiceMetrics:
    """Totals of the runs this process finished; owned by `ServiceState`."""

    fetch_latency: FetchLatencyHistogram = field(default_factory=FetchLatencyHistogram)
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, state)
    articles_stored: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    filtered: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # by failure kind

    def record_run(self, summary: RunSummary) -> None:
        counts = summary.counts
        self.runs[(summary.trigger, summary.state)] += 1
        self.articles_stored += counts.articles_stored
        self.duplicates += counts.duplicates
        self.near_duplicates += counts.near_duplicates
        self.filtered += counts.filtered
        self.failures.update(summary.failures_by_kind)

    def run_done(self, trigger: str, task: asyncio.Task[RunSummary | None]) -> None:
        """Done-callback of a run task (`ServiceState.start_run`)."""
        if task.cancelled():
            self.runs[(trigger, "cancelled")] += 1
        elif task.exception() is not None:
            self.runs[(trigger, "failed")] += 1  # as run_fetch records it
        else:
            summary = task.result()
            if summary is not None:  # None: a scheduled check that found no feed due
                self.record_run(summary)
