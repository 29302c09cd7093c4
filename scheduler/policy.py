"""When a feed is polled next: interval, jitter, backoff and suspension, decided in one place.

Pure: the scheduler, the run and the index ask it and store its answers; nothing here reads a
clock or the database. A failing feed's interval doubles at each failure in a row, up to
`max_backoff_seconds`, and the feed is suspended after `suspend_after_failures` in a row (until
`feeds resume` or a change of its configuration).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config.settings import FeedSettings, ScheduleSettings
from storage.feeds import FailurePlan, PollSuccess


@dataclass(frozen=True)
class SchedulePolicy:
    settings: ScheduleSettings
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def jitter(self) -> timedelta:
        """Up to `jitter_seconds` more, so that feeds added together drift apart."""
        return timedelta(seconds=self.rng.uniform(0, self.settings.jitter_seconds))

    def first_poll_at(self, feed: FeedSettings, now: datetime) -> datetime:
        """A new feed is due at once, up to a second early by its phase: the due-feed check
        takes feeds in next-poll order, and 10,000 feeds of one host added together would
        otherwise fill every claimed batch, held to that host's concurrency while the
        others' slots stood idle."""
        return now - timedelta(seconds=_phase(feed))

    def next_poll_after_success(self, feed: FeedSettings, now: datetime) -> datetime:
        """The feed's own slot nearest to one interval from now.

        Each feed has a fixed phase in its interval, from a hash of its host and name, so
        the polls of one host spread evenly over the interval whatever order the feeds were
        added or polled in: 10,000 feeds of one site added together were all due in the same
        minute, every interval (bench/scale_sources.py). A feed polled on its slot stays on
        it (exactly one interval between polls); one polled off its slot (new, resumed, or
        fetched by hand) moves onto it, the next poll between half an interval and one and
        a half from now.
        """
        interval = feed.interval_seconds
        phase = _phase(feed) * interval
        target = now.timestamp() + interval
        slot = phase + round((target - phase) / interval) * interval
        return datetime.fromtimestamp(slot, UTC)

    def backoff_seconds(self, feed: FeedSettings, failures_in_row: int) -> float:
        """The feed's interval doubled per failure in a row, capped; never below the interval
        (unless the cap is lower)."""
        cap = self.settings.max_backoff_seconds
        doubled = min(feed.interval_seconds * (2 ** min(failures_in_row, 30)), cap)
        return max(doubled, min(feed.interval_seconds, cap))

    def after_failure(self, feed: FeedSettings, now: datetime) -> FailurePlan:
        """What the index applies once it knows the failures in a row (read in its
        transaction): the next poll, and whether the feed is now suspended."""

        def plan(failures_in_row: int) -> tuple[datetime, bool]:
            delay = timedelta(seconds=self.backoff_seconds(feed, failures_in_row))
            suspended = failures_in_row >= self.settings.suspend_after_failures
            return now + delay + self.jitter(), suspended

        return plan

    def poll_success(self, feed: FeedSettings, now: datetime, etag: str | None,
                     last_modified: str | None) -> PollSuccess:
        """The poll to record: next due at the feed's slot about one interval from now."""
        return PollSuccess(feed=feed.name, polled_at=now,
                           next_poll_at=self.next_poll_after_success(feed, now), etag=etag,
                           last_modified=last_modified)


def _phase(feed: FeedSettings) -> float:
    """Where in its interval the feed is polled, in [0, 1): uniform over a host's feeds.

    The host is read as the URL's authority by hand: urlsplit took a second of a start with
    100,000 new feeds."""
    host = feed.url.partition("://")[2].split("/", 1)[0].lower()
    digest = hashlib.blake2b(f"{host}\n{feed.name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
