"""A locked database delays only database work: fetches keep their deadlines, `/healthz` answers.

Another process holds the index's write lock (SQLite) or an exclusive table lock (PostgreSQL)
for 5 s while the service's polls are in flight. Index calls wait on the database lane; the
event loop goes on, so no fetch in flight runs past its deadline (a `timeout` failure would
count toward backoff and suspension) and the health check never freezes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.cli_runner import run_cli, start_cli, write_config
from tests.console.test_httpapi import ServiceProcess
from tests.faultserver import invented_story
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import news_page, rss_feed

FEEDS = 6
LOCK_SECONDS = 5.0


def _serve_slow_feeds(site: LoopbackSite) -> None:
    # Staggered answers: when the first poll is recorded (and would stall a loop that waited
    # for the lock) the others are still in flight.
    for n in range(FEEDS):
        story = invented_story(f"lock-{n}")
        site.set(f"/a{n}.html", Route(news_page(story).encode()))
        site.set(f"/f{n}.xml", Route(rss_feed([(story, site.url(f"/a{n}.html"))]).encode(),
                                     content_type="application/rss+xml",
                                     delay_seconds=1.0 + 0.4 * n))


@contextmanager
def _database_locked(database_url: str) -> Iterator[None]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: every writer waits
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE feeds, entries, articles, runs, failures "
                              "IN ACCESS EXCLUSIVE MODE"))
            yield
            conn.rollback()
    finally:
        engine.dispose()


def _start_service(tmp_path: Path, database_url: str, site: LoopbackSite) -> ServiceProcess:
    config = write_config(tmp_path / "config.toml", database_url=database_url,
                          corpus_dir=tmp_path / "seeds",
                          feeds=[(f"f{n}", site.url(f"/f{n}.xml")) for n in range(FEEDS)],
                          fetch={"total_timeout": 4, "retries": 0},
                          schedule={"check_every_seconds": 0.5})
    run_cli("--config", str(config), "db", "upgrade", cwd=tmp_path)  # tables to lock
    process = start_cli("--config", str(config), "run", "--http", "127.0.0.1:0", cwd=tmp_path)
    service = ServiceProcess(process, config)
    threading.Thread(target=service._read_stderr, daemon=True).start()
    if not service.listening.wait(30):
        process.kill()
        raise AssertionError(f"the service did not start listening:\n{service.stderr}")
    return service


@pytest.mark.timeout(120)
def test_a_locked_database_delays_no_fetch_and_no_health_check(
        database_url: str, tmp_path: Path) -> None:
    with serve_site() as site:
        _serve_slow_feeds(site)
        service = _start_service(tmp_path, database_url, site)
        try:
            deadline = time.monotonic() + 30
            while site.hit_count("/f0.xml") == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            slowest_answer = 0.0
            with _database_locked(database_url):
                locked_until = time.monotonic() + LOCK_SECONDS
                while time.monotonic() < locked_until:
                    asked = time.monotonic()
                    health = httpx.get(f"{service.base}/healthz", timeout=5)
                    slowest_answer = max(slowest_answer, time.monotonic() - asked)
                    assert health.status_code == 200, health.text
                    time.sleep(0.2)
            deadline = time.monotonic() + 30
            status: dict[str, object] = {}
            while time.monotonic() < deadline:
                status = httpx.get(f"{service.base}/api/status").json()
                if status["articles_stored"] == FEEDS:
                    break
                time.sleep(0.2)
        finally:
            service.stop()
    assert slowest_answer < 1.0
    assert status["articles_stored"] == FEEDS, service.stderr
    feeds = {feed["name"]: feed for feed in status["feeds"]}  # type: ignore[union-attr]
    assert all(feed["last_error_kind"] is None and feed["consecutive_failures"] == 0
               for feed in feeds.values()), feeds
    failed = [json.loads(line) for line in service.lines if '"feed_failed"' in line]
    assert failed == []
