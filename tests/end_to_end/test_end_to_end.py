"""The service as a user meets it: `fetch`, a second `fetch`, then `run` until SIGTERM.

A real HTTP server on 127.0.0.1 serves feeds and realistic news pages; the real command runs
as a subprocess against a real database (SQLite file; PostgreSQL too when configured).
"""

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

MISSING = FakeStory(
    slug="story-1",
    title="Commission publishes list of missing persons",
    paragraphs=(
        "BAKU, October 9. The State Commission on missing persons published an updated list "
        "on Thursday, its chairman told reporters at a briefing in the capital.",
        "The list includes the names of 3,890 people whose fate remains unknown, he said, "
        "adding that DNA identification work continues with international partners.",
        "\u201cEvery family deserves an answer,\u201d the chairman said, calling on witnesses "
        "to come forward with any information they may hold.",
    ),
    published=date(2025, 10, 9),
)
ASSEMBLY = FakeStory(
    slug="story-2",
    title="Ambassador raises issue at the General Assembly",
    paragraphs=(
        "The permanent representative addressed the Third Committee of the General Assembly, "
        "describing national measures to support the families of the missing.",
        "He noted that cooperation with the International Committee of the Red Cross had "
        "intensified over the past year and welcomed new forensic laboratories.",
    ),
    published=None,
)
LATE = FakeStory(
    slug="story-3",
    title="Forensic laboratory opens in Ganja",
    paragraphs=(
        "A new forensic laboratory opened in Ganja on Monday to speed up the identification "
        "of remains found in the liberated territories.",
        "Officials said the laboratory can process two hundred samples a week and will work "
        "closely with the commission on missing persons.",
    ),
    published=date(2025, 11, 3),
)


def _serve_stories(site: LoopbackSite, feed_path: str,
                   stories: list[tuple[FakeStory, str]]) -> None:
    for story, path in stories:
        site.set(path, Route(news_page(story).encode("utf-8")))
    feed = rss_feed([(story, site.url(path)) for story, path in stories])
    site.set(feed_path, Route(feed.encode("utf-8"), content_type="application/rss+xml"))


def _corpus(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.txt"))}


@pytest.mark.timeout(180)
def test_fetch_stores_clean_files_then_service_picks_up_new_entry(
        tmp_path: Path, database_url: str) -> None:
    corpus_dir = tmp_path / "seeds"
    with serve_site() as site:
        _serve_stories(site, "/world.xml", [(MISSING, "/news/1.html"),
                                            (ASSEMBLY, "/news/2.html")])
        # The same story republished under another URL in a second feed: a duplicate.
        _serve_stories(site, "/region.xml", [(MISSING, "/region/1-copy.html")])
        config = write_config(tmp_path / "config.toml", database_url=database_url,
                              corpus_dir=corpus_dir,
                              feeds=[("world", site.url("/world.xml")),
                                     ("region", site.url("/region.xml"))])

        first = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        files = _corpus(corpus_dir)
        texts = sorted(files.values())
        assert texts == sorted([MISSING.corpus_text().encode(), ASSEMBLY.corpus_text().encode()])
        assert all(name[:4] in {"000_", "001_"} for name in files)
        assert "articles stored     2" in first.stdout
        assert "duplicates skipped  1" in first.stdout

        second = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert "articles stored     0" in second.stdout
        # Conditional GET: the unchanged feeds answered 304 to the second poll.
        assert site.not_modified.get("/world.xml") == 1
        assert site.not_modified.get("/region.xml") == 1
        assert _corpus(corpus_dir) == files
        article_hits = site.hit_count("/news/1.html")

        service = start_cli("--config", str(config), "run", cwd=tmp_path)
        try:
            time.sleep(1.5)
            _serve_stories(site, "/world.xml", [(MISSING, "/news/1.html"),
                                                (ASSEMBLY, "/news/2.html"),
                                                (LATE, "/news/3.html")])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(_corpus(corpus_dir)) < 3:
                time.sleep(0.2)
            assert len(_corpus(corpus_dir)) == 3, "the service did not store the new entry"
        finally:
            stopped_at = time.monotonic()
            service.send_signal(signal.SIGTERM)
            _, stderr = service.communicate(timeout=15)
        assert time.monotonic() - stopped_at < 10
        assert service.returncode == 0, stderr
        assert LATE.corpus_text().encode() in _corpus(corpus_dir).values()
        # Entries already seen are not fetched again by the service.
        assert site.hit_count("/news/1.html") == article_hits

    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["articles_stored"] == 3
    assert {run["trigger"] for run in report["runs"]} == {"manual", "schedule"}
    assert {feed["name"] for feed in report["feeds"]} == {"world", "region"}
    assert all(line.startswith("{") for line in stderr.splitlines() if line.strip())


def test_scheduler_checks_keep_their_rhythm_during_a_long_run() -> None:
    """/healthz reads the time of the last check: a long run must not stop the checks."""
    import asyncio

    from config.loading import parse_settings
    from scheduler.service import ServiceState, _scheduled_check

    async def scenario() -> None:
        settings = parse_settings({"schedule": {"check_every_seconds": 0.1}}, {})
        state = ServiceState(settings=settings, index=None, writer=None)  # type: ignore[arg-type]
        release = asyncio.Event()
        started: list[object] = []

        def long_run(request: object, observer: object = None) -> asyncio.Task[None]:
            started.append(request)
            return asyncio.get_running_loop().create_task(release.wait())  # type: ignore[return-value]

        state.start_run = long_run  # type: ignore[method-assign]
        await asyncio.wait_for(_scheduled_check(state), timeout=1)
        first_check = state.last_check
        await asyncio.sleep(0.01)
        await asyncio.wait_for(_scheduled_check(state), timeout=1)
        assert state.last_check is not None and first_check is not None
        assert state.last_check > first_check
        assert len(started) == 1, "a second scheduled run started while the first was going"
        release.set()
        await asyncio.sleep(0.05)
        await _scheduled_check(state)
        assert len(started) == 2

    asyncio.run(scenario())
