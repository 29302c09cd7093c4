"""A feed's health from its poll state and its articles' fates: what status, the API, the page
and /metrics show. A feed that answers while most of its articles fail is failing too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest.records import FeedHealth
from storage.entry_fates import ArticleCounts, FeedArticleHealth
from storage.feeds import FeedState

_NO_ARTICLES = FeedArticleHealth(ArticleCounts(), ArticleCounts())


@dataclass(frozen=True)
class FeedVerdict:
    health: FeedHealth
    reason: str  # one line: why this health ("" when ok)
    hint: str  # the command or setting that helps ("" when nothing to do)


def suspended_hint(name: str) -> str:
    return f"resume with: source-ingest feeds resume {name}"


DISABLED_HINT = "enabled = false in the config: set it to true (or remove it) to poll the feed"
BUSY_HINT = "another process is polling it now; try again when it is done"


def feed_verdict(feed: FeedState, articles: FeedArticleHealth | None = None, *,
                 enabled: bool = True, now: datetime | None = None,
                 own_writer: str | None = None) -> FeedVerdict:
    articles = articles or _NO_ARTICLES
    if not enabled:
        return FeedVerdict(FeedHealth.DISABLED, "disabled in the configuration", DISABLED_HINT)
    if feed.suspended:
        return FeedVerdict(FeedHealth.SUSPENDED,
                           f"{feed.consecutive_failures} failed polls in a row "
                           f"({feed.last_error_kind or 'unknown'})", suspended_hint(feed.name))
    if feed.consecutive_failures:
        return FeedVerdict(FeedHealth.FAILING,
                           f"feed: {feed.last_error_kind}: {feed.last_error or ''}", "")
    last = articles.last_run
    if last.mostly_failing:
        return FeedVerdict(FeedHealth.FAILING,
                           f"{last.failed} of {last.failed + last.stored} articles failed in "
                           f"its last run, mostly {last.dominant_failure}", "")
    if feed.extraction_degraded:
        return FeedVerdict(FeedHealth.EXTRACTION_DEGRADED,
                           f"extraction degraded: {feed.extraction_degraded}", "")
    if now is not None and feed.lease_until is not None and feed.lease_until > now \
            and feed.lease_owner != own_writer:
        return FeedVerdict(FeedHealth.BUSY, f"being polled by {feed.lease_owner}", BUSY_HINT)
    if feed.last_success_at is None:
        return FeedVerdict(FeedHealth.NEW, "not polled yet", "")
    return FeedVerdict(FeedHealth.OK, "", "")


def feed_health(feed: FeedState, articles: FeedArticleHealth | None = None, *,
                enabled: bool = True) -> FeedHealth:
    return feed_verdict(feed, articles, enabled=enabled).health


def not_polled_hint(name: str, why: FeedHealth) -> str:
    if why is FeedHealth.SUSPENDED:
        return suspended_hint(name)
    return DISABLED_HINT if why is FeedHealth.DISABLED else BUSY_HINT


def not_polled_lines(not_polled: dict[str, FeedHealth]) -> list[str]:
    """Feeds a fetch asked for and did not poll, a line each with what helps."""
    labels = {FeedHealth.SUSPENDED: "suspended (failed too often)",
              FeedHealth.DISABLED: "disabled", FeedHealth.BUSY:
              "busy (being polled by another process)"}
    return [f"  {name}: {labels.get(why, why)}; {not_polled_hint(name, why)}"
            for name, why in not_polled.items()]
