"""When a feed is polled next: interval, jitter, backoff and suspension, decided in one place.

Pure: the scheduler, the run and the index ask it and store its answers; nothing here reads a
clock or the database. A failing feed's interval doubles at each failure in a row, up to
`max_backoff_seconds`, and the feed is suspended after `suspend_after_failures` in a row (until
`feeds resume` or a change of its configuration).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from config.settings import FeedSettings, ScheduleSettings
from storage.feeds import FailurePlan, PollSuccess


@dataclass(frozen=True)
class SchedulePolicy:
    settings: ScheduleSettings
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def jitter(self) -> timedelta:
        """Up to `jitter_seconds` more, so that feeds added together drift apart."""
        return timedelta(seconds=self.rng.uniform(0, self.settings.jitter_seconds))

    def next_poll_after_success(self, feed: FeedSettings, now: datetime) -> datetime:
        return now + timedelta(seconds=feed.interval_seconds) + self.jitter()

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
        """The poll to record: next due after the feed's interval plus up to the jitter."""
        return PollSuccess(feed=feed.name, polled_at=now,
                           next_poll_at=self.next_poll_after_success(feed, now), etag=etag,
                           last_modified=last_modified)
