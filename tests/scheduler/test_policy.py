"""When feeds are polled: each host's polls spread over the interval, never a burst."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from config.settings import FeedSettings, ScheduleSettings
from scheduler.policy import SchedulePolicy

POLICY = SchedulePolicy(ScheduleSettings())
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _site_feeds(count: int, interval: float = 900) -> list[FeedSettings]:
    return [FeedSettings(name=f"section-{i}", url=f"https://big.example/rss/{i}.xml",
                         interval_seconds=interval) for i in range(count)]


def test_a_hosts_feeds_polled_together_are_next_due_spread_over_the_interval() -> None:
    feeds = _site_feeds(10_000)
    due = [POLICY.next_poll_after_success(feed, NOW) for feed in feeds]
    seconds = [(at - NOW).total_seconds() for at in due]
    assert min(seconds) >= 450 and max(seconds) <= 1350  # half to one and a half intervals
    per_minute = Counter(int(s // 60) for s in seconds)
    # 10,000 polls over 15 minutes: about 667 a minute, never thousands in the same one.
    assert len(per_minute) >= 15 and max(per_minute.values()) < 2 * 10_000 / 15


def test_a_feed_polled_on_its_slot_stays_one_interval_apart() -> None:
    feed = _site_feeds(1)[0]
    first = POLICY.next_poll_after_success(feed, NOW)
    # Polled a little late (the check runs every few seconds): the next one is still on time.
    second = POLICY.next_poll_after_success(feed, first + timedelta(seconds=7))
    third = POLICY.next_poll_after_success(feed, second + timedelta(seconds=2))
    assert second - first == timedelta(seconds=900)
    assert third - second == timedelta(seconds=900)


def test_new_feeds_are_due_at_once_in_an_order_that_mixes_hosts() -> None:
    feeds = [FeedSettings(name=f"{host}-{i}", url=f"https://{host}.example/{i}.xml",
                          interval_seconds=900)
             for host in ("big", "small") for i in range(500)]
    due = sorted(feeds, key=lambda feed: POLICY.first_poll_at(feed, NOW))
    assert all(NOW - timedelta(seconds=1) <= POLICY.first_poll_at(f, NOW) <= NOW for f in feeds)
    # The first batch a claim takes (next-poll order) is not one host's feeds alone.
    assert {feed.name.split("-")[0] for feed in due[:16]} == {"big", "small"}
