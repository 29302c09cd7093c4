"""Read a source for a poll or a backfill: its entries, whatever its kind (feed, sitemap,
news sitemap), and what to remember once they are settled."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin

from config.settings import FeedSettings, FetchSettings
from ingest.fetch.polite import PoliteFetcher
from ingest.records import FailureKind, FeedEntry, IngestFailure, SourceKind
from ingest.run.database_lane import DatabaseLane
from ingest.run.sitemap_walk import SitemapWalk, walk_sitemaps
from ingest.run.worker_pool import ExtractionPool
from ingest.urls import normalize_url
from storage.database import utcnow
from storage.feeds import FeedState
from storage.index import CorpusIndex

log = logging.getLogger("source_ingest.pipeline")

# RFC 5005 archive documents a backfill follows from a feed, at most (about 20 entries each).
MAX_ARCHIVE_DOCUMENTS = 500

FEED_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
    "text/xml", "application/x-rss+xml", "text/html", "text/plain", "application/octet-stream",
    "application/feed+json",
})


@dataclass(frozen=True)
class Backfill:
    """`source-ingest backfill NAME [--since DATE] [--limit N]`."""

    since: date | None = None  # articles dated (published or lastmod) from this day on
    limit: int | None = None  # new articles at most, newest first


@dataclass(frozen=True)
class SourceRead:
    entries: tuple[FeedEntry, ...]  # newest first for sitemaps, document order for feeds
    not_modified: bool
    etag: str | None = None  # the feed's validators, to keep once its entries are settled
    last_modified: str | None = None
    sitemaps: SitemapWalk | None = None


async def read_source(polite: PoliteFetcher, extraction: ExtractionPool,
                      database: DatabaseLane, index: CorpusIndex, settings: FetchSettings,
                      feed: FeedSettings, state: FeedState,
                      backfill: Backfill | None) -> SourceRead:
    if feed.kind is SourceKind.FEED and backfill is None:
        return await _read_feed(polite, extraction, feed, state)
    known = await database.call(index.sitemap_files, feed.name) \
        if feed.kind is not SourceKind.FEED else {}
    start_urls = None
    if feed.kind is SourceKind.FEED:
        start_urls = await site_sitemaps(polite, feed)
    walk = await walk_sitemaps(polite, extraction.run, feed, known,
                               changed_only=backfill is None,
                               respect_robots=feed.obeys_robots(settings),
                               max_bytes=settings.max_response_bytes, start_urls=start_urls)
    if start_urls is not None:
        # A common path the site does not have is no failure of the backfill.
        walk = SitemapWalk(urls=walk.urls, files=(), complete=False, failures=tuple(
            (url, failure) for url, failure in walk.failures
            if not (url in start_urls and failure.kind is FailureKind.HTTP_NOT_FOUND)))
    listed = walk.urls
    if backfill is not None and backfill.since is not None:
        since = backfill.since
        listed = tuple(url for url in listed
                       if (url.entry.published or url.lastmod or since) >= since)
    entries = tuple(url.entry for url in listed)
    if start_urls is not None:
        archived = await archived_feed_entries(polite, extraction, feed,
                                               feed.obeys_robots(settings))
        if backfill is not None and backfill.since is not None:
            since = backfill.since
            archived = tuple(entry for entry in archived
                             if (entry.published or since) >= since)
        # After the sitemaps' URLs (newest first), those only the feed's archive lists, by
        # URL: a sitemap's entry is keyed by its URL, a feed's by its guid.
        in_sitemaps = {normalize_url(entry.url) for entry in entries if entry.url}
        entries += tuple(entry for entry in archived
                         if entry.url is None or normalize_url(entry.url) not in in_sitemaps)
    return SourceRead(entries=entries, not_modified=not walk.files and not entries,
                      sitemaps=walk)


async def archived_feed_entries(polite: PoliteFetcher, extraction: ExtractionPool,
                                feed: FeedSettings, respect_robots: bool,
                                ) -> tuple[FeedEntry, ...]:
    """A feed's entries and its RFC 5005 archive's: each `prev-archive` document in turn,
    at the host's pace, up to MAX_ARCHIVE_DOCUMENTS (a loop ends where it closes). A
    document that fails ends the walk there, logged; what was read is kept."""
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    url: str | None = feed.url
    while url is not None and url not in seen and len(seen) < MAX_ARCHIVE_DOCUMENTS:
        seen.add(url)
        try:
            response = await polite.fetch(url, respect_robots=respect_robots and url != feed.url,
                                          allowed_types=FEED_TYPES, access=feed.private_access)
            parsed = await extraction.parse_feed(
                response.body, feed_name=feed.name, feed_url=response.url,
                content_type=_content_type(response.content_type, response.charset))
        except IngestFailure as failure:
            log.warning("feed archive walk stopped", extra={
                "event": "feed_archive_failed", "feed": feed.name, "url": url,
                "failure": failure.kind, "detail": failure.detail})
            break
        entries.extend(parsed.entries)
        url = parsed.prev_archive
    if feed.include_urls or feed.exclude_urls:
        entries = [entry for entry in entries if entry.url is None or feed.wants_url(entry.url)]
    return tuple(entries)


def _content_type(media_type: str, charset: str | None) -> str:
    return f"{media_type}; charset={charset}" if charset else media_type


async def validators_to_keep(database: DatabaseLane, index: CorpusIndex, feed: FeedSettings,
                             state: FeedState, read: SourceRead, *, settled: bool,
                             backfill: bool) -> tuple[str | None, str | None]:
    """The feed's validators for its next poll, once its entries are done; a sitemap source's
    files are recorded then. Only when every entry is settled (else the next poll would get a
    304 and never see the entries to retry) and every file was read. A backfill keeps the
    feed's own."""
    if backfill:
        return state.etag, state.last_modified
    if not settled:
        return None, None
    if read.sitemaps is not None and read.sitemaps.complete:
        now = utcnow()
        await database.call(index.record_sitemap_files, feed.name, read.sitemaps.files, now)
        await database.call(index.record_sitemap_urls, feed.name,
                            [(url.entry.key, url.lastmod) for url in read.sitemaps.urls], now)
    return read.etag, read.last_modified


async def site_sitemaps(polite: PoliteFetcher, feed: FeedSettings) -> tuple[str, ...]:
    """The sitemaps of `url`'s site: its robots.txt `Sitemap:` lines, else the common paths
    (the walk checks robots.txt for each file it fetches)."""
    from ingest.sources.discover import COMMON_SITEMAP_PATHS

    listed = await polite.robots.sitemaps(feed.url, polite.fetcher, feed.private_access)
    return listed or tuple(urljoin(feed.url, path) for path in COMMON_SITEMAP_PATHS)


async def _read_feed(polite: PoliteFetcher, extraction: ExtractionPool, feed: FeedSettings,
                     state: FeedState) -> SourceRead:
    response = await polite.fetcher.fetch(feed.url, allowed_types=FEED_TYPES, etag=state.etag,
                                          last_modified=state.last_modified,
                                          access=feed.private_access)
    if response.not_modified:
        return SourceRead(entries=(), not_modified=True, etag=response.etag,
                          last_modified=response.last_modified)
    content_type = _content_type(response.content_type, response.charset)
    # In a worker, within the feed-parse deadline: feedparser takes tens of milliseconds a
    # feed, which on the event loop held up every fetch in flight (and every run's start).
    parsed = await extraction.parse_feed(response.body, feed_name=feed.name,
                                         feed_url=response.url, content_type=content_type)
    for warning in parsed.warnings:
        log.warning("feed recovered", extra={"event": "feed_warning", "feed": feed.name,
                                             "detail": warning})
    entries = parsed.entries
    if feed.include_urls or feed.exclude_urls:
        entries = tuple(entry for entry in entries
                        if entry.url is None or feed.wants_url(entry.url))
    return SourceRead(entries=entries, not_modified=False, etag=response.etag,
                      last_modified=response.last_modified)
