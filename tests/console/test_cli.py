"""The command line as operators use it: exit codes, summaries, status, extract, verify."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

from tests.cli_runner import run_cli, write_config
from tests.loopback import Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

STORY = FakeStory(
    slug="s1", title="Missing persons commission meets",
    paragraphs=("The commission on missing persons met on Tuesday to review new evidence "
                "gathered over the summer months by its field teams.",
                "Its chairman said the identification of remains would continue through "
                "the winter with the help of two new laboratories."),
    published=date(2025, 3, 4))


def test_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[feeds]]\nname = "a"\nurl = "gopher://x"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
    assert result.returncode == 2
    assert "feeds[0].url: not an http(s) URL" in result.stderr


def test_database_error_exits_3_without_showing_the_password(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        database_url="postgresql+psycopg://ingest:s3cret-pw@127.0.0.1:1/nowhere",
        corpus_dir=tmp_path / "seeds", feeds=[("a", "http://127.0.0.1:1/feed")])
    result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
    assert result.returncode == 3
    assert "database error" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_database_error_in_any_command_exits_3_with_one_message(tmp_path: Path,
                                                                  sqlite_url: str) -> None:
    # The index opens, then a statement fails (a write here, through a trigger that names
    # a table that is gone, and reads of a table that is gone; a read-only role, a full disk
    # or a dropped connection fail the same way): every command says "database error" once
    # and exits 3, never with a traceback. `feeds list` and `feeds resume` showed one.
    import sqlite3

    config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                          corpus_dir=tmp_path / "seeds", feeds=[("a", "http://127.0.0.1:1/")])
    assert run_cli("--config", str(config), "db", "upgrade", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "index.sqlite3") as db:
        db.execute("ALTER TABLE runs RENAME TO runs_elsewhere")
        db.execute("ALTER TABLE entries RENAME TO entries_elsewhere")
        db.execute("CREATE TRIGGER broken BEFORE INSERT ON feeds "
                   "BEGIN INSERT INTO gone_table VALUES (1); END")
    for command in (["feeds", "list"], ["feeds", "resume", "a"], ["status"], ["articles"]):
        result = run_cli("--config", str(config), *command, cwd=tmp_path)
        assert result.returncode == 3, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.count("database error") == 1, result.stderr
        assert "no such table" in result.stderr


def test_unknown_feed_name_is_a_config_error(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                          corpus_dir=tmp_path / "seeds", feeds=[("a", "http://127.0.0.1:1/")])
    result = run_cli("--config", str(config), "fetch", "--feed", "nope", cwd=tmp_path)
    assert result.returncode == 2 and "unknown feed nope" in result.stderr


def test_failing_feed_is_counted_by_kind_and_others_still_store(tmp_path: Path,
                                                                sqlite_url: str) -> None:
    with serve_site() as site:
        site.set("/good.xml", Route(rss_feed([(STORY, site.url("/a.html"))]).encode(),
                                    content_type="application/rss+xml"))
        site.set("/a.html", Route(news_page(STORY).encode()))
        site.set("/broken.xml", Route(b"oops", status=500, content_type="text/plain"))
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "seeds",
                              feeds=[("good", site.url("/good.xml")),
                                     ("broken", site.url("/broken.xml"))])
        result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "articles stored     1" in result.stdout
        assert "http_server_error" in result.stdout
        status = run_cli("--config", str(config), "status", cwd=tmp_path)
    assert status.returncode == 0
    assert all(len(line) <= 80 for line in status.stdout.splitlines()), status.stdout
    assert "broken" in status.stdout and "http_server_error" in status.stdout
    report = json.loads(run_cli("--config", str(config), "status", "--json",
                                cwd=tmp_path).stdout)
    broken = next(feed for feed in report["feeds"] if feed["name"] == "broken")
    assert broken["consecutive_failures"] == 1 and broken["health"] == "failing"
    assert report["runs"][0]["failures_by_kind"] == {"http_server_error": 1}


def test_extract_prints_exactly_the_corpus_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(news_page(STORY), encoding="utf-8")
    result = run_cli("extract", str(page), "--url", "https://news.example/a", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == STORY.corpus_text()


def test_extract_input_dir_writes_each_corpus_text_and_exits_1_for_a_page_without_text(
        tmp_path: Path) -> None:
    pages, out = tmp_path / "pages", tmp_path / "out"
    pages.mkdir()
    (pages / "story.html").write_text(news_page(STORY), encoding="utf-8")
    (pages / "blank.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>",
                                      encoding="utf-8")
    (pages / "index.json").write_text(json.dumps([
        {"name": "story", "url": "https://news.example/a", "title": STORY.title},
    ]), encoding="utf-8")
    result = run_cli("extract", "--input-dir", str(pages), "--output-dir", str(out),
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert (out / "story.txt").read_text(encoding="utf-8") == STORY.corpus_text()
    assert not (out / "blank.txt").exists()
    assert "pages: 2" in result.stdout
    assert "pages with no text: 1" in result.stdout
    assert "no text: blank" in result.stdout
    assert "seconds: " in result.stdout


def test_extract_input_dir_exits_0_when_every_page_gave_text(tmp_path: Path) -> None:
    pages, out = tmp_path / "pages", tmp_path / "out"
    pages.mkdir()
    (pages / "story.html").write_text(news_page(STORY), encoding="utf-8")
    result = run_cli("extract", "--input-dir", str(pages), "--output-dir", str(out),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "story.txt").read_text(encoding="utf-8") == STORY.corpus_text()


def test_extract_input_dir_without_output_dir_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("extract", "--input-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "--input-dir and --output-dir go together" in result.stderr


def test_verify_fails_when_a_file_is_missing(tmp_path: Path, sqlite_url: str) -> None:
    with serve_site() as site:
        site.set("/good.xml", Route(rss_feed([(STORY, site.url("/a.html"))]).encode(),
                                    content_type="application/rss+xml"))
        site.set("/a.html", Route(news_page(STORY).encode()))
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=tmp_path / "seeds",
                              feeds=[("good", site.url("/good.xml"))])
        assert run_cli("--config", str(config), "fetch", cwd=tmp_path).returncode == 0
    assert run_cli("--config", str(config), "verify", cwd=tmp_path).returncode == 0
    for path in (tmp_path / "seeds").glob("*.txt"):
        path.unlink()
    result = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert result.returncode == 1 and "missing_file" in result.stdout


def test_fetch_exits_with_its_output_and_log_complete_and_the_index_closed(
        tmp_path: Path) -> None:
    database = tmp_path / "index.sqlite3"
    with serve_site() as site:
        site.set("/good.xml", Route(rss_feed([(STORY, site.url("/a.html"))]).encode(),
                                    content_type="application/rss+xml"))
        site.set("/a.html", Route(news_page(STORY).encode()))
        config = write_config(tmp_path / "c.toml", database_url=f"sqlite:///{database}",
                              corpus_dir=tmp_path / "seeds",
                              feeds=[("good", site.url("/good.xml"))])
        result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("  failures")
    assert "articles stored     1" in result.stdout
    last_log = json.loads(result.stderr.strip().splitlines()[-1])
    assert last_log["event"] == "run_finished" and last_log["articles_stored"] == 1
    # The last connection to close checkpoints SQLite's write-ahead log and removes it.
    assert not (tmp_path / "index.sqlite3-wal").exists()


def test_a_feed_with_nothing_new_is_logged_only_at_debug_level(tmp_path: Path) -> None:
    # 1,000 feeds every 15 minutes mostly answer 304: a line each at INFO drowned the rest.
    with serve_site() as site:
        site.set("/news.xml", Route(rss_feed([(STORY, site.url("/a.html"))]).encode(),
                                    content_type="application/rss+xml"))
        site.set("/a.html", Route(news_page(STORY).encode()))
        config = write_config(tmp_path / "c.toml",
                              database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
                              corpus_dir=tmp_path / "seeds",
                              feeds=[("news", site.url("/news.xml"))])
        runs = [run_cli("--config", str(config), "--log-level", level, "fetch", cwd=tmp_path)
                for level in ("info", "info", "debug")]

    def polled(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stderr.splitlines()]
        return [event for event in events if event["event"] == "feed_polled"]

    first, unchanged, unchanged_debug = (polled(result) for result in runs)
    assert [(e["level"], e["new_entries"]) for e in first] == [("info", 1)]
    assert unchanged == []
    assert [(e["level"], e["not_modified"]) for e in unchanged_debug] == [("debug", True)]


def test_python_dash_m_ingest_runs_the_same_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ingest", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "fetch" in result.stdout and "status" in result.stdout


def test_missing_postgresql_driver_names_the_extra_to_install(tmp_path: Path) -> None:
    # A Python without psycopg (the README's plain install): a stub that fails to import.
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "psycopg.py").write_text(
        'raise ModuleNotFoundError("No module named \'psycopg\'", name="psycopg")\n',
        encoding="utf-8")
    config = write_config(
        tmp_path / "c.toml", database_url="postgresql+psycopg://ingest:pw@127.0.0.1:1/x",
        corpus_dir=tmp_path / "seeds", feeds=[("a", "http://127.0.0.1:1/feed")])
    for command in (["status"], ["db", "current"]):
        result = run_cli("--config", str(config), *command, cwd=tmp_path,
                         env={"PYTHONPATH": str(stubs)})
        assert result.returncode == 3, result.stderr
        assert "pip install -e '.[postgres]'" in result.stderr
        assert "Traceback" not in result.stderr and "pw@" not in result.stderr


def test_version_is_printed(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("source-ingest, version ")
