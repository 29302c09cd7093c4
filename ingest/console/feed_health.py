"""A feed's health from its poll state: what status, the API, the page and /metrics show."""

from __future__ import annotations

from ingest.records import FeedHealth
from storage.feeds import FeedState


def feed_health(feed: FeedState, *, enabled: bool = True) -> FeedHealth:
    if not enabled:
        return FeedHealth.DISABLED
    if feed.suspended:
        return FeedHealth.SUSPENDED
    if feed.consecutive_failures:
        return FeedHealth.FAILING
    if feed.extraction_degraded:
        return FeedHealth.EXTRACTION_DEGRADED
    if feed.last_success_at is None:
        return FeedHealth.NEW
    return FeedHealth.OK
