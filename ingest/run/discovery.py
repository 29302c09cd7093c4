"""`source-ingest feeds discover URL`: find a site's feeds and sitemaps and check each.

Candidates come from the home page's alternate links (else common feed paths), robots.txt's
`Sitemap:` lines and common sitemap paths (`ingest/sources/discover.py`); each is fetched and
read as what it claims to be, and only those that read are reported, with what they hold.
Sitemaps are fetched as a poll would: robots.txt obeyed, at the host's pace.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

import httpx

from config.settings import FetchSettings
from ingest.fetch.client import PageFetcher
from ingest.fetch.decode import decode_html
from ingest.fetch.polite import PoliteFetcher
from ingest.records import IngestFailure, SourceKind
from ingest.run.source_read import FEED_TYPES
from ingest.sources.discover import Candidate, candidates
from ingest.sources.feed import parse_feed
from ingest.sources.sitemap import parse_sitemap

_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class FoundSource:
    url: str
    kind: SourceKind
    title: str
    entries: int  # entries, URLs, or child sitemaps of an index
    newest: date | None
    how: str
    is_index: bool = False


async def discover_sources(url: str, settings: FetchSettings, *,
                           transport: httpx.AsyncBaseTransport | None = None,
                           ) -> list[FoundSource]:
    async with PageFetcher(settings, transport=transport) as fetcher:
        polite = PoliteFetcher(fetcher, settings)
        home_html = None
        try:
            home = await fetcher.fetch(url, allowed_types=_PAGE_TYPES)
            home_html = decode_html(home.body, home.charset).text
            url = home.url
        except IngestFailure:
            pass  # no home page: the common paths are still worth a try
        try:
            robots_sitemaps = await polite.robots.sitemaps(url, fetcher)
        except IngestFailure:
            robots_sitemaps = ()
        checks = [_check(polite, candidate, settings)
                  for candidate in candidates(url, home_html, robots_sitemaps)]
        found = await asyncio.gather(*checks)
    return [source for source in found if source is not None]


async def _check(polite: PoliteFetcher, candidate: Candidate,
                 settings: FetchSettings) -> FoundSource | None:
    try:
        if candidate.kind is SourceKind.FEED:
            response = await polite.fetcher.fetch(candidate.url, allowed_types=FEED_TYPES)
            content_type = response.content_type + (
                f"; charset={response.charset}" if response.charset else "")
            feed = parse_feed(response.body, feed_name="discover", feed_url=response.url,
                              content_type=content_type)
            if not feed.entries:
                return None
            return FoundSource(url=candidate.url, kind=SourceKind.FEED,
                               title=feed.title or candidate.title, entries=len(feed.entries),
                               newest=max((e.published for e in feed.entries if e.published),
                                          default=None), how=candidate.how)
        response = await polite.fetch(candidate.url, respect_robots=settings.respect_robots)
        sitemap = parse_sitemap(response.body, feed_name="discover", sitemap_url=response.url,
                                news_only=False, max_bytes=settings.max_response_bytes)
    except IngestFailure:
        return None
    if sitemap.is_index:
        days = [child.lastmod[:10] for child in sitemap.sitemaps if child.lastmod]
        return FoundSource(url=candidate.url, kind=SourceKind.SITEMAP, title="",
                           entries=len(sitemap.sitemaps), newest=_day(max(days, default="")),
                           how=candidate.how, is_index=True)
    if not sitemap.urls:
        return None
    news = any(listed.entry.published or listed.language for listed in sitemap.urls)
    return FoundSource(url=candidate.url,
                       kind=SourceKind.NEWS_SITEMAP if news else SourceKind.SITEMAP, title="",
                       entries=len(sitemap.urls),
                       newest=max((listed.entry.published or listed.lastmod
                                   for listed in sitemap.urls
                                   if listed.entry.published or listed.lastmod), default=None),
                       how=candidate.how)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
