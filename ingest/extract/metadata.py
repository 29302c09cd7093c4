"""What a page says about its own article in metadata: JSON-LD, <meta> tags and <title>.

Only the article the page is about counts: JSON-LD objects are read at the top level and in
`@graph`, never inside lists of other articles, and when several article objects disagree
on the date and none is this page's URL, no JSON-LD date is taken at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from ingest.dedupe.normalize import normalize_paragraph
from ingest.extract.dates import parse_publisher_date

# schema.org types whose datePublished is the publication date of the page's article.
_ARTICLE_TYPES = frozenset(
    {
        "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
        "backgroundnewsarticle", "opinionnewsarticle", "reviewnewsarticle", "blogposting",
        "liveblogposting", "socialmediaposting", "report", "techarticle", "scholarlyarticle",
        "satiricalarticle", "advertisercontentarticle", "askpublicnewsarticle", "review",
    }
)  # fmt: skip
# <meta> names/properties/itemprops that carry the first publication time, best first.
_DATE_META_NAMES = (
    "article:published_time", "og:article:published_time", "article:published",
    "og:published_time", "datepublished", "parsely-pub-date", "sailthru.date",
    "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date", "dc.date.created",
    "dcterms.created", "citation_publication_date", "publishdate", "publish-date",
    "publish_date", "publication_date", "pubdate", "date", "og:pubdate",
)  # fmt: skip
_DATE_META_RANK = {name: rank for rank, name in enumerate(_DATE_META_NAMES)}
_TITLE_META_NAMES = ("og:title", "twitter:title")
_DESCRIPTION_META_NAMES = ("og:description", "description", "twitter:description")
# JSON-LD is page data, often hand-written: tolerate trailing commas before } or ].
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
# Bounded runs of space: with `\s+` a title of many spaces took seconds (each start scanned
# the whole run); a separator is set off by a space or a few.
_TITLE_SEPARATOR = re.compile(r"\s{1,8}[|–—-]\s{1,8}")
_FULL_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
# Templates written for XHTML wrap script data in a CDATA section behind JavaScript or CSS
# comment marks ("//<![CDATA[" ... "//]]>", "/*<![CDATA[*/"), which JSON cannot read.
# The closing alternative is tried at every position: its leading space is bounded (1 MB
# of spaces in a JSON-LD script cost minutes with `\s*`).
_CDATA = re.compile(
    r"^\s*(?://|/\*)?\s{0,64}<!\[CDATA\[(?:\s*\*/)?|(?://|/\*)?\s{0,64}\]\]>(?:\s*\*/)?\s*$")


@dataclass(frozen=True)
class PageMetadata:
    title: str  # the page's own article title, "" when it names none
    published: date | None
    date_source: str  # "json-ld", "meta" or ""
    article_body: str  # JSON-LD articleBody of the page's article, "" when absent
    descriptions: tuple[str, ...]  # the page's own summaries of the article (og, meta, JSON-LD)
    # The date some sites end their titles with ("Headline | Site | 28.04.2023").
    title_date: date | None = None


def read_metadata(tree: LexborHTMLParser, url: str) -> PageMetadata:
    """Title, publication date and JSON-LD article body declared by the page."""
    articles = list(_json_ld_articles(tree))
    main = _main_article(articles, url)
    metas = _meta_values(tree)
    title = next((metas[name] for name in _TITLE_META_NAMES if metas.get(name)), "")
    if not title and main is not None:
        title = _text(main.get("headline"))
    if not title:
        title = _document_title(tree)
    published, source = _json_ld_date(articles, main), "json-ld"
    if published is None:
        published, source = _meta_date(metas), "meta"
    body = _text(main.get("articleBody")) if main is not None else ""
    descriptions = [metas.get(name, "") for name in _DESCRIPTION_META_NAMES]
    if main is not None:
        descriptions.append(_text(main.get("description")))
    titles = (metas.get("og:title", ""), _document_title(tree))
    return PageMetadata(
        title_date=next(filter(None, map(_trailing_date, titles)), None),
        title=normalize_paragraph(title),
        published=published,
        date_source=source if published else "",
        article_body=body,
        descriptions=tuple(dict.fromkeys(normalize_paragraph(d) for d in descriptions if d)),
    )


def _json_ld_articles(tree: LexborHTMLParser) -> Iterator[dict[str, object]]:
    for script in tree.css('script[type="application/ld+json"]'):
        raw = _CDATA.sub("", script.text(deep=True)).strip()
        if not raw:
            continue
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            try:
                data = json.loads(_TRAILING_COMMA.sub(r"\1", raw), strict=False)
            except ValueError:
                continue  # unreadable JSON-LD: the <meta> tags are the fallback
        yield from _article_objects(data)


def _article_objects(data: object) -> Iterator[dict[str, object]]:
    if isinstance(data, list):
        for item in data:
            yield from _article_objects(item)
        return
    if not isinstance(data, dict):
        return
    if _is_article(data):
        yield data
    graph = data.get("@graph")
    if isinstance(graph, list | dict):
        yield from _article_objects(graph)
    main_entity = data.get("mainEntity")
    if isinstance(main_entity, dict):
        yield from _article_objects(main_entity)


def _is_article(item: dict[str, object]) -> bool:
    kinds = item.get("@type")
    names = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(name, str) and name.lower() in _ARTICLE_TYPES for name in names)


def _main_article(articles: list[dict[str, object]], url: str) -> dict[str, object] | None:
    if not articles:
        return None
    page = _url_key(url)
    if page:
        for article in articles:
            declared = [_text(article.get("url")), _text(article.get("@id")),
                        _entity_url(article.get("mainEntityOfPage"))]
            if page in {_url_key(value) for value in declared}:
                return article
    return articles[0]


def _json_ld_date(
    articles: list[dict[str, object]], main: dict[str, object] | None
) -> date | None:
    if main is None:
        return None
    found = parse_publisher_date(_text(main.get("datePublished")))
    others = {parse_publisher_date(_text(a.get("datePublished"))) for a in articles}
    others.discard(None)
    if main is articles[0] and len(others) > 1:
        # Several articles, none of them this page by URL, dated differently: which one
        # is ours is a guess, and a wrong date is worse than none.
        return None
    return found


def _meta_values(tree: LexborHTMLParser) -> dict[str, str]:
    """First content of each <meta> name/property/itemprop, names lower-cased."""
    values: dict[str, str] = {}
    for meta in tree.css("meta"):
        attributes = meta.attributes
        content = attributes.get("content")
        if not content:
            continue
        for key in ("property", "name", "itemprop"):
            name = attributes.get(key)
            if name:
                values.setdefault(name.strip().lower(), content.strip())
    return values


def _meta_date(metas: dict[str, str]) -> date | None:
    for name in sorted(metas.keys() & _DATE_META_RANK.keys(), key=_DATE_META_RANK.__getitem__):
        found = parse_publisher_date(metas[name])
        if found is not None:
            return found
    return None


def _trailing_date(title: str) -> date | None:
    """The date that forms the last part of a title, after a separator, and nothing else."""
    parts = _TITLE_SEPARATOR.split(title.strip())
    if len(parts) < 2 or not _FULL_YEAR.search(parts[-1]):
        return None
    return parse_publisher_date(parts[-1].strip())


def _document_title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title")
    return node.text(deep=True) if node is not None else ""


def _entity_url(value: object) -> str:
    if isinstance(value, dict):
        return _text(value.get("@id") or value.get("url"))
    return _text(value)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return ""


def _url_key(url: str) -> str:
    """The path of a URL: JSON-LD URLs are often relative or differ from the page's URL in
    scheme, host or tracking query, yet within one page the same path is the same article."""
    path = urlsplit(url.strip()).path.rstrip("/")
    return path if len(path) > 1 else ""

