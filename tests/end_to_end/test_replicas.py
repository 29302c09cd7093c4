"""Several replicas on one PostgreSQL database and one corpus folder, as users deploy them.

Real `source-ingest run` processes with the same configuration poll a loopback news site of
100 feeds with 20 entries each, some stories appearing in several feeds (under one URL, or
as copies under another). Every story must end up stored exactly once, whichever replica
fetched it, even when a replica is killed in the middle of its work.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, select

from storage.corpus import TEMP_PREFIX, parse_corpus_file_name
from storage.recovery import parse_writer_tag
from storage.schema import articles, entries, feeds
from tests.cli_runner import command, environment, run_cli
from tests.loopback import LoopbackSite, Route, serve_site
from tests.newsfixtures import FakeStory, news_page, rss_feed

_VOCABULARY_SEED = 6


@dataclass(frozen=True)
class NewsSite:
    """What the loopback site serves: feed name -> feed path, and the distinct stories."""

    feed_paths: dict[str, str]
    stories: tuple[FakeStory, ...]
    entry_count: int


def _story_maker(seed: int) -> tuple[random.Random, list[str]]:
    rng = random.Random(seed)
    letters = "abcdefghiklmnoprstuvwyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
             for _ in range(600)]
    return rng, words


def _story(rng: random.Random, words: list[str], slug: str, day: int) -> FakeStory:
    def sentence() -> str:
        picked = rng.sample(words, rng.randint(9, 15))
        return f"{' '.join(picked[:5]).capitalize()}, {' '.join(picked[5:])}."

    paragraphs = tuple(" ".join(sentence() for _ in range(3)) for _ in range(2))
    title = " ".join(rng.sample(words, 5)).capitalize()
    return FakeStory(slug=slug, title=title, paragraphs=paragraphs,
                     published=date(2025, 1, 1) + timedelta(days=day))


def build_news_site(site: LoopbackSite, *, feed_count: int, entries_per_feed: int,
                    shared_per_feed: int = 3, latency_seconds: float = 0.0) -> NewsSite:
    """Serve feeds whose last `shared_per_feed` entries are stories shared between feeds.

    Half the shared stories are linked under one URL from every feed (the URL check catches
    them), half as per-feed copies under their own URLs (only the content hash does).
    """
    rng, words = _story_maker(_VOCABULARY_SEED)
    shared_pool = [_story(rng, words, f"shared-{n}", n % 300)
                   for n in range(max(1, feed_count * shared_per_feed // 4))]
    stories: dict[str, FakeStory] = {}
    feed_paths: dict[str, str] = {}

    def serve_page(path: str, story: FakeStory) -> None:
        site.set(path, Route(news_page(story).encode("utf-8"), delay_seconds=latency_seconds))

    for f in range(feed_count):
        items: list[tuple[FakeStory, str]] = []
        for e in range(entries_per_feed - shared_per_feed):
            story = _story(rng, words, f"f{f}-e{e}", (f + e) % 300)
            path = f"/f{f}/{e}.html"
            serve_page(path, story)
            items.append((story, site.url(path)))
        for k in range(shared_per_feed):
            story = shared_pool[(f * shared_per_feed + k * 7) % len(shared_pool)]
            path = f"/shared/{story.slug}.html" if k % 2 == 0 else f"/f{f}/copy-{story.slug}.html"
            serve_page(path, story)
            items.append((story, site.url(path)))
        for story, _ in items:
            stories[story.slug] = story
        feed_paths[f"feed-{f:03d}"] = f"/f{f}/rss.xml"
        site.set(f"/f{f}/rss.xml", Route(rss_feed(items).encode("utf-8"),
                                         content_type="application/rss+xml",
                                         delay_seconds=latency_seconds))
    return NewsSite(feed_paths=feed_paths, stories=tuple(stories.values()),
                    entry_count=feed_count * entries_per_feed)


def write_replica_config(path: Path, *, database_url: str, corpus_dir: Path, site: LoopbackSite,
                         news: NewsSite, lease_seconds: float, per_host_concurrency: int = 2,
                         interval_seconds: float = 10.0) -> Path:
    feed_tables = "\n".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{site.url(feed_path)}"\n'
        f"interval_seconds = {interval_seconds}\n"
        for name, feed_path in news.feed_paths.items())
    path.write_text(f"""
[storage]
database_url = "{database_url}"
corpus_dir = "{corpus_dir}"

[fetch]
allow_private_addresses = true
retries = 1
backoff_seconds = 0.05
total_timeout = 20
max_concurrency = 16
per_host_concurrency = {per_host_concurrency}
per_host_delay_seconds = 0

[schedule]
jitter_seconds = 0
check_every_seconds = 0.5
lease_seconds = {lease_seconds}

{feed_tables}
""", encoding="utf-8")
    return path


def can_give_own_hostnames() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def _on_own_host(name: str, argv: list[str]) -> list[str]:
    # A UTS namespace per replica, as containers have: a replica then cannot tell whether
    # another host's writer is alive, and only lease expiry hands its feeds over.
    return ["unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh", *argv]


@contextmanager
def running_replicas(count: int, config: Path, cwd: Path, own_hostnames: bool = False
                     ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`source-ingest run` processes, started together on an empty database (so they race
    to apply the migrations); logs go to files, as a full pipe would stall them."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(count):
            log = (cwd / f"replica-{number}.log").open("wb")
            argv = command("--config", str(config), "--log-level", "warning", "run")
            if own_hostnames:
                argv = _on_own_host(f"replica-{number}", argv)
            processes.append(subprocess.Popen(
                argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=environment()))
            log.close()
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Progress:
    stored: int
    writing: int
    settled_entries: int


def progress(engine: Engine) -> Progress:
    if not inspect(engine).has_table("alembic_version"):
        return Progress(stored=0, writing=0, settled_entries=0)  # no replica has started yet
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(articles)
                              .where(articles.c.state == "stored")).scalar_one()
        writing = conn.execute(select(func.count()).select_from(articles)
                               .where(articles.c.state == "writing")).scalar_one()
        settled = conn.execute(select(func.count()).select_from(entries).where(
            entries.c.status.in_(["stored", "duplicate"]))).scalar_one()
    return Progress(stored=stored, writing=writing, settled_entries=settled)


def wait_until_all_stored(engine: Engine, news: NewsSite, timeout: float) -> Progress:
    deadline = time.monotonic() + timeout
    current = progress(engine)
    while time.monotonic() < deadline:
        current = progress(engine)
        if current == Progress(stored=len(news.stories), writing=0,
                               settled_entries=news.entry_count):
            break
        time.sleep(0.25)
    return current


def assert_every_story_stored_once(engine: Engine, news: NewsSite, corpus_dir: Path) -> None:
    expected = sorted(story.corpus_text() for story in news.stories)
    files = sorted(corpus_dir.glob("*.txt"))
    assert sorted(path.read_text(encoding="utf-8") for path in files) == expected
    sequences = [parse_corpus_file_name(path.name)[0] for path in files]
    assert len(set(sequences)) == len(sequences)
    assert not list(corpus_dir.glob(f"{TEMP_PREFIX}*"))
    with engine.connect() as conn:
        rows = conn.execute(select(articles.c.sequence, articles.c.content_hash,
                                   articles.c.file_name, articles.c.state)).all()
        entry_rows = conn.execute(select(entries.c.status, entries.c.article_sequence)).all()
    assert sorted(row.file_name for row in rows) == sorted(path.name for path in files)
    assert len({row.content_hash for row in rows}) == len(rows) == len(expected)
    assert {row.state for row in rows} == {"stored"}
    # Every entry is settled, and none points at an article that is not there (a duplicate
    # found by its URL records no sequence).
    known = {row.sequence for row in rows}
    assert len(entry_rows) == news.entry_count
    assert sum(1 for row in entry_rows if row.status == "stored") == len(expected)
    assert {row.status for row in entry_rows} == {"stored", "duplicate"}
    dangling = [row for row in entry_rows
                if row.article_sequence is not None and row.article_sequence not in known]
    assert dangling == []


def _wait_for_polls_since(engine: Engine, names: list[str], since: datetime,
                          timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(feeds.c.name, feeds.c.last_success_at)
                                .where(feeds.c.name.in_(names))).all()
        if all(row.last_success_at is not None and row.last_success_at >= since
               for row in rows) or time.monotonic() > deadline:
            return list(rows)
        time.sleep(0.2)


def _lease_holders(engine: Engine) -> dict[int, list[str]]:
    """Feeds currently leased, by the process id in the lease owner's tag."""
    now = datetime.now().astimezone()
    held: dict[int, list[str]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(feeds.c.name, feeds.c.lease_owner)
                                .where(feeds.c.lease_until > now)):
            writer = parse_writer_tag(row.lease_owner or "")
            if writer is not None:
                held.setdefault(writer.pid, []).append(row.name)
    return held


@pytest.fixture
def news_site() -> Iterator[tuple[LoopbackSite, NewsSite]]:
    with serve_site() as site:
        yield site, build_news_site(site, feed_count=100, entries_per_feed=20)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = create_engine(database_url)
    yield created
    created.dispose()


POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRES_ONLY
@pytest.mark.timeout(150)
def test_four_replicas_store_every_article_exactly_once(
        tmp_path: Path, database_url: str, engine: Engine,
        news_site: tuple[LoopbackSite, NewsSite]) -> None:
    site, news = news_site
    corpus_dir = tmp_path / "corpus"
    config = write_replica_config(tmp_path / "config.toml", database_url=database_url,
                                  corpus_dir=corpus_dir, site=site, news=news,
                                  lease_seconds=30)
    with running_replicas(4, config, tmp_path) as replicas:
        reached = wait_until_all_stored(engine, news, timeout=100)
        assert all(replica.poll() is None for replica in replicas)
    assert reached.stored == len(news.stories), reached
    assert all(replica.returncode == 0 for replica in replicas)
    assert_every_story_stored_once(engine, news, corpus_dir)
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@POSTGRES_ONLY
@pytest.mark.skipif(not can_give_own_hostnames(),
                    reason="needs root and unshare to give each replica its own host name")
@pytest.mark.timeout(150)
def test_killed_replica_feeds_are_taken_over_after_lease_expiry(
        tmp_path: Path, database_url: str, engine: Engine,
        news_site: tuple[LoopbackSite, NewsSite]) -> None:
    site, news = news_site
    corpus_dir = tmp_path / "corpus"
    lease_seconds = 3.0
    config = write_replica_config(tmp_path / "config.toml", database_url=database_url,
                                  corpus_dir=corpus_dir, site=site, news=news,
                                  lease_seconds=lease_seconds)
    with running_replicas(4, config, tmp_path, own_hostnames=True) as replicas:
        by_pid = {replica.pid: replica for replica in replicas}
        deadline = time.monotonic() + 60
        victim_feeds: list[str] = []
        while time.monotonic() < deadline and not victim_feeds:
            if progress(engine).stored >= len(news.stories) // 10:
                held = {pid: names for pid, names in _lease_holders(engine).items()
                        if pid in by_pid}
                if held:
                    victim_pid, victim_feeds = max(held.items(), key=lambda item: len(item[1]))
            time.sleep(0.05)
        assert victim_feeds, "no replica was holding feeds mid-run"
        by_pid[victim_pid].send_signal(signal.SIGKILL)
        by_pid[victim_pid].wait()  # reaped, as a container runtime would: not a zombie
        killed_at = datetime.now().astimezone()
        reached = wait_until_all_stored(engine, news, timeout=100)
        # The dead replica's feeds are polled again by the others once its leases run out
        # (its stories may all be stored before that, through the feeds that share them).
        taken_over = _wait_for_polls_since(engine, victim_feeds, killed_at, timeout=60)
        survivors = [replica for pid, replica in by_pid.items() if pid != victim_pid]
        assert all(replica.poll() is None for replica in survivors)
    assert reached.stored == len(news.stories), reached
    assert_every_story_stored_once(engine, news, corpus_dir)
    assert all(row.last_success_at is not None and row.last_success_at >= killed_at
               for row in taken_over), taken_over
    verify = run_cli("--config", str(config), "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
