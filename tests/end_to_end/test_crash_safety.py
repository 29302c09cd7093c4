"""SIGKILL at random moments: after every restart the service resumes, and in the end the corpus
is exactly what an uninterrupted run stores, with no partial, temporary, orphan or duplicate
file and an index that `verify` accepts.

The kill delays are drawn from a seeded generator (SOURCE_INGEST_CRASH_SEED to replay a run);
each is counted from the moment the service says it started, so every kill lands in its work
(claiming feeds, fetching, extracting, writing, completing) rather than in Python's start-up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from storage.corpus import TEMP_PREFIX, is_corpus_file_name
from storage.schema import articles
from tests.cli_runner import command, environment, run_cli, write_config
from tests.faultserver import corpus_texts, invented_story, serve_feed, serve_story
from tests.loopback import LoopbackSite, serve_site
from tests.newsfixtures import FakeStory

FEEDS = 10
ENTRIES_PER_FEED = 30
KILLS = 20
SEED = int(os.environ.get("SOURCE_INGEST_CRASH_SEED", "20251122"))


@dataclass(frozen=True)
class CrashSite:
    feeds: list[tuple[str, str]]
    stories: frozenset[str]  # corpus texts of the distinct stories


def _serve_crash_site(site: LoopbackSite) -> CrashSite:
    """300 entries; every tenth is a copy of a story of the previous feed, under another URL."""
    feeds: list[tuple[str, str]] = []
    stories: set[str] = set()
    for f in range(FEEDS):
        items: list[tuple[FakeStory, str]] = []
        for e in range(ENTRIES_PER_FEED):
            copy = e % 10 == 9 and f > 0
            story = invented_story(f"crash-f{f - 1}-e{e - 1}" if copy else f"crash-f{f}-e{e}")
            # The page latency spreads the work over many kills.
            items.append((story, serve_story(site, f"/f{f}/{e}.html", story,
                                             delay_seconds=0.05)))
            stories.add(story.corpus_text())
        feeds.append((f"feed-{f:02d}", serve_feed(site, f"/f{f}/rss.xml", items)))
    return CrashSite(feeds=feeds, stories=frozenset(stories))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_for_start(log: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if '"event": "service_started"' in log.read_text(encoding="utf-8", errors="replace"):
            return
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        time.sleep(0.02)
    raise AssertionError(f"the service did not start within {timeout} s")


def _stored(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(articles)
                                .where(articles.c.state == "stored")).scalar_one()
    finally:
        engine.dispose()


def _wait_for_progress(database_url: str, stored_before: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _stored(database_url) <= stored_before:
        time.sleep(0.1)


@pytest.mark.timeout(360)
def test_service_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    database_url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    corpus_dir = tmp_path / "corpus"
    reference_dir = tmp_path / "reference"
    kills: list[tuple[float, int, int]] = []  # (delay, stored before, stored after)
    orphans: list[int] = []
    with serve_site() as site:
        crash_site = _serve_crash_site(site)
        # The default lease (5 minutes): a restart must not wait for its dead predecessor's.
        config = write_config(tmp_path / "config.toml", database_url=database_url,
                              corpus_dir=corpus_dir, feeds=crash_site.feeds,
                              fetch={"per_host_concurrency": 4},
                              schedule={"lease_seconds": 300})
        try:
            for number in range(KILLS):
                before = _stored(database_url) if number else 0
                log = tmp_path / f"run-{number}.log"
                with log.open("wb") as output:
                    service = subprocess.Popen(command("--config", str(config), "run"),
                                               cwd=tmp_path, stdout=output,
                                               stderr=subprocess.STDOUT, env=environment())
                _wait_for_start(log, service, timeout=60)
                delay = rng.uniform(0.2, 1.5)
                time.sleep(delay)
                if number % 5 == 4:
                    # Every fifth restart is killed only once it has stored something (or
                    # after 30 s): on a loaded machine a start can take longer than any
                    # random delay, and these restarts show that a dead predecessor's leases
                    # do not hold the next service back.
                    _wait_for_progress(database_url, before, timeout=30)
                workers = _children(service.pid)
                service.send_signal(signal.SIGKILL)
                service.wait()
                orphans += workers
                kills.append((delay, before, _stored(database_url)))
            # Extraction workers notice that the service died and leave (no orphans).
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(_alive(pid) for pid in orphans):
                time.sleep(0.1)
            left = [pid for pid in orphans if _alive(pid)]
        finally:
            for pid in orphans:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        final = run_cli("--config", str(config), "fetch", cwd=tmp_path, timeout=120)
        # The reference: the same site ingested without interruption, into its own index and
        # folder.
        reference_config = write_config(
            tmp_path / "reference.toml",
            database_url=f"sqlite:///{tmp_path / 'reference.sqlite3'}",
            corpus_dir=reference_dir, feeds=crash_site.feeds,
            fetch={"per_host_concurrency": 16},
            storage={"archive_dir": str(tmp_path / "reference-archive")})
        reference = run_cli("--config", str(reference_config), "fetch", cwd=tmp_path,
                            timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    assert reference.returncode == 0, reference.stderr[-2000:]
    stored_by_services = kills[-1][2]
    progress = [after - before for _, before, after in kills]
    logs = "".join(path.read_text(encoding="utf-8", errors="replace")
                   for path in tmp_path.glob("run-*.log")) + final.stderr
    recovered = {event: logs.count(f'"event": "{event}"') for event in
                 ("recovered_write", "recovered_temp_file", "recovered_leases")}
    print(f"\ncrash test (seed {SEED}): {len(kills)} kills, {len(crash_site.stories)} articles, "
          f"{stored_by_services} stored between kills, per restart {progress}, "
          f"recovery {recovered}, final fetch:\n{final.stdout}")
    assert not left, f"extraction workers outlived the killed service: {left}"

    # Restarted services resumed: the killed runs' leases did not hold them back (they would
    # for schedule.lease_seconds, and nothing would be stored after the first kill). A restart
    # killed before its first store (about a second in: claim, feeds, worker start) stores
    # nothing, so only some restarts are expected to.
    assert sum(1 for p in progress[1:] if p > 0) >= 2, progress

    texts = corpus_texts(corpus_dir)
    assert set(corpus_texts(reference_dir)) == crash_site.stories
    assert len(texts) == len(set(texts)), "an article was stored twice"
    assert set(texts) == crash_site.stories
    leftovers = [path.name for path in corpus_dir.iterdir()
                 if path.name.startswith(TEMP_PREFIX) or not is_corpus_file_name(path.name)]
    assert not leftovers
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout
    status = json.loads(run_cli("--config", str(config), "status", "--json", "--runs", "1000",
                                cwd=tmp_path).stdout)
    # Runs of killed services show as interrupted, not as still running.
    assert not [run for run in status["runs"] if run["state"] == "running"]
    assert status["articles_stored"] == len(crash_site.stories)
    _assert_archive_holds_exactly_the_stored_articles(database_url, tmp_path / "archive")


def _assert_archive_holds_exactly_the_stored_articles(database_url: str,
                                                      archive_dir: Path) -> None:
    """Every stored article's page is archived, and the files hold nothing else: the
    records killed services left torn or unrecorded were cut off at the next start."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(articles.c.archive_file, articles.c.archive_offset,
                                       articles.c.archive_length)).all()
    finally:
        engine.dispose()
    assert rows and all(row.archive_file for row in rows)
    recorded: dict[str, int] = {}
    for row in rows:
        recorded[row.archive_file] = recorded.get(row.archive_file, 0) + row.archive_length
    sizes = {path.name: path.stat().st_size for path in archive_dir.iterdir()
             if path.stat().st_size}
    assert sizes == recorded
    for name in sizes:  # a standard tool reads every file to its end
        listed = subprocess.run([str(Path(sys.executable).with_name("warcio")), "index",
                                 str(archive_dir / name)],
                                capture_output=True, text=True, check=True).stdout
        assert listed.count('"warc-type": "response"') == \
            sum(1 for row in rows if row.archive_file == name)


def test_restart_releases_the_dead_writers_leases_and_marks_its_runs_interrupted(
        tmp_path: Path) -> None:
    from config.settings import FeedSettings
    from storage.database import utcnow
    from storage.index import open_index
    from storage.recovery import WriterIdentity, new_writer_identity, recover_interrupted_writes

    me = new_writer_identity()
    dead = WriterIdentity(host=me.host, pid=_exited_pid(), token="deadbeef")
    alive = WriterIdentity(host=me.host, pid=os.getppid(), token="0badcafe")
    index = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        now = utcnow()
        index.sync_feeds([FeedSettings(name=name, url=f"http://127.0.0.1:9/{name}",
                                       interval_seconds=60) for name in ("a", "b", "c")], now)
        assert len(index.claim_feeds(dead.tag, now, 300, names=["a", "b"])) == 2
        assert len(index.claim_feeds(alive.tag, now, 300, names=["c"])) == 1
        dead_run = index.start_run("schedule", dead.tag, now)
        live_run = index.start_run("manual", alive.tag, now)

        report = recover_interrupted_writes(index, tmp_path / "corpus", me, utcnow(), 300)

        assert report.leases_released == 2
        assert [state.name for state in index.claim_feeds(me.tag, utcnow(), 300)] == ["a", "b"]
        states = {run.id: run.state for run in index.recent_runs(10)}
        assert states == {dead_run: "interrupted", live_run: "running"}
    finally:
        index.close()


def _exited_pid() -> int:
    """The process id of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
