"""Why a feed a manual fetch asked for was not polled: disabled in the configuration,
suspended after failing too often, or busy (another process holds its lease)."""

from __future__ import annotations

from collections.abc import Sequence

from config.settings import Settings
from ingest.records import FeedHealth
from storage.index import CorpusIndex


def why_not_polled(index: CorpusIndex, settings: Settings,
                   names: Sequence[str]) -> dict[str, FeedHealth]:
    """DISABLED, SUSPENDED or BUSY for each of `names`, none of which this run claimed."""
    if not names:
        return {}  # the common case: no query
    enabled = {feed.name for feed in settings.feeds if feed.enabled}
    wanted = set(names)
    suspended = {state.name for state in index.feed_states()
                 if state.name in wanted and state.suspended}
    return {name: FeedHealth.DISABLED if name not in enabled
            else FeedHealth.SUSPENDED if name in suspended else FeedHealth.BUSY
            for name in names}


def enabled_only(settings: Settings, names: Sequence[str]) -> tuple[str, ...]:
    enabled = {feed.name for feed in settings.feeds if feed.enabled}
    return tuple(name for name in names if name in enabled)
