"""An operator with many feeds (issue 16: 100,000 sources on one replica, here 250): the status
API, `status` and the page give the counts by health of every feed and a page of them, the
troubled first, instead of every feed's row every 15 s; one feed is asked for by name.

The real `run --http` service polls 240 healthy loopback feeds and 10 that answer 404, named
so that they sort last by name."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_runner import run_cli, start_cli, write_config
from tests.conftest import TEST_DATABASE_ENV
from tests.console.test_httpapi import ServiceProcess
from tests.console.test_status_page import CHROMIUM, CHROMIUM_FLAGS
from tests.databases import postgres_schema_url
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import rss_feed

HEALTHY = [f"feed-{n:03d}" for n in range(240)]
BROKEN = [f"zz-gone-{n}" for n in range(10)]  # their feeds answer 404
TROUBLED_FIRST = BROKEN + HEALTHY


def _config(folder: Path, site: LoopbackSite, database_url: str) -> Path:
    empty = rss_feed([]).encode()
    for name in HEALTHY:
        site.set(f"/{name}.xml", Route(empty, content_type="application/rss+xml"))
    config = write_config(folder / "config.toml", database_url=database_url,
                          corpus_dir=folder / "corpus",
                          feeds=[(name, site.url(f"/{name}.xml")) for name in HEALTHY + BROKEN],
                          # The broken feeds stay failing (not suspended) while the test reads.
                          schedule={"suspend_after_failures": 1000})
    # Each feed polled once: the test reads what its first poll left.
    config.write_text(config.read_text(encoding="utf-8").replace(
        "interval_seconds = 1\n", "interval_seconds = 3600\n"), encoding="utf-8")
    return config


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp(f"many-{request.param}")
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{folder / 'index.sqlite3'}"])
    else:
        base = os.environ.get(TEST_DATABASE_ENV)
        if not base:
            pytest.skip(f"{TEST_DATABASE_ENV} not set: PostgreSQL variant skipped")
        urls = postgres_schema_url(base)
    database_url = next(urls)
    try:
        with serve_site() as site:
            config = _config(folder, site, database_url)
            process = start_cli("--config", str(config), "run", "--http", "127.0.0.1:0",
                                cwd=folder)
            running = ServiceProcess(process, config)
            reader = threading.Thread(target=running._read_stderr, daemon=True)
            reader.start()
            try:
                assert running.listening.wait(30), running.stderr
                deadline = time.monotonic() + 120
                while True:
                    counts = httpx.get(f"{running.base}/api/status", params={"feeds": "0"},
                                       timeout=10).json()
                    if counts["feeds_total"] == 250 and counts["feeds_by_health"]["new"] == 0:
                        break
                    assert time.monotonic() < deadline, f"not every feed polled: {counts}"
                    time.sleep(0.5)
                yield running
            finally:
                if process.poll() is None:
                    running.stop()
                reader.join(timeout=5)
    finally:
        next(urls, None)  # drops the PostgreSQL schema


def _names(status: dict[str, object]) -> list[str]:
    feeds = status["feeds"]
    assert isinstance(feeds, list)
    return [feed["name"] for feed in feeds]


@pytest.mark.timeout(240)
def test_api_status_gives_a_page_of_feeds_the_troubled_first_and_counts_them_all(
        service: ServiceProcess) -> None:
    url = f"{service.base}/api/status"
    first = httpx.get(url, timeout=10).json()
    assert _names(first) == TROUBLED_FIRST[:100]
    assert [feed["health"] for feed in first["feeds"][:11]] == ["failing"] * 10 + ["ok"]
    assert (first["feeds_total"], first["feeds_matching"], first["feeds_offset"]) == \
        (250, 250, 0)
    assert {health: n for health, n in first["feeds_by_health"].items() if n} == \
        {"failing": 10, "ok": 240}
    assert first["feeds_summary"] == "10 failing, 240 ok"
    last = httpx.get(url, params={"offset": "200"}, timeout=10).json()
    assert _names(last) == TROUBLED_FIRST[200:]
    troubled = httpx.get(url, params={"health": "failing,suspended"}, timeout=10).json()
    assert _names(troubled) == BROKEN
    assert (troubled["feeds_matching"], troubled["feeds_total"]) == (10, 250)
    one = httpx.get(url, params={"feed": "feed-123"}, timeout=10).json()
    assert _names(one) == ["feed-123"] and one["feeds"][0]["health"] == "ok"
    everything = httpx.get(url, params={"feeds": "1000"}, timeout=10).json()
    assert _names(everything) == TROUBLED_FIRST

    # `status --json` has the API's shape and, past 200 configured feeds, its default page.
    printed = run_cli("--config", str(service.config), "status", "--json",
                      cwd=service.config.parent)
    assert printed.returncode == 0, printed.stderr
    report = json.loads(printed.stdout)
    assert report.keys() == first.keys()
    assert _names(report) == _names(first) and report["feeds_total"] == 250


@pytest.mark.timeout(240)
def test_status_prints_a_page_of_feeds_and_says_how_to_see_others(
        service: ServiceProcess) -> None:
    def status(*args: str) -> str:
        result = run_cli("--config", str(service.config), "status", *args,
                         cwd=service.config.parent, env={"COLUMNS": "160"})
        assert result.returncode == 0, result.stderr
        return result.stdout

    def listed(text: str) -> list[str]:
        return [match.group(1) for match in re.finditer(r"^  (\S+) +(?:failing|ok) ", text,
                                                        re.MULTILINE)]

    default = status()
    assert "feeds: 10 failing, 240 ok" in default.splitlines()[0]
    assert listed(default) == TROUBLED_FIRST[:100]
    assert "showing 1-100 of 250 feeds, the troubled first; more with --feeds N" in default
    assert listed(status("--feeds", "50", "--offset", "100")) == TROUBLED_FIRST[100:150]
    assert listed(status("--health", "failing")) == BROKEN
    assert listed(status("--feeds", "0")) == []
    every = status("--feeds", "300")
    assert listed(every) == TROUBLED_FIRST and "showing" not in every
    wrong = run_cli("--config", str(service.config), "status", "--health", "sick",
                    cwd=service.config.parent)
    assert wrong.returncode == 2 and "unknown health 'sick'" in wrong.stderr


@pytest.mark.timeout(240)
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed")
def test_page_shows_counts_pages_through_feeds_filters_and_opens_one_off_the_page(
        service: ServiceProcess) -> None:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (test extra)")
    rows = '#feeds tr[data-feed]'
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS[1:])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            asked: list[str] = []
            page.on("request", lambda request: asked.append(request.url))
            page.goto(f"{service.base}/")
            page.wait_for_selector(f'{rows}[data-feed="zz-gone-0"]')
            assert page.text_content("#health") == "10 of 250 feeds failing"
            assert page.locator(rows).count() == 100
            assert page.get_attribute(f"{rows} >> nth=0", "data-feed") == "zz-gone-0"
            assert page.text_content('#feeds-by-health [data-health="failing"]') == "10 failing"
            assert page.text_content('#feeds-by-health [data-health="ok"]') == "240 ok"
            assert page.text_content("#feeds-range") == "1–100 of 250"
            assert page.is_disabled("#feeds-prev")
            page.click("#feeds-next")
            page.wait_for_selector(f'{rows}[data-feed="feed-090"]')
            assert page.text_content("#feeds-range") == "101–200 of 250"
            assert page.locator(rows).count() == 100
            page.click("#feeds-next")
            page.wait_for_selector(f'{rows}[data-feed="feed-239"]')
            assert page.is_disabled("#feeds-next") and page.locator(rows).count() == 50
            page.select_option("#feed-filter", "failing,suspended")
            page.locator("#feeds-range", has_text="(250 in all)").wait_for()
            assert page.locator(rows).count() == 10
            assert page.text_content("#feeds-range") == "1–10 of 10 (250 in all)"
            assert page.get_attribute(f"{rows} >> nth=0", "data-feed") == "zz-gone-0"
            # A feed on no page shown: its view asks for it by name.
            page.evaluate("location.hash = 'feed=feed-200'")
            page.locator("#feed-counts", has_text="ok · last run 0 stored").wait_for()
            assert page.is_visible("#feed-view")
            assert any("/api/status?" in url and "feed=feed-200" in url for url in asked)
            # Every read of the status asked for a page, never for every feed.
            reads = [url for url in asked if "/api/status" in url]
            assert reads and all("feeds=" in url or "feed=" in url for url in reads)
        finally:
            browser.close()
