"""What a site's home page and robots.txt say about its feeds and sitemaps (pure: the checks
that fetch them are in `ingest/run/discovery.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from ingest.records import SourceKind, is_http_url

FEED_LINK_TYPES = frozenset({"application/rss+xml", "application/atom+xml",
                             "application/rdf+xml", "application/feed+json"})
# Where sites keep a feed when the home page does not link one (WordPress, Ghost, Hugo, ...).
COMMON_FEED_PATHS = ("/feed", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/rss")
COMMON_SITEMAP_PATHS = ("/sitemap.xml", "/news-sitemap.xml", "/sitemap_index.xml")


@dataclass(frozen=True)
class Candidate:
    url: str
    kind: SourceKind  # what it is expected to be (a feed, or a sitemap of either kind)
    title: str = ""
    how: str = ""  # how it was found: "link rel=alternate", "robots.txt", "common path"


def alternate_links(html: str, page_url: str) -> list[Candidate]:
    """The page's `<link rel="alternate">` feeds, absolute, in document order."""
    found: list[Candidate] = []
    seen: set[str] = set()
    for link in LexborHTMLParser(html).css("link[rel][href]"):
        rels = (link.attributes.get("rel") or "").lower().split()
        kind = (link.attributes.get("type") or "").lower().split(";")[0].strip()
        if "alternate" not in rels or kind not in FEED_LINK_TYPES:
            continue
        url = urljoin(page_url, (link.attributes.get("href") or "").strip())
        if not is_http_url(url) or url in seen:
            continue
        seen.add(url)
        found.append(Candidate(url=url, kind=SourceKind.FEED,
                               title=(link.attributes.get("title") or "").strip(),
                               how="link rel=alternate"))
    return found


def candidates(home_url: str, home_html: str | None,
               robots_sitemaps: tuple[str, ...]) -> list[Candidate]:
    """Everything worth checking, each URL once: linked feeds (else the common feed paths),
    robots.txt's sitemaps and the common sitemap paths."""
    found = alternate_links(home_html, home_url) if home_html else []
    if not found:
        found = [Candidate(url=urljoin(home_url, path), kind=SourceKind.FEED, how="common path")
                 for path in COMMON_FEED_PATHS]
    found += [Candidate(url=url, kind=SourceKind.SITEMAP, how="robots.txt")
              for url in robots_sitemaps if is_http_url(url)]
    found += [Candidate(url=urljoin(home_url, path), kind=SourceKind.SITEMAP, how="common path")
              for path in COMMON_SITEMAP_PATHS]
    unique: dict[str, Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.url, candidate)
    return list(unique.values())
