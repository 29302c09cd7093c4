"""robots.txt: fetched once per host (cached with a TTL, revalidated with a conditional GET),
parsed with protego, obeyed for article pages and sitemaps.

protego, not the standard library's urllib.robotparser: robotparser knows neither wildcards
(`Disallow: /*?print=`) nor `$`, nor the longest-match precedence of RFC 9309 that Google
applies, so it allows pages a site's robots.txt disallows. protego implements all three and
is the parser Scrapy uses.

An unreachable robots.txt follows RFC 9309 §2.3.1: a 4xx (or no robots.txt) allows
everything; a 5xx or a network failure means "wait": nothing of the host is fetched and the
article is tried again at a later poll.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from config.settings import PrivateAccess
from ingest.fetch.client import PageFetcher
from ingest.records import FailureKind, IngestFailure

# A robots.txt that could not be read for a server reason is tried again after this long
# (not after the whole TTL: the site is likely back soon), and until then the host waits.
_UNREACHABLE_RETRY_SECONDS = 300.0
# A Crawl-delay above this is read as this: one robots.txt line must not stall a run for hours.
MAX_CRAWL_DELAY_SECONDS = 60.0
_ALLOW_ALL = frozenset({FailureKind.HTTP_NOT_FOUND, FailureKind.HTTP_UNAUTHORIZED,
                        FailureKind.HTTP_CLIENT_ERROR, FailureKind.EMPTY_RESPONSE,
                        FailureKind.TOO_MANY_REDIRECTS, FailureKind.RESPONSE_TOO_LARGE,
                        FailureKind.UNSUPPORTED_CONTENT_TYPE})
# The article fails for the same reason whatever robots.txt says.
_SAME_FOR_THE_PAGE = frozenset({FailureKind.INVALID_URL, FailureKind.BLOCKED_ADDRESS})


@dataclass(frozen=True)
class _HostRobots:
    rules: Protego | None  # None: everything allowed
    etag: str | None
    last_modified: str | None
    expires_at: float
    unreachable: IngestFailure | None = None  # a 5xx or network failure: wait


class RobotsCache:
    """robots.txt per scheme, host and port, for the life of the object (the service keeps one
    across runs; a manual fetch has its own)."""

    def __init__(self, user_agent: str, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Rules name a product token ("source-ingest"), not the whole User-Agent header.
        self._agent = user_agent.split("/")[0].split()[0] if user_agent.strip() else "*"
        self._ttl = ttl_seconds
        self._clock = clock
        self._hosts: dict[str, _HostRobots] = {}
        self._reading: dict[str, asyncio.Future[_HostRobots]] = {}

    async def crawl_delay(self, url: str, fetcher: PageFetcher,
                          access: PrivateAccess | None = None) -> float:
        """The host's Crawl-delay for us (0 when none) if `url` may be fetched; raises
        IngestFailure ROBOTS_DISALLOWED when robots.txt forbids it, or the failure that
        keeps robots.txt from being read (transient: the page is tried again later)."""
        robots = await self._for(url, fetcher, access)
        if robots.unreachable is not None:
            raise robots.unreachable
        if robots.rules is None:
            return 0.0
        if not robots.rules.can_fetch(url, self._agent):
            raise IngestFailure(FailureKind.ROBOTS_DISALLOWED,
                                f"{_site(url)}/robots.txt disallows {urlsplit(url).path or '/'}")
        delay = robots.rules.crawl_delay(self._agent) or 0.0
        return min(float(delay), MAX_CRAWL_DELAY_SECONDS)

    async def sitemaps(self, url: str, fetcher: PageFetcher,
                       access: PrivateAccess | None = None) -> tuple[str, ...]:
        """The `Sitemap:` lines of the robots.txt of `url`'s host."""
        robots = await self._for(url, fetcher, access)
        return tuple(robots.rules.sitemaps) if robots.rules is not None else ()

    async def _for(self, url: str, fetcher: PageFetcher,
                   access: PrivateAccess | None) -> _HostRobots:
        site = _site(url)
        known = self._hosts.get(site)
        if known is not None and known.expires_at > self._clock():
            return known
        reading = self._reading.get(site)
        if reading is None:
            # One read per host however many of its articles ask at once.
            reading = asyncio.ensure_future(self._read_and_keep(site, known, fetcher, access))
            self._reading[site] = reading
            reading.add_done_callback(lambda _done: self._reading.pop(site, None))
        return await asyncio.shield(reading)

    async def _read_and_keep(self, site: str, known: _HostRobots | None, fetcher: PageFetcher,
                             access: PrivateAccess | None) -> _HostRobots:
        # The read caches its own result before it ends. Left to its waiters, the result
        # reached the cache a few loop turns after the read left `_reading`, and a page
        # asking in between read robots.txt again.
        robots = await self._read(site, known, fetcher, access)
        self._hosts[site] = robots
        return robots

    async def _read(self, site: str, known: _HostRobots | None, fetcher: PageFetcher,
                    access: PrivateAccess | None) -> _HostRobots:
        now = self._clock()
        try:
            response = await fetcher.fetch(
                f"{site}/robots.txt", allowed_types=None,
                etag=known.etag if known and known.unreachable is None else None,
                last_modified=known.last_modified if known and known.unreachable is None
                else None, access=access)
        except IngestFailure as failure:
            if failure.kind in _ALLOW_ALL:
                return _HostRobots(rules=None, etag=None, last_modified=None,
                                   expires_at=now + self._ttl)
            if failure.kind in _SAME_FOR_THE_PAGE:
                raise
            waiting = IngestFailure(failure.kind, f"{site}/robots.txt unreachable, so the site "
                                                  f"is not crawled for now: {failure.detail}")
            return _HostRobots(rules=None, etag=None, last_modified=None,
                               expires_at=now + min(self._ttl, _UNREACHABLE_RETRY_SECONDS),
                               unreachable=waiting)
        if response.not_modified and known is not None:
            return _HostRobots(rules=known.rules, etag=response.etag or known.etag,
                               last_modified=response.last_modified or known.last_modified,
                               expires_at=now + self._ttl)
        rules = Protego.parse(response.body.decode("utf-8", errors="replace"))
        return _HostRobots(rules=rules, etag=response.etag, last_modified=response.last_modified,
                           expires_at=now + self._ttl)


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
