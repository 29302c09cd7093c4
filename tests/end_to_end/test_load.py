"""Load: 200 feeds on one loopback site, a tenth of the feed and page responses failing.

The run completes, every good article is stored (and nothing else), every failure is counted
under its kind, and the process's peak memory stays bounded. By default each feed has 5
entries (1,000 in all) so the suite fits in CI; SOURCE_INGEST_FULL_LOAD=1 runs the full
200 x 50 (10,000 entries, several minutes on two cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.cli_runner import command, environment, run_cli, write_config
from tests.faultserver import LOAD_FAULTS, corpus_texts, serve_news_load
from tests.loopback import serve_site

FULL = os.environ.get("SOURCE_INGEST_FULL_LOAD") == "1"
FEEDS = 200
ENTRIES_PER_FEED = 50 if FULL else 5
FAULT_RATE = 0.10
PEAK_RSS_LIMIT_MB = 400


def _kilobytes(pid: int, file: str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(child) for child in task.read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


class _MemoryWatch:
    """Peak RSS of a process (VmHWM), and the peak PSS of it with its workers together."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_tree_pss_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            self.peak_rss_kb = max(self.peak_rss_kb, _kilobytes(self.pid, "status", "VmHWM"))
            tree = [self.pid, *_descendants(self.pid)]
            self.peak_tree_pss_kb = max(self.peak_tree_pss_kb, sum(
                _kilobytes(pid, "smaps_rollup", "Pss") for pid in tree))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@pytest.mark.timeout(900 if FULL else 180)
def test_two_hundred_feeds_with_a_tenth_failing_store_every_good_article(
        tmp_path: Path) -> None:
    with serve_site() as site:
        load = serve_news_load(site, feeds=FEEDS, entries=ENTRIES_PER_FEED,
                               fault_rate=FAULT_RATE, seed=11)
        config = write_config(tmp_path / "config.toml",
                              database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
                              corpus_dir=tmp_path / "corpus", feeds=list(load.feeds),
                              fetch={"max_concurrency": 16, "per_host_concurrency": 16})
        started = time.monotonic()
        with (tmp_path / "fetch.log").open("wb") as log:
            fetch = subprocess.Popen(
                command("--config", str(config), "--log-level", "warning", "fetch"),
                cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, env=environment())
            watch = _MemoryWatch(fetch.pid)
            summary, _ = fetch.communicate(timeout=840 if FULL else 150)
            watch.stop()
        seconds = time.monotonic() - started
    assert fetch.returncode == 0, (tmp_path / "fetch.log").read_text()[-3000:]
    texts = corpus_texts(tmp_path / "corpus")
    entries = FEEDS * ENTRIES_PER_FEED
    print(f"\nload: {FEEDS} feeds x {ENTRIES_PER_FEED} entries ({entries}), "
          f"{load.failing_feeds} feeds and {load.failing_pages} pages failing, "
          f"{len(texts)} articles stored in {seconds:.1f} s "
          f"({len(texts) / seconds:.0f}/s), peak RSS {watch.peak_rss_kb / 1024:.0f} MB "
          f"(with extraction workers, PSS {watch.peak_tree_pss_kb / 1024:.0f} MB)\n"
          f"{summary.decode()}")

    assert len(texts) == len(set(texts)) == len(load.expected_texts)
    assert set(texts) == load.expected_texts
    status = json.loads(run_cli("--config", str(config), "status", "--json",
                                cwd=tmp_path).stdout)
    run = status["runs"][0]
    assert run["state"] == "finished" and run["feeds_polled"] == FEEDS
    assert set(run["failures_by_kind"]) <= {kind for kind, _ in LOAD_FAULTS}
    assert run["failures"] == load.failing_feeds + load.failing_pages
    # Failing: the feeds that failed to answer, and the feeds most of whose articles failed.
    failing = [feed for feed in status["feeds"] if feed["health"] == "failing"]
    assert sum(1 for feed in failing if feed["consecutive_failures"]) == load.failing_feeds
    for feed in failing:
        last_run = feed["articles"]["last_run"]
        assert feed["consecutive_failures"] or last_run["failed"] > last_run["stored"], feed
    assert watch.peak_rss_kb / 1024 < PEAK_RSS_LIMIT_MB
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout
