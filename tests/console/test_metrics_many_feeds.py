"""/metrics with many feeds: counts by health always, series per feed only up to a limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config.settings import FeedSettings, HttpSettings, Settings
from ingest.console.metrics import metrics_body, read_metrics
from ingest.records import FailureKind
from scheduler.service_metrics import ServiceMetrics
from storage.database import utcnow
from storage.index import open_index

FEEDS = tuple(FeedSettings(name=f"f{number}", url=f"https://{number}.example/rss",
                           interval_seconds=900) for number in range(3))


def _metrics(tmp_path: Path, limit: int) -> str:
    """The body as the HTTP API reads and renders it."""
    settings = Settings(feeds=FEEDS, http=HttpSettings(per_feed_metrics_limit=limit))
    index = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        now = utcnow()
        index.sync_feeds(list(FEEDS), now)
        index.record_poll_failure("f0", "test", now, FailureKind.HTTP_NOT_FOUND, "gone",
                                  lambda _failures: (now + timedelta(hours=1), False))
        reading = read_metrics(settings, index)
        return metrics_body(ServiceMetrics(), settings, reading.feeds, reading.articles_in_index,
                            alive=True, runs_in_flight=0, articles=reading.articles,
                            health_counts=reading.health_counts).decode()
    finally:
        index.close()


def test_past_the_limit_metrics_count_feeds_by_health_without_a_series_per_feed(
        tmp_path: Path) -> None:
    text = _metrics(tmp_path, limit=2)
    assert 'source_ingest_feeds{health="new"} 2' in text
    assert 'source_ingest_feeds{health="failing"} 1' in text
    assert 'source_ingest_feeds{health="ok"} 0' in text
    assert 'feed="' not in text


def test_within_the_limit_each_feed_has_its_series_and_the_counts_too(tmp_path: Path) -> None:
    text = _metrics(tmp_path, limit=3)
    assert 'source_ingest_feeds{health="failing"} 1' in text
    assert 'source_ingest_feed_health{feed="f0",health="failing"} 1' in text
    assert 'source_ingest_feed_consecutive_failures{feed="f0"} 1' in text
