"""A feed whose extraction degraded says so, with its reason, wherever its health shows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config.settings import ExtractionHealthSettings, FeedSettings, Settings
from ingest.console.metrics import metrics_body
from ingest.console.status import build_status, render_status, status_as_json
from ingest.records import EntryOutcome, FailureKind
from ingest.run.extraction_health import refresh_extraction_health
from scheduler.service_metrics import ServiceMetrics
from storage.database import utcnow
from storage.index import open_index

FEED = FeedSettings(name="daily", url="https://daily.example/rss", interval_seconds=900)


def test_degraded_extraction_shows_in_status_json_and_metrics_and_is_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(feeds=(FEED,))
    index = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        now = utcnow()
        index.sync_feeds([FEED], now)
        health = ExtractionHealthSettings()
        caplog.set_level(logging.INFO, logger="source_ingest.extraction_health")
        for number in range(5):  # every page of the new layout gives no text
            index.record_entry("daily", f"e{number}", f"https://daily.example/{number}",
                               EntryOutcome.FAILED, failure_kind=FailureKind.NO_ARTICLE_TEXT)
            refresh_extraction_health(index, "daily", health)
        report = build_status(settings, index, runs=5)
        feed = status_as_json(report)["feeds"][0]
        assert feed["health"] == "extraction_degraded"
        assert feed["extraction_degraded"] == "no article text in the last 5 articles"
        assert "extraction degraded: no article text in the last 5 articles" in \
            render_status(report)
        body = metrics_body(ServiceMetrics(), settings, report.feeds, 0, alive=True,
                            runs_in_flight=0).decode()
        assert 'source_ingest_feed_extraction_degraded{feed="daily"} 1' in body
        refresh_extraction_health(index, "daily", health)  # still degraded: not logged again
        events = [record.__dict__.get("event") for record in caplog.records]
        assert events == ["extraction_degraded"]
        index.set_extraction_degraded("daily", None)
        report = build_status(settings, index, runs=5)
        assert status_as_json(report)["feeds"][0]["extraction_degraded"] is None
        assert 'source_ingest_feed_extraction_degraded{feed="daily"} 0' in metrics_body(
            ServiceMetrics(), settings, report.feeds, 0, alive=True,
            runs_in_flight=0).decode()
    finally:
        index.close()
