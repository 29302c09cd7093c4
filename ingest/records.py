"""Frozen records passed between pipeline stages.

config -> scheduler -> poll feed (`FeedEntry`) -> fetch page (`FetchedPage`) -> extract
(`ExtractedArticle`) -> dedupe -> store (`Article` -> `StoredArticle`) -> status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a polled feed, with what the feed tells about the article."""

    feed_name: str
    key: str  # guid when the feed has one, else the normalised link: "already seen" identity
    url: str | None  # the article link as given (absolute), None when the entry has none
    title: str
    summary_html: str
    content_html: str  # full article content when the feed carries it, else ""
    published: date | None  # publisher's calendar date, never shifted into UTC


@dataclass(frozen=True)
class FetchResponse:
    """A successful HTTP response (200 or 304) after redirects, size and type checks."""

    url: str  # final URL after redirects
    status: int
    content_type: str  # media type only, lower-case ("text/html")
    charset: str | None  # charset parameter of Content-Type, if any
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    source: str  # "http", "bom", "meta", "detected" or "fallback"


@dataclass(frozen=True)
class FetchedPage:
    """An article page fetched and decoded."""

    url: str
    html: str
    encoding: str


@dataclass(frozen=True)
class SiteRules:
    """Per-feed extraction rules from configuration (CSS selectors)."""

    keep: tuple[str, ...] = ()  # when set, the article is the union of these elements
    drop: tuple[str, ...] = ()  # elements removed before extraction


@dataclass(frozen=True)
class ExtractionHints:
    """What the feed entry says about the article, to locate and date it."""

    title: str = ""
    summary: str = ""  # plain text
    content_html: str = ""  # full content carried by the feed, if any
    published: date | None = None


@dataclass(frozen=True)
class ExtractedArticle:
    """The article text found in a page: paragraphs in order, plus metadata."""

    title: str
    paragraphs: tuple[str, ...]
    published: date | None
    date_source: str = ""  # "feed", "json-ld", "meta", "time", "" when unknown
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Article:
    """An article ready to store: normalised text and its identity."""

    feed_name: str
    url: str
    title: str
    text: str
    published: date | None
    content_hash: str


@dataclass(frozen=True)
class StoredArticle:
    sequence: int
    content_hash: str
    file_name: str
    url: str
    feed_name: str
