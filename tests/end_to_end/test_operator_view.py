"""What an operator sees after a run with failures: per-feed article health in `status`
(text and JSON), every entry's fate in `articles`, suspended and disabled feeds told apart
from busy ones, with the command that helps."""

from __future__ import annotations

import csv
import io
import json
import shlex
import subprocess
from datetime import date
from pathlib import Path

from tests.cli_runner import command, environment, run_cli, write_config
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

LONG_NAME = "harbour-authority-reports-of-the-eastern-quays-feed"


def story(n: int) -> FakeStory:
    return FakeStory(
        slug=f"s{n}", title=f"Harbour authority report number {n}",
        paragraphs=(f"The harbour authority published report number {n} on Monday, describing "
                    f"the state of the eastern quays after the winter storms of the year.",
                    f"Engineers said repairs to berth {n} would start in spring and take about "
                    f"four months, with ferries moved to the western terminal meanwhile."),
        published=date(2025, 4, n))


def serve_feeds(site: LoopbackSite) -> None:
    good = [(story(1), site.url("/a/1.html")), (story(2), site.url("/a/2.html"))]
    for item, link in good:
        site.set(link.split(str(site.port))[1], Route(news_page(item).encode()))
    site.set("/good.xml", Route(rss_feed(good).encode(), content_type="application/rss+xml"))
    site.set("/empty.xml", Route(rss_feed([]).encode(), content_type="application/rss+xml"))
    # One page stored, three missing (404): the feed answers but most articles fail.
    broken = [(story(3), site.url("/b/3.html"))] + [
        (story(n), site.url(f"/b/missing-{n}.html")) for n in (4, 5, 6)]
    site.set("/b/3.html", Route(news_page(story(3)).encode()))
    site.set("/broken.xml", Route(rss_feed(broken).encode(),
                                  content_type="application/rss+xml"))


def test_feed_whose_articles_mostly_fail_is_failing_with_counts(tmp_path: Path,
                                                                 database_url: str) -> None:
    with serve_site() as site:
        serve_feeds(site)
        config = write_config(tmp_path / "c.toml", database_url=database_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("good", site.url("/good.xml")),
                                     ("broken", site.url("/broken.xml")),
                                     (LONG_NAME, site.url("/empty.xml"))])
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        text = run_cli("--config", str(config), "status", cwd=tmp_path,
                       env={"COLUMNS": "200"}).stdout
        narrow = run_cli("--config", str(config), "status", cwd=tmp_path,
                         env={"COLUMNS": "40"}).stdout
        report = json.loads(run_cli("--config", str(config), "status", "--json",
                                    cwd=tmp_path).stdout)
        failed = run_cli("--config", str(config), "articles", "--state", "failed",
                         cwd=tmp_path)
        failed_json = [json.loads(line) for line in run_cli(
            "--config", str(config), "articles", "--json", "--feed", "broken",
            cwd=tmp_path).stdout.splitlines()]
    feeds = {feed["name"]: feed for feed in report["feeds"]}
    assert feeds["good"]["health"] == "ok"
    assert feeds["broken"]["health"] == "failing"
    assert "3 of 4 articles failed" in feeds["broken"]["health_reason"]
    assert "http_not_found" in feeds["broken"]["health_reason"]
    assert feeds["broken"]["articles"]["last_run"] == {
        "stored": 1, "failed": 3, "failures_by_kind": {"http_not_found": 3}}
    assert feeds["broken"]["articles"]["last_24h"]["failed"] == 3
    assert feeds["good"]["articles"]["last_run"]["stored"] == 2
    assert report["feeds_summary"] == "1 failing, 2 ok"
    # The header tells the truth, and lines are not cut at 80 columns on a wide terminal.
    assert "feeds: 1 failing, 2 ok" in text.splitlines()[0]
    assert "last run 1 stored, 3 failed" in text
    assert "3 of 4 articles failed in its last run, mostly http_not_found" in text
    long_line = next(line for line in text.splitlines() if LONG_NAME in line)
    assert len(long_line) > 80 and " next " in long_line and "…" not in long_line
    # 80 columns at least, however narrow the terminal says it is.
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert any(line.startswith(f"  {LONG_NAME} ok") and len(line) == 80
               for line in narrow.splitlines())
    # Every failed URL, with its kind and reason.
    assert failed.returncode == 0
    for n in (4, 5, 6):
        assert f"/b/missing-{n}.html" in failed.stdout
    assert failed.stdout.count("http_not_found") == 3
    assert "3 entries" in failed.stdout
    states = sorted(item["state"] for item in failed_json)
    assert states == ["failed", "failed", "failed", "stored"]
    stored = next(item for item in failed_json if item["state"] == "stored")
    assert stored["file_name"].endswith(".txt") and stored["title"]
    # Its extraction signals: language, method and length.
    assert stored["language"] == "en" and stored["method"] == "main"
    assert stored["text_length"] > 100


def test_suspended_and_disabled_feeds_are_not_called_busy(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    with serve_site() as site:
        serve_feeds(site)
        site.set("/down.xml", Route(b"down", status=500, content_type="text/plain"))
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("down", site.url("/down.xml")),
                                     ("good", site.url("/good.xml"))],
                              schedule={"suspend_after_failures": 1})
        text = config.read_text(encoding="utf-8").replace(
            'name = "good"\n', 'name = "good"\nenabled = false\n')
        config.write_text(text, encoding="utf-8")
        first = run_cli("--config", str(config), "fetch", "--feed", "down", cwd=tmp_path)
        again = run_cli("--config", str(config), "fetch", "--feed", "down", cwd=tmp_path)
        disabled = run_cli("--config", str(config), "fetch", "--feed", "good", cwd=tmp_path)
        listed = run_cli("--config", str(config), "feeds", "list", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert again.returncode == 1
    assert "down: suspended" in again.stdout
    assert "source-ingest feeds resume down" in again.stdout
    assert "busy" not in again.stdout
    assert disabled.returncode == 1
    assert "good: disabled" in disabled.stdout and "enabled = false" in disabled.stdout
    assert "busy" not in disabled.stdout
    assert site.hit_count("/good.xml") == 0
    assert "disabled" in listed.stdout and "suspended" in listed.stdout


GERMAN = FakeStory(
    slug="de1", title="Hafenbehörde legt Bericht vor",
    paragraphs=("Die Hafenbehörde hat am Montag ihren Bericht über den Zustand der östlichen "
                "Kais nach den Winterstürmen vorgelegt, wie ein Sprecher mitteilte.",
                "Die Reparaturen sollen im Frühjahr beginnen und etwa vier Monate dauern; die "
                "Fähren legen in dieser Zeit am westlichen Terminal an."),
    published=date(2025, 4, 9))


def serve_mixed_languages(site: LoopbackSite) -> None:
    """/mixed.xml: an English story (/a/1.html) and a German one (/de/1.html)."""
    items = [(story(1), site.url("/a/1.html")), (GERMAN, site.url("/de/1.html"))]
    site.set("/a/1.html", Route(news_page(story(1)).encode()))
    site.set("/de/1.html", Route(news_page(GERMAN).encode()))
    site.set("/mixed.xml", Route(rss_feed(items).encode(), content_type="application/rss+xml"))


def test_language_is_detected_stored_and_filtered_per_feed(tmp_path: Path,
                                                           sqlite_url: str) -> None:
    with serve_site() as site:
        serve_mixed_languages(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("mixed", site.url("/mixed.xml"))])
        text = config.read_text(encoding="utf-8").replace(
            'interval_seconds = 1\n', 'interval_seconds = 1\nfilters = { languages = ["en"] }\n')
        config.write_text(text, encoding="utf-8")
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        entries = [json.loads(line) for line in run_cli(
            "--config", str(config), "articles", "--json", cwd=tmp_path).stdout.splitlines()]
    assert fetched.returncode == 0, fetched.stderr
    assert "filtered out        1" in fetched.stdout
    assert "language de is not one of en" in fetched.stderr
    states = {entry["url"].rsplit("/", 2)[-2]: entry["state"] for entry in entries}
    assert states == {"a": "stored", "de": "filtered"}


def test_invalid_css_selector_is_a_config_error_naming_the_key(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                          corpus_dir=tmp_path / "corpus",
                          feeds=[("site", "http://127.0.0.1:1/feed.xml")])
    text = config.read_text(encoding="utf-8").replace(
        'interval_seconds = 1\n',
        'interval_seconds = 1\nextraction = { keep = ["div.story p", "article >"] }\n')
    config.write_text(text, encoding="utf-8")
    result = run_cli("--config", str(config), "status", cwd=tmp_path)
    assert result.returncode == 2
    assert "feeds[0].extraction.keep[1]: invalid CSS selector 'article >'" in result.stderr


def test_export_streams_stored_articles_resumably_as_jsonl_and_csv(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    with serve_site() as site:
        serve_feeds(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("good", site.url("/good.xml")),
                                     ("broken", site.url("/broken.xml"))])
        assert run_cli("--config", str(config), "fetch", cwd=tmp_path).returncode == 0
    records = [json.loads(line) for line in run_cli(
        "--config", str(config), "export", "--format", "jsonl", cwd=tmp_path).stdout.splitlines()]
    assert [record["sequence"] for record in records] == [0, 1, 2]
    texts = {path.name: path.read_text(encoding="utf-8") for path in
             (tmp_path / "corpus").glob("*.txt")}
    for record in records:
        assert set(record) == {"sequence", "file_name", "content_hash", "url", "feed", "title",
                               "published", "language", "fetched_at", "text"}
        assert texts[record["file_name"]].endswith(record["text"])
        assert record["language"] == "en" and record["url"].startswith("http://127.0.0.1")
    later = run_cli("--config", str(config), "export", "--after", "0", "--feed", "good",
                    cwd=tmp_path)
    assert [json.loads(line)["sequence"] for line in later.stdout.splitlines()] == [
        record["sequence"] for record in records[1:] if record["feed"] == "good"]
    as_csv = list(csv.DictReader(io.StringIO(run_cli(
        "--config", str(config), "export", "--format", "csv", cwd=tmp_path).stdout)))
    assert [row["text"] for row in as_csv] == [record["text"] for record in records]
    piped = subprocess.run(" ".join([*map(shlex.quote, command(
        "--config", str(config), "export")), "|", "head", "-1"]), shell=True, cwd=tmp_path,
        capture_output=True, text=True, env=environment(), timeout=60)
    assert json.loads(piped.stdout)["sequence"] == 0
    assert "Traceback" not in piped.stderr
