"""A feed's health from its poll state and its articles' fates: what status, the API, the page
and /metrics show. A feed that answers while most of its articles fail is failing too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest.records import FeedHealth
from storage.entry_fates import ArticleCounts, FeedArticleHealth
from storage.feeds import FeedHealthFacts, FeedState

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


def decide_health(facts: FeedHealthFacts, last_run: ArticleCounts | None = None, *,
                  enabled: bool = True, busy: bool = False) -> FeedHealth:
    """The health alone, from no more than a status read takes of every feed."""
    if not enabled:
        return FeedHealth.DISABLED
    if facts.suspended:
        return FeedHealth.SUSPENDED
    if facts.consecutive_failures or (last_run is not None and last_run.mostly_failing):
        return FeedHealth.FAILING
    if facts.extraction_degraded:
        return FeedHealth.EXTRACTION_DEGRADED
    if busy:
        return FeedHealth.BUSY
    return FeedHealth.OK if facts.ever_succeeded else FeedHealth.NEW


def feed_verdict(feed: FeedState, articles: FeedArticleHealth | None = None, *,
                 enabled: bool = True, now: datetime | None = None,
                 own_writer: str | None = None) -> FeedVerdict:
    last = (articles or _NO_ARTICLES).last_run
    busy = now is not None and feed.lease_until is not None and feed.lease_until > now \
        and feed.lease_owner != own_writer
    health = decide_health(feed.health_facts(), last, enabled=enabled, busy=busy)
    if health is FeedHealth.DISABLED:
        return FeedVerdict(health, "disabled in the configuration", DISABLED_HINT)
    if health is FeedHealth.SUSPENDED:
        return FeedVerdict(health, f"{feed.consecutive_failures} failed polls in a row "
                                   f"({feed.last_error_kind or 'unknown'})",
                           suspended_hint(feed.name))
    if health is FeedHealth.FAILING and feed.consecutive_failures:
        return FeedVerdict(health, f"feed: {feed.last_error_kind}: {feed.last_error or ''}", "")
    if health is FeedHealth.FAILING:
        return FeedVerdict(health, f"{last.failed} of {last.failed + last.stored} articles "
                                   f"failed in its last run, mostly {last.dominant_failure}", "")
    if health is FeedHealth.EXTRACTION_DEGRADED:
        return FeedVerdict(health, f"extraction degraded: {feed.extraction_degraded}", "")
    if health is FeedHealth.BUSY:
        return FeedVerdict(health, f"being polled by {feed.lease_owner}", BUSY_HINT)
    return FeedVerdict(health, "not polled yet" if health is FeedHealth.NEW else "", "")


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
