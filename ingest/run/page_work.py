"""The work an extraction worker does on one page: decode, extract, normalise and sign it;
pure and CPU-bound (`ingest.run.worker_pool` runs it).

Everything here crosses the process boundary as frozen, picklable records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from config.settings import FeedSettings, LimitSettings
from ingest.dedupe.normalize import normalize_text
from ingest.extract.summary_match import summary_found
from ingest.records import (
    Article,
    ExtractionHints,
    FailureKind,
    FeedEntry,
    IngestFailure,
    content_hash,
    storable_text,
)

if TYPE_CHECKING:
    from ingest.dedupe.near_duplicates import TextSignature


@dataclass(frozen=True)
class PageExtraction:
    """A page's article and its near-duplicate signature, or why there is no article."""

    article: Article | None
    signature: TextSignature | None
    failure: tuple[FailureKind, str] | None


def extract_page(feed: FeedSettings, entry: FeedEntry, body: bytes, charset: str | None,
                 page_url: str, near_duplicates: bool,
                 max_tags: int = LimitSettings.max_page_tags) -> PageExtraction:
    """Decode, extract, normalise and sign one page (pure and CPU-bound: runs in a worker).

    A page of more than `max_tags` tags is refused before it is parsed: the HTML parser and
    the extractor cost time and memory by element (a million `<p>a</p>`: 18 s and 1.6 GB;
    the largest of 919 real pages has 20,574 tags, bench/hostile.py)."""
    from ingest.fetch.decode import decode_html

    too_complex = _complexity(body, max_tags)
    if too_complex is not None:
        return PageExtraction(article=None, signature=None, failure=(
            FailureKind.PAGE_TOO_COMPLEX, f"{page_url}: {too_complex}"))
    try:
        article = build_article(feed, entry, decode_html(body, charset).text, page_url)
    except IngestFailure as failure:
        # IngestFailure does not survive pickling (its args are not its __init__'s), so it
        # crosses the process boundary as data.
        return PageExtraction(article=None, signature=None,
                              failure=(failure.kind, failure.detail))
    if not near_duplicates:
        return PageExtraction(article=article, signature=None, failure=None)
    from ingest.dedupe.near_duplicates import text_signature

    signature = text_signature(article.text)
    return PageExtraction(article=article, signature=signature, failure=None)


# One element's attributes cost lexbor's parse quadratic time (10,000: 0.11 s, 30,000: 2.3 s,
# 300,000: minutes). A tag's tokens outside quoted values count them; the most in one tag of
# 919 real pages is 5,806 (script text after a bare "<"), 20,000 cost about a second.
_MAX_TAG_TOKENS = 20_000
_LONG_TAG_BYTES = 4096  # a tag shorter than this cannot hold too many attributes
_QUOTED = re.compile(rb'"[^"]*"|\'[^\']*\'')


def _complexity(body: bytes, max_tags: int) -> str | None:
    """Why a page is too complex to parse, or None: too many tags, or one tag of too many
    attributes (bench/hostile.py)."""
    tags = body.count(b"<")
    if tags > max_tags:
        return f"{tags} tags, more than {max_tags}"
    for long_tag in _long_tags(body):
        tokens = len(_QUOTED.sub(b" ", long_tag).split())
        if tokens > _MAX_TAG_TOKENS:
            return f"a tag of {tokens} attributes, more than {_MAX_TAG_TOKENS}"
    return None


def _long_tags(body: bytes) -> list[bytes]:
    """Each "<" with the bytes after it up to the next "<" or ">" (or the end), where those
    are more than _LONG_TAG_BYTES: what `<[^<>]{4096,}` finds, from the positions of the two
    characters in C instead of the expression reading every tag byte by byte in Python's
    regular-expression engine (bench/README.md, stop 29)."""
    import numpy as np

    octets = np.frombuffer(body, dtype=np.uint8)
    # "<" (0x3C) and ">" (0x3E) are the only two bytes that equal 0x3E once bit 1 is set.
    marks = np.flatnonzero((octets | 2) == ord(">"))
    ends = np.append(marks[1:], len(body))
    long = (ends - marks > _LONG_TAG_BYTES) & (octets[marks] == ord("<"))
    return [body[start:end] for start, end in zip(marks[long].tolist(), ends[long].tolist(),
                                                   strict=True)]


def build_article(feed: FeedSettings, entry: FeedEntry, html: str, page_url: str) -> Article:
    """Extract and normalise the article of one page (pure: no I/O)."""
    summary = _plain_summary(entry.summary_html)
    hints = ExtractionHints(title=entry.title, summary=summary,
                            content_html=entry.content_html, published=entry.published)
    from ingest.extract.article import extract_article

    extracted = extract_article(html, page_url, hints, feed.rules)
    # The last point before the text is hashed and stored: a NUL or lone surrogate that came
    # through the page or its JSON-LD is dropped here, for this article alone.
    text = storable_text(normalize_text(extracted.paragraphs))
    if not text:
        raise IngestFailure(FailureKind.NO_ARTICLE_TEXT, f"nothing extracted from {page_url}")
    published: date | None = entry.published or extracted.published
    return Article(feed_name=feed.name, url=page_url,
                   title=storable_text(entry.title or extracted.title),
                   text=text, published=published, content_hash=content_hash(text),
                   method=extracted.method, summary_found=summary_found(summary, text))


def _plain_summary(summary_html: str) -> str:
    if "<" not in summary_html:
        return summary_html
    from bs4 import BeautifulSoup

    return BeautifulSoup(summary_html, "html.parser").get_text(" ", strip=True)
