"""The vocabulary every stage shares: the frozen records passed between stages, and the
closed set of failure kinds.

poll feed (`FeedEntry`) -> fetch page (`FetchResponse`) -> extract (`ExtractedArticle`) ->
dedupe -> store (`Article`). config/ and storage/ import this module, and nothing of the
stages: it imports nothing of the project. It also holds the two checks they share with the
stages: what counts as an http(s) URL, and the content hash that is an article's identity.

Stages raise `IngestFailure` at the edge; the run records its `kind` per feed and per article
so the status log counts failures by kind instead of echoing exception text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from urllib.parse import urlsplit

# What no stored text may hold: lone surrogates (a `&#xD800;` in a feed, a `\ud800` escape in
# JSON-LD) cannot be encoded as UTF-8 for a corpus file or a database, PostgreSQL refuses NUL
# in text, and XML 1.0 allows no C0 control but tab, LF and CR. One character class: linear.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def storable_text(text: str) -> str:
    """`text` without what cannot be stored: C0 controls (not tab, LF, CR) are removed, lone
    surrogates become U+FFFD. Applied where bytes become text (feeds, pages, headers, JSON-LD)
    and to every failure detail, so one bad character costs nothing but itself."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSTORABLE.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return "\ufffd" if match.group() >= "\ud800" else ""


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
    # The language the source declares for the article (a news sitemap's `news:language`),
    # ISO 639-1; None: not declared, and the stored text's language is detected instead.
    language: str | None = None


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
    # The response's headers as received (name, value), kept for the page archive.
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    source: str  # "http", "bom", "meta", "detected" or "fallback"


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


class ExtractionMethod(StrEnum):
    """Which method gave an article its text, recorded with the article: a corpus whose
    weak pages went to the second method can be checked by method."""

    MAIN = "main"  # the element of the page whose paragraphs read most like prose
    FALLBACK = "fallback"  # the densest run of prose in reading order (main result weak)
    SITE_RULES = "site_rules"  # the feed's configured `keep` selectors
    FEED_CONTENT = "feed_content"  # the full text the feed carried (page had none)
    JSON_LD = "json_ld"  # the page's JSON-LD articleBody (page had no text of its own)
    NONE = "none"  # no article text found


@dataclass(frozen=True)
class ExtractedArticle:
    """The article text found in a page: paragraphs in order, plus metadata."""

    title: str
    paragraphs: tuple[str, ...]
    published: date | None
    date_source: str = ""  # "feed", "json-ld", "meta", "time", "" when unknown
    notes: tuple[str, ...] = field(default_factory=tuple)
    method: ExtractionMethod = ExtractionMethod.MAIN


@dataclass(frozen=True)
class Article:
    """An article ready to store: normalised text and its identity."""

    feed_name: str
    url: str
    title: str
    text: str
    published: date | None
    content_hash: str
    method: ExtractionMethod = ExtractionMethod.MAIN  # how the text was found
    # Whether the feed entry's summary is found in the text (None: the entry had none): a
    # signal of extraction health, as a site that changes its layout loses its story.
    summary_found: bool | None = None
    language: str | None = None  # ISO 639-1 code detected from the text; None: unknown


class SourceKind(StrEnum):
    """What a configured source's URL serves, and so how a poll reads it."""

    FEED = "feed"  # RSS or Atom
    SITEMAP = "sitemap"  # an XML sitemap or sitemap index (gzip-compressed too)
    NEWS_SITEMAP = "news_sitemap"  # a Google News sitemap: dates, titles, languages


class EntryOutcome(StrEnum):
    """What became of a feed entry in a run; all but `RETRY` settle it for good."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    FILTERED = "filtered"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure: tried again at the next polls


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    REEXTRACT = "reextract"  # `source-ingest reextract`: stored articles redone from the archive
    BACKFILL = "backfill"  # `source-ingest backfill NAME`: a source's older articles


class RunState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # stopped (SIGTERM) or its process died
    FAILED = "failed"  # the database failed under it


class ArticleState(StrEnum):
    WRITING = "writing"  # sequence and hash reserved, file not yet durable
    STORED = "stored"


class FeedHealth(StrEnum):
    """A feed's health as status, the API, the page and /metrics show it."""

    NEW = "new"  # not polled successfully yet
    OK = "ok"
    FAILING = "failing"  # the feed fails, or most of its articles do
    SUSPENDED = "suspended"  # failed too often: polled again after `feeds resume NAME`
    DISABLED = "disabled"  # `enabled = false` in the config
    BUSY = "busy"  # being polled by another process right now
    # its recent articles fall well below its own baseline (ingest/run/extraction_health.py)
    EXTRACTION_DEGRADED = "extraction_degraded"


class FailureKind(StrEnum):
    INVALID_URL = "invalid_url"
    BLOCKED_ADDRESS = "blocked_address"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"
    TLS_ERROR = "tls_error"
    TIMEOUT = "timeout"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    RESPONSE_TOO_LARGE = "response_too_large"
    HTTP_UNAUTHORIZED = "http_unauthorized"
    HTTP_NOT_FOUND = "http_not_found"
    HTTP_TOO_MANY_REQUESTS = "http_too_many_requests"
    HTTP_CLIENT_ERROR = "http_client_error"
    HTTP_SERVER_ERROR = "http_server_error"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    EMPTY_RESPONSE = "empty_response"
    NOT_A_FEED = "not_a_feed"
    ENTRY_WITHOUT_LINK = "entry_without_link"
    NO_ARTICLE_TEXT = "no_article_text"
    STORAGE_ERROR = "storage_error"
    INTERNAL_ERROR = "internal_error"
    TRUNCATED_RESPONSE = "truncated_response"
    UNEXPECTED_NOT_MODIFIED = "unexpected_not_modified"
    EXTRACTION_TIMEOUT = "extraction_timeout"
    PARSE_TIMEOUT = "parse_timeout"
    PAGE_TOO_COMPLEX = "page_too_complex"
    ROBOTS_DISALLOWED = "robots_disallowed"
    NOT_A_SITEMAP = "not_a_sitemap"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]

    @property
    def is_transient(self) -> bool:
        """Whether trying the same URL again later may succeed."""
        return self in _TRANSIENT


_EXPLANATIONS: dict[FailureKind, str] = {
    FailureKind.INVALID_URL: "the URL is not an absolute http(s) URL",
    FailureKind.BLOCKED_ADDRESS: "the host resolves to a private, loopback or link-local address",
    FailureKind.DNS_ERROR: "the host name does not resolve",
    FailureKind.CONNECTION_ERROR: "the server refused or dropped the connection",
    FailureKind.TLS_ERROR: "the TLS handshake failed",
    FailureKind.TIMEOUT: "the server did not answer within the configured time",
    FailureKind.TOO_MANY_REDIRECTS: "the server redirected too many times (or in a loop)",
    FailureKind.RESPONSE_TOO_LARGE: "the response is larger than the configured cap",
    FailureKind.HTTP_UNAUTHORIZED: "the server refused access (HTTP 401/403)",
    FailureKind.HTTP_NOT_FOUND: "the server has no such page (HTTP 404/410)",
    FailureKind.HTTP_TOO_MANY_REQUESTS: "the server is rate limiting us (HTTP 429)",
    FailureKind.HTTP_CLIENT_ERROR: "the server rejected the request (HTTP 4xx)",
    FailureKind.HTTP_SERVER_ERROR: "the server failed (HTTP 5xx)",
    FailureKind.UNSUPPORTED_CONTENT_TYPE: "the response is not HTML or a feed (PDF, image, ...)",
    FailureKind.EMPTY_RESPONSE: "the server answered with an empty body",
    FailureKind.NOT_A_FEED: "the response is not an RSS or Atom feed with entries",
    FailureKind.ENTRY_WITHOUT_LINK: "the feed entry has no link to an article page",
    FailureKind.NO_ARTICLE_TEXT: "no article text could be extracted from the page",
    FailureKind.STORAGE_ERROR: "the corpus file or index row could not be written",
    FailureKind.INTERNAL_ERROR: "an unexpected error in source-ingest (a bug: please report it)",
    FailureKind.TRUNCATED_RESPONSE: "the response ended early (a compressed body cut short)",
    FailureKind.UNEXPECTED_NOT_MODIFIED: (
        "the server answered 304 Not Modified to a request without validators"),
    FailureKind.EXTRACTION_TIMEOUT: "extracting the page took longer than its deadline",
    FailureKind.PARSE_TIMEOUT: "parsing the feed took longer than its deadline",
    FailureKind.PAGE_TOO_COMPLEX: (
        "the page has more elements, text or memory use than one page may cost"),
    FailureKind.ROBOTS_DISALLOWED: "the site's robots.txt disallows the page (never fetched)",
    FailureKind.NOT_A_SITEMAP: "the response is not an XML sitemap or sitemap index",
}

_TRANSIENT = frozenset(
    {
        FailureKind.DNS_ERROR,
        FailureKind.CONNECTION_ERROR,
        FailureKind.TLS_ERROR,
        FailureKind.TIMEOUT,
        FailureKind.HTTP_TOO_MANY_REQUESTS,
        FailureKind.HTTP_SERVER_ERROR,
        FailureKind.STORAGE_ERROR,
        FailureKind.INTERNAL_ERROR,
        FailureKind.TRUNCATED_RESPONSE,
    }
)


class IngestFailure(Exception):
    """A failure of one feed or one article, with its kind and a one-line detail."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        detail = storable_text(detail)  # it is recorded in the index and shown
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


def content_hash(text: str) -> str:
    """The SHA-256 (hex) of the normalised article text: the article's identity."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The common form, recognised without urlsplit: checking 100,000 configured feeds' URLs spent
# 0.9 s in it (bench/scale_sources.py). Anything else goes through urlsplit as before.
_PLAIN_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#]|\Z)", re.I)


def is_http_url(url: str) -> bool:
    if _PLAIN_HTTP_URL.match(url):
        return True
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
