"""Issue 19's points that each need the real CLI or service: the global language filter,
full-text search on both databases, one log line per failed article, an interrupted fetch,
and `run` naming the environment variables that override the file."""

from __future__ import annotations

import json
import re
import signal
import time
from datetime import date
from pathlib import Path

from tests.cli_runner import run_cli, start_cli, write_config
from tests.end_to_end.test_operator_view import serve_feeds, serve_mixed_languages, story
from tests.loopback import Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

CORPUS_FILE = re.compile(r"\d{3,}_[0-9a-f]{16}\.txt")

LIGHTHOUSE = FakeStory(
    slug="lh", title="Lighthouse keeper retires",
    paragraphs=("The last lighthouse keeper of the northern cape retired on Friday after "
                "forty years of tending the lamp through gales and fog.",
                "Villagers gathered at the foot of the tower to thank him, and the council "
                "said the light would now be run automatically from the mainland."),
    published=date(2025, 4, 20))


def test_global_languages_filter_applies_to_every_feed(tmp_path: Path,
                                                       sqlite_url: str) -> None:
    with serve_site() as site:
        serve_mixed_languages(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("mixed", site.url("/mixed.xml"))],
                              extra='[filters]\nlanguages = ["en"]\n')
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        entries = [json.loads(line) for line in run_cli(
            "--config", str(config), "articles", "--json", cwd=tmp_path).stdout.splitlines()]
    assert fetched.returncode == 0, fetched.stderr
    assert "filtered out        1" in fetched.stdout
    assert "language de is not one of en" in fetched.stderr
    states = {entry["url"].rsplit("/", 2)[-2]: entry["state"] for entry in entries}
    assert states == {"a": "stored", "de": "filtered"}


def test_full_text_search_in_cli_and_api(tmp_path: Path, database_url: str) -> None:
    with serve_site() as site:
        items = [(story(1), site.url("/a/1.html")), (LIGHTHOUSE, site.url("/a/lh.html"))]
        site.set("/a/1.html", Route(news_page(story(1)).encode()))
        site.set("/a/lh.html", Route(news_page(LIGHTHOUSE).encode()))
        site.set("/news.xml", Route(rss_feed(items).encode(),
                                    content_type="application/rss+xml"))
        config = write_config(tmp_path / "c.toml", database_url=database_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("news", site.url("/news.xml"))])
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        found = [json.loads(line) for line in run_cli(
            "--config", str(config), "articles", "--json", "--search", "lighthouse keeper",
            cwd=tmp_path).stdout.splitlines()]
        none = run_cli("--config", str(config), "articles", "--json", "--search", "volcano",
                       cwd=tmp_path)
        port = _free_port()
        service = start_cli("--config", str(config), "run", "--http", f"127.0.0.1:{port}",
                            cwd=tmp_path)
        try:
            answer = _get_json(port, "/api/entries?search=lighthouse%20keeper")
            missing = _get_json(port, "/api/entries?search=volcano")
        finally:
            service.send_signal(signal.SIGTERM)
            service.communicate(timeout=20)
    assert [item["url"] for item in found] == [site.url("/a/lh.html")]
    assert none.returncode == 0 and none.stdout.strip() == ""
    urls = [item["url"] for item in answer["entries"]]
    assert urls == [site.url("/a/lh.html")]
    assert missing["entries"] == []


def test_each_failed_article_is_logged_once_with_its_url(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    with serve_site() as site:
        serve_feeds(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("broken", site.url("/broken.xml"))])
        fetched = run_cli("--config", str(config), "fetch", cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    for n in (4, 5, 6):
        url = site.url(f"/b/missing-{n}.html")
        lines = [line for line in fetched.stderr.splitlines() if url in line]
        assert len(lines) == 1, (url, fetched.stderr)
        assert "http_not_found" in lines[0]


def test_interrupted_fetch_exits_130_and_leaves_no_partial_file(tmp_path: Path,
                                                                sqlite_url: str) -> None:
    with serve_site() as site:
        items = [(story(1), site.url("/a/1.html")), (LIGHTHOUSE, site.url("/a/slow.html"))]
        site.set("/a/1.html", Route(news_page(story(1)).encode()))
        site.set("/a/slow.html", Route(news_page(LIGHTHOUSE).encode(), delay_seconds=8))
        site.set("/news.xml", Route(rss_feed(items).encode(),
                                    content_type="application/rss+xml"))
        corpus = tmp_path / "corpus"
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url, corpus_dir=corpus,
                              feeds=[("news", site.url("/news.xml"))],
                              fetch={"total_timeout": 30})
        fetch = start_cli("--config", str(config), "fetch", cwd=tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and site.hit_count("/a/slow.html") == 0:
            time.sleep(0.05)
        assert site.hit_count("/a/slow.html") == 1, "the fetch never reached the slow page"
        fetch.send_signal(signal.SIGINT)
        _, stderr = fetch.communicate(timeout=30)
    assert fetch.returncode == 130, stderr
    assert "Traceback" not in stderr
    leftovers = [path.name for path in corpus.rglob("*")
                 if path.is_file() and not CORPUS_FILE.fullmatch(path.name)
                 and path.parent == corpus]
    assert leftovers == []
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_run_announces_environment_overrides(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path / "c.toml", database_url="sqlite:///ignored.sqlite3",
                          corpus_dir=tmp_path / "ignored", feeds=[])
    service = start_cli("--config", str(config), "run", cwd=tmp_path,
                        env={"SOURCE_INGEST_DATABASE_URL": sqlite_url,
                             "SOURCE_INGEST_CORPUS_DIR": str(tmp_path / "corpus")})
    try:
        starting = _read_log_event(service, "starting")
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=20)
    assert sorted(starting["from_environment"]) == ["SOURCE_INGEST_CORPUS_DIR",
                                                    "SOURCE_INGEST_DATABASE_URL"]
    assert starting["corpus_dir"] == str(tmp_path / "corpus")
    assert not (tmp_path / "ignored.sqlite3").exists()


def _read_log_event(process: object, event: str) -> dict[str, object]:
    stream = process.stderr  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                return record
    raise AssertionError(f"no {event!r} log line")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(port: int, path: str) -> dict[str, object]:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_api_fetch_tells_suspended_disabled_and_busy_feeds_apart(tmp_path: Path,
                                                                 sqlite_url: str) -> None:
    with serve_site() as site:
        serve_feeds(site)
        site.set("/down.xml", Route(b"down", status=500, content_type="text/plain"))
        site.set("/slow.xml", Route(rss_feed([]).encode(), delay_seconds=20,
                                    content_type="application/rss+xml"))
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "corpus",
                              feeds=[("down", site.url("/down.xml")),
                                     ("off", site.url("/good.xml")),
                                     ("slow", site.url("/slow.xml"))],
                              schedule={"suspend_after_failures": 1},
                              fetch={"total_timeout": 30})
        text = config.read_text(encoding="utf-8").replace(
            'name = "off"\n', 'name = "off"\nenabled = false\n')
        config.write_text(text, encoding="utf-8")
        assert run_cli("--config", str(config), "fetch", "--feed", "down",
                       cwd=tmp_path).returncode == 0
        polls_of_down = site.hit_count("/down.xml")
        port = _free_port()
        service = start_cli("--config", str(config), "run", "--http", f"127.0.0.1:{port}",
                            cwd=tmp_path)
        try:
            _get_json(port, "/healthz")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and site.hit_count("/slow.xml") == 0:
                time.sleep(0.05)
            assert site.hit_count("/slow.xml") == 1, "the service never polled the slow feed"
            busy = _post_fetch(port, ["slow"])
            suspended = _post_fetch(port, ["down"])
            disabled = _post_fetch(port, ["off"])
        finally:
            service.send_signal(signal.SIGTERM)
            service.communicate(timeout=30)
    # The service's scheduled run is polling it: the manual run leaves it (one poll, not two).
    assert busy[0] == 202 and busy[1]["busy"] == ["slow"], busy
    assert site.hit_count("/slow.xml") == 1
    assert busy[1]["not_polled"]["slow"]["health"] == "busy"
    assert suspended[0] == 202 and suspended[1]["busy"] == []
    assert suspended[1]["not_polled"]["down"]["health"] == "suspended"
    assert "source-ingest feeds resume down" in suspended[1]["not_polled"]["down"]["hint"]
    assert disabled[0] == 409
    assert disabled[1]["not_polled"]["off"]["health"] == "disabled"
    assert "enabled = false in the config" in disabled[1]["hint"]
    assert site.hit_count("/good.xml") == 0 and site.hit_count("/down.xml") == polls_of_down


def _post_fetch(port: int, feeds: list[str]) -> tuple[int, dict[str, object]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/fetch", data=json.dumps({"feeds": feeds}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_reindex_killed_midway_then_run_again_completes_without_duplicates(
        tmp_path: Path, database_url: str) -> None:
    import hashlib

    from sqlalchemy import create_engine, text

    from storage.corpus import corpus_file_name, format_corpus_text

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    files = 3000
    for n in range(files):
        body = (f"Report {n} of the harbour archive: berth ledger{n} was inspected on "
                f"Monday.\n\nThe inspectors found the quay wall of section {n} sound.")
        content_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
        (corpus / corpus_file_name(n, content_hash)).write_text(
            format_corpus_text(date(2025, 1, 1 + n % 28), body), encoding="utf-8")
    config = write_config(tmp_path / "c.toml", database_url=database_url, corpus_dir=corpus,
                          feeds=[])
    engine = create_engine(database_url)

    def indexed() -> int:
        try:
            with engine.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
        except Exception:  # the schema is not made yet
            return 0

    try:
        reindex = start_cli("--config", str(config), "reindex", cwd=tmp_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and indexed() == 0 and reindex.poll() is None:
            time.sleep(0.01)
        assert reindex.poll() is None, "reindex ended before it could be killed"
        reindex.send_signal(signal.SIGKILL)
        reindex.communicate(timeout=30)
        partial = indexed()
        assert 0 < partial < files
        again = run_cli("--config", str(config), "reindex", cwd=tmp_path, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert (f"{files} files, {files - partial} added to the index, {partial} already "
                f"in it") in again.stdout
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT count(*), count(DISTINCT sequence), count(DISTINCT content_hash) "
                "FROM articles")).one()
    finally:
        engine.dispose()
    assert tuple(rows) == (files, files, files)
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path, timeout=600)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for n in (0, files - 1):
        found = run_cli("--config", str(config), "articles", "--json", "--search",
                        f"ledger{n}", cwd=tmp_path)
        assert len(found.stdout.splitlines()) == 1, found.stdout + found.stderr
