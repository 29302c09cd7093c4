"""A scheduled run that has caught up with the schedule: feeds fall due one by one while it
runs. It polls each as it falls due, within the claim pause, without a claim statement for
every poll (issue 16: at 100,000 feeds that was a claim per feed)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import event

from config.settings import FeedSettings, FetchSettings, ScheduleSettings, Settings, StorageSettings
from ingest.records import RunTrigger
from ingest.run.claim_pace import CLAIM_PAUSE_SECONDS, ClaimPace
from ingest.run.pipeline import RunRequest, run_fetch
from scheduler.policy import SchedulePolicy
from storage.database import create_database_engine
from storage.index import CorpusIndex, open_index
from storage.recovery import new_writer_identity

TRICKLE = 40
STEP_SECONDS = 0.05  # one feed falls due every 50 ms: 2 s of them
SLOW_SECONDS = 3.0  # one slow feed keeps the run going past the last of them
EMPTY_FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


class _Trickle(SchedulePolicy):
    """New feeds due one after another instead of all at once."""

    def first_poll_at(self, feed: FeedSettings, now: datetime) -> datetime:
        if feed.name == "slow":
            return now
        return now + timedelta(seconds=STEP_SECONDS * (int(feed.name.removeprefix("feed")) + 1))


def test_a_caught_up_run_polls_feeds_as_they_fall_due_with_a_claim_per_pause_not_per_poll(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    open_index(url).close()
    index = CorpusIndex(create_database_engine(url))
    feeds = (FeedSettings(name="slow", url="https://slow.example/feed.xml", interval_seconds=900),
             *(FeedSettings(name=f"feed{i:02d}", url=f"https://site.example/{i}.xml",
                            interval_seconds=900)
               for i in range(TRICKLE)))
    settings = Settings(feeds=feeds,
                        storage=StorageSettings(database_url=url, corpus_dir=tmp_path / "c"),
                        fetch=FetchSettings(retries=0, per_host_delay_seconds=0),
                        schedule=ScheduleSettings(jitter_seconds=0))
    started = time.monotonic()
    polled_at: dict[str, float] = {}

    async def answer(request: httpx.Request) -> httpx.Response:
        polled_at[str(request.url)] = time.monotonic() - started
        if request.url.host == "slow.example":
            await asyncio.sleep(SLOW_SECONDS)
        return httpx.Response(200, content=EMPTY_FEED, headers={
            "Content-Type": "application/rss+xml", "ETag": '"v1"'})

    statements: list[str] = []
    event.listen(index._engine, "before_cursor_execute",
                 lambda _c, _k, sql, _p, _x, _m: statements.append(sql))

    summary = asyncio.run(run_fetch(settings, index, RunRequest(trigger=RunTrigger.SCHEDULE),
                                    new_writer_identity(), policy=_Trickle(settings.schedule),
                                    transport=httpx.MockTransport(answer)))

    assert summary is not None and summary.counts.feeds_polled == TRICKLE + 1
    assert summary.counts.failures == 0 and not summary.failures_by_kind
    # Every feed in the same run, each soon after its slot (the pause, and a loaded machine).
    for i in range(TRICKLE):
        due = STEP_SECONDS * (i + 1)
        assert polled_at[f"https://site.example/{i}.xml"] < due + CLAIM_PAUSE_SECONDS + 1.0
    # About one claim per pause while the feeds trickle in, not one per feed.
    claims = [sql for sql in statements if sql.lstrip().startswith("UPDATE feeds SET lease_owner")]
    trickle_seconds = STEP_SECONDS * TRICKLE
    assert len(claims) <= trickle_seconds / CLAIM_PAUSE_SECONDS + 4 < TRICKLE / 2
    index.close()


def test_a_short_claim_made_as_the_last_pause_ends_still_gets_its_wake_up() -> None:
    # The pause can be over before its timer has fired: a poll that ends then lets the run
    # claim, and if that claim comes back short too, its own pause must wake the run as well.
    async def scenario() -> int:
        wakes: list[None] = []
        pace = ClaimPace(lambda: wakes.append(None), pause=0.05)
        pace.claimed(asked=8, got=0)
        time.sleep(0.06)  # past the pause, its timer not yet run
        assert await pace.ready(pending=1)
        pace.claimed(asked=8, got=0)
        await asyncio.sleep(0.01)  # the first timer (if still set) fires here
        woken_early = len(wakes)
        assert not await pace.ready(pending=1)
        await asyncio.sleep(0.1)
        pace.close()
        return len(wakes) - woken_early

    assert asyncio.run(scenario()) == 1
