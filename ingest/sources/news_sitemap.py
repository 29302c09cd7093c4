"""The Google News sitemap extension: what a `<news:news>` element says about its article.

https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap: each
`<url>` carries `<news:publication>` (`<news:name>`, `<news:language>`),
`<news:publication_date>` and `<news:title>`, which give the entry its date, title and
language as a feed entry's would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lxml import etree

from ingest.dedupe.normalize import normalize_paragraph
from ingest.extract.dates import parse_publisher_date

NEWS_NAMESPACE = "http://www.google.com/schemas/sitemap-news/0.9"


@dataclass(frozen=True)
class NewsFields:
    title: str
    published: date | None  # the publisher's calendar date, never shifted into UTC
    language: str  # ISO 639 code as given ("en", "zh-cn"), "" when absent
    publication: str  # the publication's name


def news_fields(url_element: etree._Element) -> NewsFields | None:
    """The `<news:news>` child of a sitemap `<url>`, None when it has none."""
    news = _child(url_element, "news")
    if news is None:
        return None
    publication = _child(news, "publication")
    return NewsFields(
        title=normalize_paragraph(_text(_child(news, "title"))),
        published=parse_publisher_date(_text(_child(news, "publication_date"))),
        language=_text(_child(publication, "language")).lower(),
        publication=normalize_paragraph(_text(_child(publication, "name"))),
    )


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    # By local name: sitemaps in the wild bind the news prefix to variants of the namespace
    # (http vs https, without the trailing version).
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""
