"""Fetching article pages and sitemaps politely: robots.txt first, then the host's pace.

Feeds are not paced nor checked: a source's feed is one request per interval, the URL the
operator chose. What a feed or sitemap points to is many requests to one host.
"""

from __future__ import annotations

from collections.abc import Collection

from config.settings import FetchSettings, PrivateAccess
from ingest.fetch.client import PageFetcher
from ingest.fetch.robots import RobotsCache
from ingest.records import FetchResponse

__all__ = ["PoliteFetcher", "RobotsCache", "new_robots_cache"]


class PoliteFetcher:
    """One run's fetcher with robots.txt and per-host pacing in front of it."""

    def __init__(self, fetcher: PageFetcher, settings: FetchSettings,
                 robots: RobotsCache | None = None) -> None:
        self.fetcher = fetcher
        self._delay = settings.per_host_delay_seconds
        self.robots = robots if robots is not None else new_robots_cache(settings)

    async def admit(self, url: str, *, respect_robots: bool,
                    access: PrivateAccess | None = None) -> float:
        """Check robots.txt (raises IngestFailure ROBOTS_DISALLOWED) and wait for the host's
        turn; returns the pace to fetch `url` with. Call it before taking a place in the run's
        pages in hand, so that a slow host's waiting articles do not hold them."""
        pace = self._delay
        if respect_robots:
            pace = max(pace, await self.robots.crawl_delay(url, self.fetcher, access))
        await self.fetcher.wait_turn(url, pace)
        return pace

    async def fetch(self, url: str, *, respect_robots: bool,
                    allowed_types: Collection[str] | None = None, etag: str | None = None,
                    last_modified: str | None = None,
                    access: PrivateAccess | None = None) -> FetchResponse:
        """`admit`, then fetch at the host's pace; `access`: the source's private-address
        permission."""
        pace = await self.admit(url, respect_robots=respect_robots, access=access)
        return await self.fetcher.fetch(url, allowed_types=allowed_types, etag=etag,
                                        last_modified=last_modified, pace=pace, access=access)


def new_robots_cache(settings: FetchSettings) -> RobotsCache:
    return RobotsCache(settings.user_agent, settings.robots_cache_seconds)
