"""What the running service counts for `GET /metrics`, and the Prometheus text rendering of it.

Counters are this process's since it started (Prometheus' `rate()` handles restarts); with
several replicas on one database, summing them counts each run once, which totals read from the
shared index would not. Per-feed gauges are read from the index at scrape time because feeds are
shared by every replica.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from config.settings import HttpSettings, Settings
from ingest.console.feed_health import feed_verdict
from ingest.console.status import feeds_by_health
from ingest.records import FeedHealth
from scheduler.service_metrics import ServiceMetrics
from storage.entry_fates import FeedArticleHealth
from storage.feeds import FeedState
from storage.index import CorpusIndex


@dataclass(frozen=True)
class ServiceGauges:
    """The point-in-time values read at scrape time."""

    scheduler_alive: bool
    runs_in_flight: int
    articles_in_index: int
    feeds: Sequence[FeedState]
    # Per feed: articles stored and failed in its last run and the last 24 hours.
    articles: Mapping[str, FeedArticleHealth] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()
    per_feed_limit: int = HttpSettings.per_feed_metrics_limit  # more feeds: counts only
    # The feeds by health when they were counted without reading `feeds` (past the limit).
    health_counts: Mapping[FeedHealth, int] | None = None


def metrics_body(metrics: ServiceMetrics, settings: Settings, feeds: Sequence[FeedState],
                 articles_in_index: int, *, alive: bool, runs_in_flight: int,
                 articles: Mapping[str, FeedArticleHealth] | None = None,
                 health_counts: Mapping[FeedHealth, int] | None = None) -> bytes:
    """The /metrics text of the feeds read from the index (or, past the per-feed limit, of
    their counts by health). The HTTP API renders it in a thread: with 10,000 feeds it is
    70,000 lines, which on the event loop held up /healthz."""
    configured = {feed.name for feed in settings.feeds}
    gauges = ServiceGauges(
        scheduler_alive=alive, runs_in_flight=runs_in_flight,
        articles_in_index=articles_in_index,
        feeds=[feed for feed in feeds if feed.name in configured], articles=articles or {},
        disabled=frozenset(feed.name for feed in settings.feeds if not feed.enabled),
        per_feed_limit=settings.http.per_feed_metrics_limit, health_counts=health_counts)
    return render_metrics(metrics, gauges).encode("utf-8")


@dataclass(frozen=True)
class MetricsReading:
    """What a scrape reads from the index: every feed's row and article counts, or past
    `[http] per_feed_metrics_limit` feeds only their counts by health."""

    feeds: Sequence[FeedState]
    articles_in_index: int
    articles: Mapping[str, FeedArticleHealth]
    health_counts: Mapping[FeedHealth, int] | None


def read_metrics(settings: Settings, index: CorpusIndex) -> MetricsReading:
    """The index reads of one scrape (blocking: the HTTP API runs it off the loop)."""
    if len(settings.feeds) <= settings.http.per_feed_metrics_limit:
        return MetricsReading(feeds=index.feed_states(), articles_in_index=index.article_count(),
                              articles=index.feed_article_health(), health_counts=None)
    return MetricsReading(feeds=(), articles_in_index=index.article_count(), articles={},
                          health_counts={kind: len(names) for kind, names in
                                         feeds_by_health(settings, index).items()})


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
    health = [feed_verdict(feed, gauges.articles.get(feed.name),
                           enabled=feed.name not in gauges.disabled).health
              for feed in gauges.feeds]
    counts = Counter(health) if gauges.health_counts is None else gauges.health_counts
    _family(out, "source_ingest_feeds", "gauge",
            "Feeds known to the index, by health (new, ok, failing, suspended, disabled, busy).",
            [({"health": str(kind)}, counts.get(kind, 0)) for kind in FeedHealth])
    if len(gauges.feeds) <= gauges.per_feed_limit:
        _feed_families(out, gauges, health)
    return "\n".join(out) + "\n"


def _feed_families(out: list[str], gauges: ServiceGauges, health: Sequence[FeedHealth]) -> None:
    """The series of each feed: with many feeds (`per_feed_limit`), left out."""
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
    _family(out, "source_ingest_feed_extraction_degraded", "gauge",
            "1 while a feed's recent articles fall well below its own baseline "
            "(status gives the reason).",
            [({"feed": feed.name}, int(bool(feed.extraction_degraded)))
             for feed in gauges.feeds])
    _feed_article_families(out, gauges, health)


def _feed_article_families(out: list[str], gauges: ServiceGauges,
                           health: Sequence[FeedHealth]) -> None:
    samples: list[tuple[dict[str, str], float]] = []
    for feed in gauges.feeds:
        articles = gauges.articles.get(feed.name)
        if articles is None:
            continue
        for window, counts in (("last_run", articles.last_run), ("24h", articles.last_day)):
            samples.append(({"feed": feed.name, "window": window, "outcome": "stored"},
                            counts.stored))
            samples.append(({"feed": feed.name, "window": window, "outcome": "failed"},
                            counts.failed))
    _family(out, "source_ingest_feed_articles", "gauge",
            "Articles of each feed stored and failed, in its last run and the last 24 h.",
            samples)
    _family(out, "source_ingest_feed_health", "gauge",
            "1 for each feed's health (new, ok, failing, suspended, disabled, busy).",
            [({"feed": feed.name, "health": str(kind)}, 1)
             for feed, kind in zip(gauges.feeds, health, strict=True)])


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
