"""Parse the bytes of a polled feed (RSS 0.9x/1.0/2.0, Atom) into `FeedEntry` records.

Pure: feedparser is given the body as a stream, so it never fetches a URL or opens a file.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urljoin

import feedparser

from ingest.dedupe.normalize import normalize_paragraph
from ingest.extract.dates import parse_publisher_date
from ingest.records import FailureKind, FeedEntry, IngestFailure, is_http_url, storable_text
from ingest.sources.feed_encoding import feed_bytes_for_parser, feed_codec
from ingest.urls import normalize_url, without_credentials

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SNIFF_BYTES = 2048
_NUMBER = re.compile(r"\d{1,9}")


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    warnings: tuple[str, ...]  # one line each, e.g. "not well-formed XML: ... (entries recovered)"
    # RFC 5005 archived feeds: the document of the entries before these (absolute), if any.
    prev_archive: str | None = None


def parse_feed(
    body: bytes, *, feed_name: str, feed_url: str, content_type: str | None = None
) -> ParsedFeed:
    """Entries of the feed in document order, the first of each key only.

    `content_type` is the response's Content-Type header value (its charset parameter is used
    to decode the body). Raises `IngestFailure` EMPTY_RESPONSE for an empty body and NOT_A_FEED
    when there are no entries and the body is malformed, HTML or not RSS/Atom at all. A
    well-formed feed without entries gives an empty `entries`.
    """
    if not body.strip():
        raise IngestFailure(FailureKind.EMPTY_RESPONSE, "the feed body is empty")
    # A str or bytes argument may be taken for a URL or a file path by feedparser; a stream
    # never is (feedparser's own advice for untrusted input).
    result = feedparser.parse(
        io.BytesIO(feed_bytes_for_parser(body)),
        response_headers=_feedparser_headers(content_type),
        # Scripts, styles and event handlers never reach storage or the extractor.
        sanitize_html=True,
        # Only xml:base can resolve anything: no Content-Location is passed (see below).
        resolve_relative_uris=True,
    )
    bozo_detail = _bozo_detail(result)
    if not result.entries:
        _reject_if_not_a_feed(body, result, bozo_detail)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in result.entries:
        entry = _feed_entry(raw, feed_name=feed_name, feed_url=feed_url)
        if entry.key in seen:
            continue
        seen.add(entry.key)
        entries.append(entry)
    warnings = (f"{bozo_detail} (entries recovered)",) if bozo_detail and entries else ()
    return ParsedFeed(
        title=_plain_text(result.feed.get("title_detail"), result.feed.get("title", "")),
        entries=tuple(entries),
        warnings=warnings,
        prev_archive=_prev_archive(result.feed.get("links", ()), feed_url),
    )


def _prev_archive(links: Any, feed_url: str) -> str | None:
    for link in links or ():
        if isinstance(link, dict) and link.get("rel") == "prev-archive":
            url = urljoin(feed_url, str(link.get("href", "")).strip())
            return without_credentials(url) if is_http_url(url) else None
    return None


def _feedparser_headers(content_type: str | None) -> dict[str, str]:
    # Deliberately no "content-location": feedparser would resolve every guid against it, so a
    # guid "12345" became "https://site/feeds/12345" (a key that changes when the feed URL
    # does, and a made-up article link). Links are resolved against the feed URL here instead.
    #
    # The media type is always given as application/xml: for text/* without charset (feeds are
    # routinely served as text/xml, text/html, text/plain) feedparser follows RFC 3023 and
    # decodes as US-ASCII, ignoring the XML declaration, and flags the feed as malformed.
    # RFC 7303 dropped that rule. The charset parameter, when the server sends one, is kept:
    # feedparser tries it first and falls back to the XML declaration if it fails to decode.
    charset = feed_codec(_charset(content_type))
    return {"content-type": f"application/xml; charset={charset}" if charset
            else "application/xml"}


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _bozo_detail(result: Mapping[str, Any]) -> str:
    if not result.get("bozo"):
        return ""
    exc = result.get("bozo_exception")
    kind = type(exc).__name__
    message = " ".join(str(exc).split())
    if kind == "SAXParseException":
        return f"not well-formed XML: {message}"
    if kind in {"CharacterEncodingOverride", "CharacterEncodingUnknown"}:
        return f"character encoding: {message}"
    return f"{kind}: {message}"


def _reject_if_not_a_feed(body: bytes, result: Mapping[str, Any], bozo_detail: str) -> None:
    if _starts_as_html(body[:_SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")):
        raise IngestFailure(FailureKind.NOT_A_FEED, "an HTML page, not an RSS or Atom feed")
    if bozo_detail:
        raise IngestFailure(FailureKind.NOT_A_FEED, f"no entries; {bozo_detail}")
    if not result.get("version"):
        raise IngestFailure(FailureKind.NOT_A_FEED, "no RSS, RDF or Atom root element")


def _starts_as_html(head: bytes) -> bool:
    """An HTML page where a feed was expected: a doctype or <html> root, possibly after
    whitespace, an XML declaration or comments. A scan, not a regular expression: the
    pattern `(?:\\s|<\\?xml[^>]*>|<!--.*?-->)*` backtracked for minutes on 343 bytes of
    nested comment openings."""
    position = 0
    while True:
        while position < len(head) and head[position:position + 1].isspace():
            position += 1
        rest = head[position:position + 16].lower()
        if rest.startswith(b"<?xml"):
            end = head.find(b">", position)
        elif rest.startswith(b"<!--"):
            end = head.find(b"-->", position + 4)
            end = end + 2 if end >= 0 else -1
        else:
            break
        if end < 0:
            return False
        position = end + 1
    rest = head[position:position + 64].lower()
    for opening in (b"<!doctype", b"<html"):
        if rest.startswith(opening):
            after = rest[len(opening):]
            if opening == b"<!doctype":
                return after[:1].isspace() and after.lstrip().startswith(b"html")
            return after[:1].isspace() or after.startswith(b">")
    return False


def _feed_entry(raw: Mapping[str, Any], *, feed_name: str, feed_url: str) -> FeedEntry:
    title = _plain_text(raw.get("title_detail"), raw.get("title", ""))
    summary_html = storable_text(_as_html(raw.get("summary_detail"), raw.get("summary", "")))
    url = _article_url(raw, feed_url)
    return FeedEntry(
        feed_name=feed_name,
        key=_entry_key(raw, url, title, summary_html),
        url=url,
        title=title,
        summary_html=summary_html,
        content_html=storable_text(_longest_content(raw)),
        published=_publisher_date(raw),
    )


def _article_url(raw: Mapping[str, Any], feed_url: str) -> str | None:
    link = storable_text(raw.get("link") or "").strip()
    if not link:
        return None
    # feedparser copies an RSS guid into `link` when the item has no <link> and the guid is
    # not marked isPermaLink="false"; such guids are often plain ids ("12345"), so only trust
    # one that is a URL or a site-rooted path. A guid-made link is missing from `links`
    # (feedparser's `guidislink` flag cannot tell: it is also set on every Atom entry).
    from_guid = not any(item.get("href") == link for item in raw.get("links") or ())
    if from_guid and not (is_http_url(link) or link.startswith("/")):
        return None
    try:
        absolute = urljoin(feed_url, link)
    except ValueError:  # an invalid IPv6 host, say: no link rather than no feed
        return None
    # A password in a link would be kept in the index and shown by /api/articles.
    return without_credentials(absolute) if is_http_url(absolute) else None


def _entry_key(raw: Mapping[str, Any], url: str | None, title: str, summary_html: str) -> str:
    guid = storable_text(raw.get("id") or "").strip()
    if guid:
        return without_credentials(guid) if is_http_url(guid) else guid
    if url:
        return normalize_url(url)
    digest = hashlib.sha256(f"{title}\n{summary_html}".encode()).hexdigest()
    return f"sha256:{digest}"


def _plain_text(detail: Mapping[str, Any] | None, value: str) -> str:
    content_type = (detail or {}).get("type", "text/plain")
    if content_type in _HTML_TYPES and ("<" in value or "&" in value):
        # Imported here: bs4 is a tenth of a second of every fetch's start, and most feeds'
        # titles hold no markup at all.
        from bs4 import BeautifulSoup

        text = BeautifulSoup(value, "html.parser").get_text(" ")
    else:
        # feedparser has already unescaped a plain-text title; what is left is the publisher's
        # double escaping ("AT&amp;T"), far more common than a literal entity in a headline.
        text = html.unescape(value)
    return normalize_paragraph(storable_text(text))


def _as_html(detail: Mapping[str, Any] | None, value: str) -> str:
    content_type = (detail or {}).get("type", "text/html")
    if content_type in _HTML_TYPES:
        return value
    # Atom type="text" content: "<" in it is text, so keep it from being read as markup.
    return html.escape(value, quote=False)


def _longest_content(raw: Mapping[str, Any]) -> str:
    bodies = [_as_html(item, item.get("value", "")) for item in raw.get("content") or ()]
    return max(bodies, key=len, default="")


def _publisher_date(raw: Mapping[str, Any]) -> date | None:
    # The raw string keeps the publisher's calendar date; feedparser's *_parsed values are
    # shifted into UTC ("Thu, 09 Oct 2025 01:30:00 +0400" would become 8 October). They are
    # only a fallback for formats parse_publisher_date does not read. dict.get bypasses
    # FeedParserDict's aliases (its "updated" falls back to "published" with a warning);
    # dc:date is stored under "updated".
    for field in ("published", "updated"):
        value = dict.get(raw, field)
        if isinstance(value, str):
            found = parse_publisher_date(value)
            if found is not None:
                return found
        parsed = dict.get(raw, f"{field}_parsed")
        if parsed is not None and isinstance(value, str) and _states(value, parsed):
            # Through parse_publisher_date again so its plausible-year check applies too
            # (feeds carry "01 Jan 1970" placeholders).
            try:
                fallback = date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            except ValueError:  # year 0 or -1
                return None
            return parse_publisher_date(fallback.isoformat())
    return None


def _states(value: str, parsed: Any) -> bool:
    """Whether the raw date states feedparser's year and day: feedparser rolls impossible
    dates over ("2024-02-32" became 3 March), and no date is better than a wrong one."""
    numbers = {int(number) for number in _NUMBER.findall(value[:200])}
    return parsed.tm_year in numbers and parsed.tm_mday in numbers
    return None
