"""What a run asks of the schedule policy, which the caller passes in.

The policy itself lives in `scheduler/policy.py`; the run only records its answers, so the
run depends on this shape rather than on the scheduler package (which depends on the run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from config.settings import FeedSettings, Settings
from storage.feeds import SCHEDULED_CLAIM_BATCH, FailurePlan, PollSuccess


class SchedulePlan(Protocol):
    def first_poll_at(self, feed: FeedSettings, now: datetime) -> datetime: ...

    def poll_success(self, feed: FeedSettings, now: datetime, etag: str | None,
                     last_modified: str | None) -> PollSuccess: ...

    def after_failure(self, feed: FeedSettings, now: datetime) -> FailurePlan: ...


def claim_batch(settings: Settings) -> int:
    # Twice the requests in flight: feeds waiting for their poll to be recorded, or for a busy
    # host's slot, hold a place in the batch without holding a connection. A batch of 16
    # spent an eighth of a 304-only run's CPU on claim statements (bench/scale_sources.py).
    return max(SCHEDULED_CLAIM_BATCH, 2 * settings.fetch.max_concurrency)
