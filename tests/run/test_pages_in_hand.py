"""A run holds a bounded number of fetched pages, however slowly its articles are stored:
fetching waits for storing, so memory grows with the concurrency, not with the run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

import ingest.run.pipeline as pipeline
from config.settings import (
    FeedSettings,
    FetchSettings,
    LimitSettings,
    ScheduleSettings,
    Settings,
    StorageSettings,
)
from ingest.run.store import Storage, StoreRequest, StoreResult, store_batch
from storage.index import open_index
from tests.run.manual_run import manual_run

ENTRIES = 60
CONCURRENCY = 4
WORKERS = 1
WORDS = ("harbour", "quay", "ship", "crew", "dock", "tide", "pier", "cargo", "crane", "berth")


def _page(number: int) -> bytes:
    # Each page its own words, so that none is a near duplicate of another.
    words = " ".join(f"{WORDS[(number + i) % 10]}{number}x{i}" for i in range(120))
    return (f"<html><body><article><p>The story number {number}. {words}.</p>"
            f"<p>{words}.</p></article></body></html>").encode()


@pytest.mark.timeout(120)
def test_fetched_pages_wait_for_storing_when_storing_is_slow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database_url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    settings = Settings(
        feeds=(FeedSettings(name="news", url="https://news.example/rss.xml",
                            interval_seconds=900),),
        storage=StorageSettings(database_url=database_url, corpus_dir=tmp_path / "corpus"),
        fetch=FetchSettings(retries=0, max_concurrency=CONCURRENCY,
                            per_host_concurrency=CONCURRENCY, per_host_delay_seconds=0),
        limits=LimitSettings(extraction_workers=WORKERS),
        schedule=ScheduleSettings(jitter_seconds=0))
    lock = threading.Lock()
    fetched = stored = most_unstored = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal fetched, most_unstored
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        if request.url.path == "/rss.xml":
            items = "".join(f"<item><title>Story {i}</title><link>https://news.example/{i}"
                            f"</link></item>" for i in range(ENTRIES))
            return httpx.Response(200, headers={"Content-Type": "application/rss+xml"},
                                  content=f'<?xml version="1.0"?><rss version="2.0"><channel>'
                                          f"<title>n</title>{items}</channel></rss>".encode())
        with lock:
            fetched += 1
            most_unstored = max(most_unstored, fetched - stored)
        return httpx.Response(200, headers={"Content-Type": "text/html"},
                              content=_page(int(request.url.path.strip("/"))))

    def slow_store(storage: Storage, requests: list[StoreRequest]) -> list[StoreResult]:
        nonlocal stored
        time.sleep(0.05 * len(requests))  # a slow disk: storing is the bottleneck
        results = store_batch(storage, requests)
        with lock:
            stored += len(requests)
        return results

    monkeypatch.setattr(pipeline, "store_batch", slow_store)
    index = open_index(database_url)
    try:
        summary = manual_run(settings, index, httpx.MockTransport(answer))
    finally:
        index.close()
    assert summary is not None and summary.counts.articles_stored == ENTRIES
    # In hand at most: the concurrency, and two pages per extraction worker.
    assert most_unstored <= CONCURRENCY + 2 * WORKERS, most_unstored
