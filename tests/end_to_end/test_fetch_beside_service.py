"""A manual `fetch` while the service runs: leases share the feeds, nothing is done twice."""

from __future__ import annotations

import json
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from tests.cli_runner import run_cli, start_cli, write_config
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

WORDS = ("harbour", "council", "budget", "river", "bridge", "school", "festival", "railway",
         "election", "museum", "hospital", "airport", "market", "forest", "library", "stadium")


def _story(feed: int, item: int) -> FakeStory:
    topic = WORDS[(feed * 7 + item) % len(WORDS)]
    sentences = [f"Story {feed}-{item} reports on the {topic} project number {feed * 100 + item}, "
                 f"which officials in district {item} discussed at length on day {feed}.",
                 f"Residents of quarter {feed}{item} said the {topic} plan would change their "
                 f"daily routine, and {item + 3} groups asked for a public hearing."]
    return FakeStory(slug=f"f{feed}-{item}", title=f"{topic.title()} plan {feed}-{item}",
                     paragraphs=tuple(sentences), published=date(2025, 5, 1 + item))


def _serve(site: LoopbackSite, feeds: int, items: int) -> list[FakeStory]:
    stories = []
    for feed in range(feeds):
        entries = []
        for item in range(items):
            story = _story(feed, item)
            path = f"/f{feed}/{item}.html"
            # Slow pages, so that the manual fetches overlap the service's runs.
            site.set(path, Route(news_page(story).encode(), delay_seconds=0.15))
            entries.append((story, site.url(path)))
            stories.append(story)
        site.set(f"/f{feed}.xml", Route(rss_feed(entries).encode(),
                                         content_type="application/rss+xml"))
    return stories


@pytest.mark.timeout(180)
def test_manual_fetch_beside_the_service_duplicates_no_work_or_file(
        tmp_path: Path, database_url: str) -> None:
    corpus_dir = tmp_path / "seeds"
    with serve_site() as site:
        stories = _serve(site, feeds=6, items=6)
        config = write_config(
            tmp_path / "c.toml", database_url=database_url, corpus_dir=corpus_dir,
            feeds=[(f"feed{n}", site.url(f"/f{n}.xml")) for n in range(6)],
            extra="[dedupe]\nnear_duplicates = false\n")
        service = start_cli("--config", str(config), "run", cwd=tmp_path)
        try:
            time.sleep(0.8)
            summaries = [run_cli("--config", str(config), "fetch", cwd=tmp_path)
                         for _ in range(3)]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and \
                    len(list(corpus_dir.glob("*.txt"))) < len(stories):
                time.sleep(0.2)
        finally:
            service.send_signal(signal.SIGTERM)
            service.communicate(timeout=15)
        assert all(result.returncode == 0 for result in summaries)
        # The fetches really overlapped the service: feeds it held were left to it.
        assert any("busy (being polled by another process)" in result.stdout
                   for result in summaries)
        page_hits = [site.hit_count(f"/f{f}/{i}.html") for f in range(6) for i in range(6)]
    texts = sorted(p.read_text(encoding="utf-8") for p in corpus_dir.glob("*.txt"))
    assert texts == sorted(story.corpus_text() for story in stories)
    assert page_hits == [1] * len(page_hits), "an article page was fetched twice"
    report = json.loads(run_cli("--config", str(config), "status", "--json", "--runs", "50",
                                cwd=tmp_path).stdout)
    assert sum(run["articles_stored"] for run in report["runs"]) == len(stories)
    assert sum(run["duplicates"] for run in report["runs"]) == 0
    assert run_cli("--config", str(config), "verify", cwd=tmp_path).returncode == 0
