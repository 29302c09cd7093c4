"""Parse a sitemap or sitemap index (sitemaps.org 0.9; gzip-compressed too) into the child
sitemaps and the article URLs it lists. Pure: the walk that fetches them is in
`ingest/run/sitemap_walk.py`.

The XML parser resolves no entity and reads nothing from the network, and a compressed body is
inflated only up to the response cap, so a hostile sitemap costs at most what a page does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin

from lxml import etree

from ingest.records import FailureKind, FeedEntry, IngestFailure, is_http_url
from ingest.sources.news_sitemap import news_fields
from ingest.urls import normalize_url

# sitemaps.org: at most 50,000 URLs (and 50,000 child sitemaps) in one file.
MAX_LISTED = 50_000
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ListedSitemap:
    """A child sitemap of an index, with the lastmod the index gives it (as written)."""

    url: str
    lastmod: str | None


@dataclass(frozen=True)
class ListedUrl:
    """An article URL of a sitemap, as a feed entry, with its lastmod's day."""

    entry: FeedEntry
    lastmod: date | None
    language: str = ""  # a news sitemap's <news:language>


@dataclass(frozen=True)
class ParsedSitemap:
    sitemaps: tuple[ListedSitemap, ...]  # an index's children
    urls: tuple[ListedUrl, ...]  # a urlset's articles
    warnings: tuple[str, ...] = ()

    @property
    def is_index(self) -> bool:
        return bool(self.sitemaps)


def parse_sitemap(body: bytes, *, feed_name: str, sitemap_url: str, news_only: bool,
                  max_bytes: int) -> ParsedSitemap:
    """A sitemap index's children or a urlset's URLs (document order, first of each URL).

    `news_only`: keep only `<url>`s with a `<news:news>` element (a news sitemap's articles;
    anything else it lists is no article). Raises IngestFailure NOT_A_SITEMAP when the body is
    neither, RESPONSE_TOO_LARGE when its gzip inflates past `max_bytes`."""
    body = _inflated(body, max_bytes, sitemap_url)
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        return _text_sitemap(stripped, feed_name)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(stripped, parser)
    except etree.XMLSyntaxError as exc:
        raise IngestFailure(FailureKind.NOT_A_SITEMAP, f"not XML: {exc}") from exc
    if root is None or not isinstance(root.tag, str):
        raise IngestFailure(FailureKind.NOT_A_SITEMAP, "no XML root element")
    kind = etree.QName(root).localname
    if kind == "sitemapindex":
        return _index(root, sitemap_url)
    if kind == "urlset":
        return _urlset(root, feed_name, sitemap_url, news_only)
    raise IngestFailure(FailureKind.NOT_A_SITEMAP,
                        f"root element <{kind}>, not <urlset> or <sitemapindex>")


def _inflated(body: bytes, max_bytes: int, sitemap_url: str) -> bytes:
    # A .xml.gz file is usually served as application/gzip without Content-Encoding, so the
    # fetcher hands over the compressed bytes.
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflate.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise IngestFailure(FailureKind.NOT_A_SITEMAP, f"corrupt gzip: {exc}") from exc
    if len(out) > max_bytes or inflate.unconsumed_tail:
        raise IngestFailure(FailureKind.RESPONSE_TOO_LARGE,
                            f"{sitemap_url}: over the {max_bytes}-byte cap once inflated")
    return out


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element
            if isinstance(child.tag, str) and etree.QName(child).localname == name]


def _text_of(element: etree._Element, name: str) -> str | None:
    found = _children(element, name)
    if not found:
        return None
    return "".join(found[0].itertext()).strip() or None


def _absolute(loc: str | None, base: str) -> str | None:
    if not loc:
        return None
    url = urljoin(base, loc.strip())
    return url if is_http_url(url) else None


def _index(root: etree._Element, sitemap_url: str) -> ParsedSitemap:
    listed: list[ListedSitemap] = []
    seen: set[str] = set()
    warnings: list[str] = []
    for element in _children(root, "sitemap"):
        url = _absolute(_text_of(element, "loc"), sitemap_url)
        if url is None or url in seen:
            continue
        if len(listed) == MAX_LISTED:
            warnings.append(f"more than {MAX_LISTED} sitemaps listed: the rest ignored")
            break
        seen.add(url)
        listed.append(ListedSitemap(url=url, lastmod=_text_of(element, "lastmod")))
    return ParsedSitemap(sitemaps=tuple(listed), urls=(), warnings=tuple(warnings))


def _urlset(root: etree._Element, feed_name: str, sitemap_url: str,
            news_only: bool) -> ParsedSitemap:
    listed: list[ListedUrl] = []
    seen: set[str] = set()
    warnings: list[str] = []
    for element in _children(root, "url"):
        url = _absolute(_text_of(element, "loc"), sitemap_url)
        if url is None:
            continue
        key = normalize_url(url)
        if key in seen:
            continue
        news = news_fields(element)
        if news_only and news is None:
            continue
        if len(listed) == MAX_LISTED:
            warnings.append(f"more than {MAX_LISTED} URLs listed: the rest ignored")
            break
        seen.add(key)
        entry = FeedEntry(feed_name=feed_name, key=key, url=url,
                          title=news.title if news else "", summary_html="", content_html="",
                          published=news.published if news else None,
                          language=_primary_language(news.language) if news else None)
        listed.append(ListedUrl(entry=entry, lastmod=_day(_text_of(element, "lastmod")),
                                language=news.language if news else ""))
    return ParsedSitemap(sitemaps=(), urls=tuple(listed), warnings=tuple(warnings))


def _text_sitemap(body: bytes, feed_name: str) -> ParsedSitemap:
    """sitemaps.org's plain-text form: one URL per line, nothing else."""
    lines = body.decode("utf-8", errors="replace").splitlines()
    urls = [line.strip() for line in lines if line.strip()]
    if not urls or not all(is_http_url(url) for url in urls[:20]):
        raise IngestFailure(FailureKind.NOT_A_SITEMAP, "neither XML nor a list of URLs")
    listed: dict[str, ListedUrl] = {}
    for url in urls[:MAX_LISTED]:
        if is_http_url(url):
            key = normalize_url(url)
            listed.setdefault(key, ListedUrl(entry=FeedEntry(
                feed_name=feed_name, key=key, url=url, title="", summary_html="",
                content_html="", published=None), lastmod=None))
    return ParsedSitemap(sitemaps=(), urls=tuple(listed.values()))


def _primary_language(tag: str) -> str | None:
    """"zh-cn" -> "zh": the code detection gives, so filters and counts compare alike."""
    primary = tag.strip().lower().split("-", 1)[0]
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 \
        else None


def _day(lastmod: str | None) -> date | None:
    # W3C Datetime: the day is the first ten characters (a date, or a date and a time).
    if not lastmod or len(lastmod) < 10:
        return None
    try:
        return date.fromisoformat(lastmod[:10])
    except ValueError:
        return None
