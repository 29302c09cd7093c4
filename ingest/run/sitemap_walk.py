"""Walk a sitemap source: its file, the child sitemaps of an index (to a bounded depth), and
the article URLs they list.

A poll (`changed_only`) reads a child again only when its parent lists a lastmod other than
the one recorded (or none), and then with a conditional GET; an index that answers 304 stands
for the children recorded under it. A backfill reads every file. Sitemaps are fetched like
article pages: robots.txt first, at the host's pace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.settings import FeedSettings
from ingest.fetch.polite import PoliteFetcher
from ingest.records import FailureKind, IngestFailure, SourceKind
from storage.sitemaps import SitemapFile

if TYPE_CHECKING:  # lxml and the sitemap parser load when a sitemap is read, not at start
    from ingest.sources.sitemap import ListedUrl, ParsedSitemap

log = logging.getLogger("source_ingest.sitemaps")

# index -> index -> urlset is the deepest nesting seen in practice (news sites' yearly
# indexes of monthly indexes); anything deeper is more likely a loop of generated URLs.
MAX_DEPTH = 3
# Files one walk reads at most: an index of 50,000 children must not take a poll all day.
MAX_FILES = 2_000

RunInWorker = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class SitemapWalk:
    urls: tuple[ListedUrl, ...]  # newest first (by lastmod or publication date)
    files: tuple[SitemapFile, ...]  # read now: recorded once their URLs are settled
    failures: tuple[tuple[str, IngestFailure], ...]  # child sitemaps that could not be read
    # Every file was read: only then may `files` be recorded (a child left out would
    # otherwise be skipped for good, its parent standing for it).
    complete: bool


@dataclass
class _Walk:
    feed: FeedSettings
    polite: PoliteFetcher
    run_in_worker: RunInWorker
    known: dict[str, SitemapFile]
    changed_only: bool
    respect_robots: bool
    max_bytes: int
    urls: list[ListedUrl]
    files: list[SitemapFile]
    failures: list[tuple[str, IngestFailure]]
    visited: set[str]


async def walk_sitemaps(polite: PoliteFetcher, run_in_worker: RunInWorker,
                        feed: FeedSettings, known: dict[str, SitemapFile], *,
                        changed_only: bool, respect_robots: bool, max_bytes: int,
                        start_urls: tuple[str, ...] | None = None) -> SitemapWalk:
    """Read the source's sitemaps (or `start_urls`: a feed source's sitemaps found by
    discovery). A failure of the first file raises (the source's poll failed); a child's is
    recorded in `failures` and the walk goes on."""
    walk = _Walk(feed=feed, polite=polite, run_in_worker=run_in_worker, known=known,
                 changed_only=changed_only, respect_robots=respect_robots, max_bytes=max_bytes,
                 urls=[], files=[], failures=[], visited=set())
    starts = start_urls if start_urls is not None else (feed.url,)
    for index, url in enumerate(starts):
        try:
            await _visit(walk, url, parent="", listed_lastmod=None, depth=0)
        except IngestFailure as failure:
            if start_urls is None and index == 0:
                raise
            walk.failures.append((url, failure))
    seen: set[str] = set()
    urls: list[ListedUrl] = []
    for listed in walk.urls:
        if listed.entry.key not in seen and listed.entry.url and feed.wants_url(listed.entry.url):
            seen.add(listed.entry.key)
            urls.append(listed)
    urls.sort(key=_newest_first)
    return SitemapWalk(urls=tuple(urls), files=tuple(walk.files),
                       failures=tuple(walk.failures),
                       complete=not walk.failures and len(walk.visited) < MAX_FILES)


def _newest_first(listed: ListedUrl) -> tuple[int, int]:
    day = listed.entry.published or listed.lastmod
    return (0, -day.toordinal()) if day is not None else (1, 0)


async def _visit(walk: _Walk, url: str, *, parent: str, listed_lastmod: str | None,
                 depth: int) -> None:
    if url in walk.visited or len(walk.visited) >= MAX_FILES:
        return
    walk.visited.add(url)
    known = walk.known.get(url)
    if walk.changed_only and known is not None and listed_lastmod is not None \
            and known.lastmod == listed_lastmod:
        return  # the parent says it has not changed since it was read
    revalidate = walk.changed_only and known is not None
    response = await walk.polite.fetch(
        url, respect_robots=walk.respect_robots,
        etag=known.etag if revalidate and known else None,
        last_modified=known.last_modified if revalidate and known else None,
        access=walk.feed.private_access)
    if response.not_modified and known is not None:
        walk.files.append(SitemapFile(url=url, parent=parent, lastmod=listed_lastmod,
                                      etag=response.etag, last_modified=response.last_modified,
                                      is_index=known.is_index))
        if known.is_index:
            for child in [file for file in walk.known.values() if file.parent == url]:
                await _visit_child(walk, child.url, url, child.lastmod, depth + 1)
        return
    from ingest.sources.sitemap import parse_sitemap

    parsed: ParsedSitemap = await walk.run_in_worker(
        parse_sitemap, response.body, feed_name=walk.feed.name, sitemap_url=response.url,
        news_only=walk.feed.kind is SourceKind.NEWS_SITEMAP, max_bytes=walk.max_bytes)
    for warning in parsed.warnings:
        log.warning("sitemap truncated", extra={"event": "sitemap_warning",
                                                "feed": walk.feed.name, "detail": warning})
    walk.files.append(SitemapFile(url=url, parent=parent, lastmod=listed_lastmod,
                                  etag=response.etag, last_modified=response.last_modified,
                                  is_index=parsed.is_index))
    walk.urls.extend(parsed.urls)
    for child in parsed.sitemaps:
        await _visit_child(walk, child.url, url, child.lastmod, depth + 1)


async def _visit_child(walk: _Walk, url: str, parent: str, lastmod: str | None,
                       depth: int) -> None:
    if depth >= MAX_DEPTH:
        walk.failures.append((url, IngestFailure(
            FailureKind.NOT_A_SITEMAP, f"{url}: sitemap indexes nested deeper than {MAX_DEPTH}")))
        return
    try:
        await _visit(walk, url, parent=parent, listed_lastmod=lastmod, depth=depth)
    except IngestFailure as failure:
        walk.failures.append((url, failure))


