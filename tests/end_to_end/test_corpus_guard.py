"""A corpus that cannot double: a folder the index does not know is refused before anything is
written (naming `reindex`), `reindex` rebuilds the index from the files (idempotent), and a
folder that cannot be written stops the fetch before the first article."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from pathlib import Path

from tests.cli_runner import run_cli, write_config
from tests.end_to_end.test_operator_view import serve_feeds
from tests.loopback import serve_site


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.txt"))


def test_new_index_on_an_old_corpus_is_refused_until_reindexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    with serve_site() as site:
        serve_feeds(site)
        feeds = [("good", site.url("/good.xml"))]
        first = write_config(tmp_path / "a.toml", database_url=f"sqlite:///{tmp_path}/a.db",
                             corpus_dir=corpus, feeds=feeds)
        assert run_cli("--config", str(first), "fetch", cwd=tmp_path).returncode == 0
        stored = _names(corpus)
        assert len(stored) == 2
        # The same folder with a new (empty) index: the index was lost.
        lost = write_config(tmp_path / "b.toml", database_url=f"sqlite:///{tmp_path}/b.db",
                            corpus_dir=corpus, feeds=feeds)
        refused = run_cli("--config", str(lost), "fetch", cwd=tmp_path)
        served = run_cli("--config", str(lost), "run", cwd=tmp_path, timeout=30)
        assert _names(corpus) == stored  # nothing written twice
        assert refused.returncode == 2 and served.returncode == 2
        for result in (refused, served):
            assert "source-ingest reindex" in result.stderr
            assert "2 article file(s) the index does not know" in result.stderr
        reindexed = run_cli("--config", str(lost), "reindex", cwd=tmp_path)
        again = run_cli("--config", str(lost), "reindex", cwd=tmp_path)
        assert reindexed.returncode == 0, reindexed.stdout + reindexed.stderr
        assert "2 files, 2 added to the index, 0 already in it" in reindexed.stdout
        # The page archive beside the corpus tells each article's URL, feed and title.
        assert "2 with URL and feed from the archive" in reindexed.stdout
        with sqlite3.connect(tmp_path / "b.db") as conn:
            origins = conn.execute("SELECT url, feed, title FROM articles").fetchall()
        assert sorted(url for url, _, _ in origins) == [
            site.url("/a/1.html"), site.url("/a/2.html")]
        assert {feed for _, feed, _ in origins} == {"good"}
        assert all(title for _, _, title in origins)
        assert "2 files, 0 added to the index, 2 already in it" in again.stdout
        verify = run_cli("--config", str(lost), "verify", cwd=tmp_path)
        assert verify.returncode == 0, verify.stdout
        fetched = run_cli("--config", str(lost), "fetch", cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        # The stories are known again by their text: duplicates, not new files.
        assert _names(corpus) == stored
        assert "duplicates skipped  2" in fetched.stdout
        found = run_cli("--config", str(lost), "articles", "--search", "eastern quays",
                        "--json", cwd=tmp_path)
        status = json.loads(run_cli("--config", str(lost), "status", "--json",
                                    cwd=tmp_path).stdout)
    assert status["articles_stored"] == 2
    assert len(found.stdout.splitlines()) == 2


def test_unwritable_corpus_folder_stops_the_fetch_before_the_first_article(
        tmp_path: Path, sqlite_url: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the corpus folder's parent should be", encoding="utf-8")
    with serve_site() as site:
        serve_feeds(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url,
                              corpus_dir=blocker / "corpus",
                              feeds=[("good", site.url("/good.xml"))])
        result = run_cli("--config", str(config), "fetch", cwd=tmp_path)
        hits = site.hit_count("/good.xml") + site.hit_count("/a/1.html")
    assert result.returncode == 2
    assert "cannot be written" in result.stderr and str(blocker) in result.stderr
    assert hits == 0


def test_verify_says_what_to_do_and_repair_does_the_safe_ones(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    corpus = tmp_path / "corpus"
    with serve_site() as site:
        serve_feeds(site)
        config = write_config(tmp_path / "c.toml", database_url=sqlite_url, corpus_dir=corpus,
                              feeds=[("good", site.url("/good.xml"))])
        assert run_cli("--config", str(config), "fetch", cwd=tmp_path).returncode == 0
    host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64]
    # A dead writer's temporary file (no process has pid 4194304: above Linux's pid_max).
    (corpus / f".tmp-{host}-4194304-deadbeef-002_0123456789abcdef.txt").write_text(
        "half", encoding="utf-8")
    # An intact article file the index does not know (restored from a backup, say).
    (corpus / "007_fedcba9876543210.txt").write_text(
        " date 2025-05-01 A restored article about the ferry timetable for the summer.",
        encoding="utf-8")
    found = run_cli("--config", str(config), "verify", cwd=tmp_path)
    repaired = run_cli("--config", str(config), "verify", "--repair", cwd=tmp_path)
    again = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert found.returncode == 1
    assert "temporary_file" in found.stdout and "orphan_file" in found.stdout
    assert found.stdout.count("what to do:") == 2
    assert "`source-ingest verify --repair` fixes the ones it can safely" in found.stdout
    assert repaired.returncode == 0, repaired.stdout
    assert "1 temporary file(s) removed, 1 file(s) added to the index" in repaired.stdout
    assert again.returncode == 0 and "OK" in again.stdout
    assert sorted(path.name for path in corpus.iterdir())[-1] == "007_fedcba9876543210.txt"
