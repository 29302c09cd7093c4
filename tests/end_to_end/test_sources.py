"""Sources beyond RSS, as a user meets them: a sitemap index with a gzip child, a news
sitemap, robots.txt obeyed, requests to one host paced, the real CLI against a loopback site."""

from __future__ import annotations

import itertools
import json
import signal
import statistics
import time
import tomllib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from storage.schema import sitemap_urls
from tests.cli_runner import run_cli, start_cli, write_config
from tests.faultserver import serve_story
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, rss_feed
from tests.sitesources import SourcesSite, dated_story, serve_sources_site


def _config(tmp_path: Path, database_url: str, sources: SourcesSite, *,
            fetch: dict[str, object] | None = None) -> Path:
    site = sources.site
    return write_config(
        tmp_path / "config.toml", database_url=database_url, corpus_dir=tmp_path / "corpus",
        feeds=[], fetch=fetch, extra=f"""
[[feeds]]
name = "daily-sitemap"
kind = "sitemap"
url = "{site.url('/sitemap-index.xml')}"
exclude_urls = ["/tag/"]

[[feeds]]
name = "daily-news"
kind = "news_sitemap"
url = "{site.url('/news-sitemap.xml')}"
""")


def _stored(tmp_path: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8")
            for path in sorted((tmp_path / "corpus").glob("*.txt"))}


def _page_hits(site: LoopbackSite) -> dict[str, int]:
    return {path: count for path, count in site.hits.items() if path.endswith(".html")}


def test_sitemap_and_news_sitemap_polls_store_their_articles_and_obey_robots(
        tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        sources = serve_sources_site(site)
        config = _config(tmp_path, database_url, sources)

        first = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        texts = set(_stored(tmp_path).values())
        expected = {story.corpus_text() for story in
                    [*sources.archive, *sources.recent, *sources.news]}
        assert texts == expected
        # Disallowed by robots.txt: never requested; the tag page was left out by the rule.
        assert site.hit_count(f"/private/{sources.private.slug}.html") == 0
        assert site.hit_count("/tag/politics") == 0 and site.hit_count("/politics") == 0
        assert site.hit_count("/robots.txt") == 1
        status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path)
        report = json.loads(status.stdout)
        assert "robots_disallowed" in json.dumps(report)
        # The index remembers each listed article URL's lastmod, as each file listed it.
        engine = create_engine(database_url)
        with engine.connect() as conn:
            lastmods = dict(conn.execute(select(sitemap_urls.c.entry_key, sitemap_urls.c.lastmod)
                                         .where(sitemap_urls.c.feed == "daily-sitemap")).all())
        engine.dispose()
        assert {sources.story_url(story): story.published
                for story in [*sources.archive, *sources.recent]}.items() <= lastmods.items()

        # Second poll: only the changed child is read again, only its new URL fetched.
        hits_before = dict(site.hits)
        newer = sources.publish_recent("recent-new", date(2025, 6, 9))
        second = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        fetched = {path: count - hits_before.get(path, 0) for path, count in site.hits.items()
                   if count != hits_before.get(path, 0)}
        assert fetched == {"/sitemap-index.xml": 1, "/sitemap-recent.xml": 1,
                           "/news-sitemap.xml": 1, f"/news/{newer.slug}.html": 1,
                           "/robots.txt": 1}
        assert site.not_modified.get("/news-sitemap.xml") == 1
        assert newer.corpus_text() in set(_stored(tmp_path).values())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_requests_to_one_host_keep_the_crawl_delay(tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        sources = serve_sources_site(site, crawl_delay=0.4, archive_size=4)
        config = _config(tmp_path, database_url, sources)
        result = run_cli("--config", str(config), "fetch", "--feed", "daily-sitemap",
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        paced = [at for at, path in site.log
                 if path.endswith((".html", ".gz")) or path.startswith("/sitemap")]
    assert len(paced) >= 9
    gaps = [b - a for a, b in itertools.pairwise(paced)]
    # The server logs a request when it reads it: a loaded machine delays one by a few tens
    # of milliseconds, so single gaps may look shorter; their spread stays around the delay.
    assert min(gaps) >= 0.3 and statistics.median(gaps) >= 0.39, gaps


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_discover_finds_the_feed_and_the_sitemaps_and_prints_blocks_to_paste(
        tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        sources = serve_sources_site(site)
        config = _config(tmp_path, database_url, sources)
        result = run_cli("--config", str(config), "feeds", "discover", site.url("/"),
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    blocks = tomllib.loads(result.stdout)["feeds"]
    found = {(block["url"], block.get("kind", "feed")) for block in blocks}
    assert found == {(site.url("/rss.xml"), "feed"),
                     (site.url("/sitemap-index.xml"), "sitemap"),
                     (site.url("/news-sitemap.xml"), "news_sitemap")}
    assert "2 entries, newest 2025-06-02" in result.stdout  # the feed
    assert "2 child sitemaps" in result.stdout  # the index


def test_opml_import_prints_blocks_and_export_writes_the_configured_feeds(
        tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><body>
<outline text="News"><outline type="rss" text="Caspian Daily" title="Caspian Daily"
 xmlUrl="https://caspian.example/rss.xml" htmlUrl="https://caspian.example/"/>
<outline type="rss" text="Caspian Daily" xmlUrl="https://caspian.example/world.xml"/></outline>
<outline type="rss" text="Tech &amp; Science" xmlUrl="https://tech.example/atom"/>
</body></opml>""", encoding="utf-8")
    imported = run_cli("feeds", "import", str(opml), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    config = tmp_path / "imported.toml"
    config.write_text(imported.stdout, encoding="utf-8")
    feeds = tomllib.loads(imported.stdout)["feeds"]
    assert [(feed["name"], feed["url"]) for feed in feeds] == [
        ("caspian-daily", "https://caspian.example/rss.xml"),
        ("caspian-daily-2", "https://caspian.example/world.xml"),
        ("tech-science", "https://tech.example/atom")]

    exported = run_cli("--config", str(config), "feeds", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    again = tmp_path / "again.opml"
    again.write_text(exported.stdout, encoding="utf-8")
    reimported = run_cli("feeds", "import", str(again), cwd=tmp_path)
    assert tomllib.loads(reimported.stdout)["feeds"] == feeds


def test_backfill_of_a_feed_source_stores_older_articles_and_resumes_after_sigkill(
        tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        sources = serve_sources_site(site, archive_size=40)
        config = write_config(tmp_path / "config.toml", database_url=database_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("daily", site.url("/rss.xml"))],
                              fetch={"per_host_delay_seconds": 0.1})
        limited = run_cli("--config", str(config), "backfill", "daily", "--limit", "3",
                          cwd=tmp_path)
        assert limited.returncode == 0, limited.stderr
        assert "articles stored     3" in limited.stdout
        newest = sorted([*sources.archive, *sources.recent, *sources.news],
                        key=lambda story: story.published or date.min)[-3:]
        assert set(_stored(tmp_path).values()) == {story.corpus_text() for story in newest}

        process = start_cli("--config", str(config), "backfill", "daily", cwd=tmp_path)
        deadline = time.monotonic() + 60
        while len(_stored(tmp_path)) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = len(_stored(tmp_path))
        assert 10 <= killed_at < 45

        resumed = run_cli("--config", str(config), "backfill", "daily", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path)
    texts = list(_stored(tmp_path).values())
    expected = {story.corpus_text() for story in [*sources.archive, *sources.recent,
                                                  *sources.news]}
    assert len(texts) == len(set(texts)) and set(texts) == expected
    assert site.hit_count(f"/private/{sources.private.slug}.html") == 0
    runs = json.loads(status.stdout)["runs"]
    assert {run["trigger"] for run in runs} == {"backfill"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_source_allowed_to_ignore_robots_fetches_what_robots_txt_disallows(
        tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        sources = serve_sources_site(site)
        config = write_config(
            tmp_path / "config.toml", database_url=database_url,
            corpus_dir=tmp_path / "corpus", feeds=[], extra=f"""
[[feeds]]
name = "with-permission"
kind = "sitemap"
url = "{site.url('/sitemap-recent.xml')}"
respect_robots = false
""")
        result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert site.hit_count(f"/private/{sources.private.slug}.html") == 1
        assert site.hit_count("/robots.txt") == 0
    assert sources.private.corpus_text() in set(_stored(tmp_path).values())


def _archived_feed(items: list[tuple[FakeStory, str]], prev_archive: str | None) -> bytes:
    feed = rss_feed(items).replace('<rss version="2.0">',
                                   '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">')
    if prev_archive is not None:
        feed = feed.replace("<channel>", f'<channel>\n  <atom:link rel="prev-archive" '
                                         f'href="{prev_archive}"/>', 1)
    return feed.encode()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backfill_of_a_feed_without_sitemaps_follows_its_rfc5005_archive(
        tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        stories = [dated_story(f"story-{i}", date(2025, 1, 1 + i)) for i in range(6)]
        for story in stories:
            serve_story(site, f"/news/{story.slug}.html", story)

        def items(*numbers: int) -> list[tuple[FakeStory, str]]:
            return [(stories[n], site.url(f"/news/{stories[n].slug}.html")) for n in numbers]

        # The current feed, then two archive documents; the oldest points back at the
        # newer one (a loop the walk must end). No robots.txt, no sitemap: both 404.
        site.set("/rss.xml", Route(_archived_feed(items(5, 4), "/archive/2.xml"),
                                   content_type="application/rss+xml"))
        site.set("/archive/2.xml", Route(_archived_feed(items(3, 2), "/archive/1.xml"),
                                         content_type="application/rss+xml"))
        site.set("/archive/1.xml", Route(_archived_feed(items(1, 0), "/archive/2.xml"),
                                         content_type="application/rss+xml"))
        config = write_config(tmp_path / "config.toml", database_url=database_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("daily", site.url("/rss.xml"))],
                              fetch={"per_host_delay_seconds": 0})
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        assert set(_stored(tmp_path).values()) == {s.corpus_text() for s in stories[4:]}

        backfilled = run_cli("--config", str(config), "backfill", "daily", cwd=tmp_path)
        assert backfilled.returncode == 0, backfilled.stderr
        assert "articles stored     4" in backfilled.stdout
        assert set(_stored(tmp_path).values()) == {s.corpus_text() for s in stories}
        assert site.hit_count("/archive/2.xml") == 1 and site.hit_count("/archive/1.xml") == 1
        assert all(site.hit_count(f"/news/{s.slug}.html") == 1 for s in stories)
