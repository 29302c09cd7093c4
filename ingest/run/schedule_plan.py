"""What a run asks of the schedule policy, which the caller passes in.

The policy itself lives in `scheduler/policy.py`; the run only records its answers, so the
run depends on this shape rather than on the scheduler package (which depends on the run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from config.settings import FeedSettings
from storage.feeds import FailurePlan, PollSuccess


class SchedulePlan(Protocol):
    def first_poll_at(self, feed: FeedSettings, now: datetime) -> datetime: ...

    def poll_success(self, feed: FeedSettings, now: datetime, etag: str | None,
                     last_modified: str | None) -> PollSuccess: ...

    def after_failure(self, feed: FeedSettings, now: datetime) -> FailurePlan: ...
