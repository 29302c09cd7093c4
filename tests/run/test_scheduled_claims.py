"""A scheduled run over many feeds: claims in small batches, each feed polled once, every
lease released; no statement carries the list of every configured feed (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text

from config.settings import FeedSettings, FetchSettings, ScheduleSettings, Settings, StorageSettings
from ingest.records import RunTrigger
from ingest.run.pipeline import RunRequest, run_fetch
from scheduler.policy import SchedulePolicy
from storage.database import create_database_engine
from storage.index import CorpusIndex, open_index
from storage.recovery import new_writer_identity

FEEDS = 300


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        feeds=tuple(FeedSettings(name=f"feed{i:03d}", url=f"https://site{i % 9}.example/{i}.xml",
                                 interval_seconds=900) for i in range(FEEDS)),
        storage=StorageSettings(database_url=url, corpus_dir=tmp_path / "corpus"),
        fetch=FetchSettings(retries=0), schedule=ScheduleSettings(jitter_seconds=0))


def test_a_scheduled_run_claims_in_batches_and_polls_every_due_feed_once(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    open_index(url).close()
    index = CorpusIndex(create_database_engine(url))
    settings = _settings(tmp_path, url)
    requests: list[str] = []
    transport = httpx.MockTransport(lambda request: requests.append(str(request.url))
                                    or httpx.Response(304))
    statements: list[tuple[str, Any]] = []
    event.listen(index._engine, "before_cursor_execute",
                 lambda _c, _k, sql, params, _x, _m: statements.append((sql, params)))

    summary = asyncio.run(run_fetch(settings, index, RunRequest(trigger=RunTrigger.SCHEDULE),
                                    new_writer_identity(),
                                    policy=SchedulePolicy(settings.schedule),
                                    transport=transport))

    assert summary is not None and summary.counts.feeds_polled == FEEDS
    assert sorted(requests) == sorted(feed.url for feed in settings.feeds)
    claims = [params for sql, params in statements
              if sql.lstrip().startswith("UPDATE feeds SET lease_owner")]
    batch = 2 * settings.fetch.max_concurrency
    assert FEEDS // batch <= len(claims) <= 2 * FEEDS // (batch // 2)
    # A claim's parameters are its conditions and limit, never the configured names.
    assert max(len(params) for params in claims) < 10
    with index._engine.connect() as conn:
        leased = conn.execute(text("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL"))
        assert leased.scalar_one() == 0
    index.close()
