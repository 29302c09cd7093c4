"""What the running service counts for `GET /metrics`, and the Prometheus text rendering of it.

Counters are this process's since it started (Prometheus' `rate()` handles restarts); with
several replicas on one database, summing them counts each run once, which totals read from the
shared index would not. Per-feed gauges are read from the index at scrape time because feeds are
shared by every replica.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from config.settings import Settings
from ingest.run.pipeline import RunSummary
from storage.feeds import FeedState

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


@dataclass(frozen=True)
class ServiceGauges:
    """The point-in-time values read at scrape time."""

    scheduler_alive: bool
    runs_in_flight: int
    articles_in_index: int
    feeds: Sequence[FeedState]


def metrics_body(metrics: ServiceMetrics, settings: Settings, feeds: Sequence[FeedState],
                 articles_in_index: int, *, alive: bool, runs_in_flight: int) -> bytes:
    """The /metrics text of the feeds read from the index. The HTTP API renders it in a
    thread: with 100,000 feeds it is 300,000 lines, seconds of CPU that on the event loop
    held up /healthz."""
    configured = {feed.name for feed in settings.feeds}
    gauges = ServiceGauges(
        scheduler_alive=alive, runs_in_flight=runs_in_flight,
        articles_in_index=articles_in_index,
        feeds=[feed for feed in feeds if feed.name in configured])
    return render_metrics(metrics, gauges).encode("utf-8")


def render_metrics(metrics: ServiceMetrics, gauges: ServiceGauges) -> str:
    """Prometheus text exposition format 0.0.4."""
    out: list[str] = []
    _family(out, "source_ingest_scheduler_up", "gauge",
            "1 when the scheduler checked for due feeds recently.",
            [({}, int(gauges.scheduler_alive))])
    _family(out, "source_ingest_runs_in_flight", "gauge", "Fetch runs in progress.",
            [({}, gauges.runs_in_flight)])
    _family(out, "source_ingest_runs_total", "counter",
            "Fetch runs this process finished, by trigger and final state.",
            [({"trigger": trigger, "state": state}, count)
             for (trigger, state), count in sorted(metrics.runs.items())])
    _family(out, "source_ingest_articles_stored_total", "counter",
            "Articles this process stored.", [({}, metrics.articles_stored)])
    _family(out, "source_ingest_duplicates_total", "counter",
            "Entries skipped as exact duplicates of a stored article.",
            [({}, metrics.duplicates)])
    _family(out, "source_ingest_near_duplicates_total", "counter",
            "Entries skipped as near duplicates of a stored article.",
            [({}, metrics.near_duplicates)])
    _family(out, "source_ingest_filtered_total", "counter",
            "Entries left out by the topic filters.", [({}, metrics.filtered)])
    _family(out, "source_ingest_failures_total", "counter",
            "Feed and article failures, by failure kind.",
            [({"kind": kind}, count) for kind, count in sorted(metrics.failures.items())])
    _family(out, "source_ingest_corpus_articles", "gauge",
            "Articles stored in the index (all writers).", [({}, gauges.articles_in_index)])
    latency = metrics.fetch_latency
    name = "source_ingest_fetch_duration_seconds"
    out.append(f"# HELP {name} Duration of one HTTP exchange with a feed or page server.")
    out.append(f"# TYPE {name} histogram")
    for bound, count in latency.cumulative():
        out.append(f'{name}_bucket{{le="{_number(bound)}"}} {count}')
    out.append(f"{name}_sum {_number(latency.total_seconds)}")
    out.append(f"{name}_count {latency.count}")
    _family(out, "source_ingest_feed_last_success_timestamp_seconds", "gauge",
            "When each feed was last polled successfully (unix seconds; absent if never).",
            [({"feed": feed.name}, feed.last_success_at.timestamp())
             for feed in gauges.feeds if feed.last_success_at is not None])
    _family(out, "source_ingest_feed_consecutive_failures", "gauge",
            "Failed polls in a row, per feed.",
            [({"feed": feed.name}, feed.consecutive_failures) for feed in gauges.feeds])
    _family(out, "source_ingest_feed_suspended", "gauge",
            "1 when a feed is suspended until `feeds resume`.",
            [({"feed": feed.name}, int(feed.suspended)) for feed in gauges.feeds])
    return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, help_text: str,
            samples: Iterable[tuple[dict[str, str], float]]) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        out.append(f"{name}{_labels(labels)} {_number(value)}")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
