"""OPML, the subscription list feed readers (Miniflux, FreshRSS, Feedly, ...) import and
export: read one into feeds to configure, and write the configured feeds as one.

Read with lxml's parser without entities or network access (an OPML file comes from elsewhere).
Categories are nested `<outline>`s; a feed is an outline with an `xmlUrl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from ingest.records import is_http_url


class OpmlError(ValueError):
    """The file is not OPML with feed outlines."""


@dataclass(frozen=True)
class OpmlFeed:
    title: str
    url: str  # the feed's xmlUrl
    site_url: str = ""  # htmlUrl, when given
    category: str = ""  # the enclosing outline's title, when nested


def parse_opml(body: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML file in document order, each URL once."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"not XML: {exc}") from exc
    if root.tag != "opml":
        raise OpmlError(f"root element <{root.tag}>, not <opml>")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen or not is_http_url(url):
            continue
        seen.add(url)
        parent = outline.getparent()
        category = parent.get("title") or parent.get("text") or "" \
            if parent is not None and parent.tag == "outline" else ""
        feeds.append(OpmlFeed(title=(outline.get("title") or outline.get("text") or "").strip(),
                              url=url, site_url=(outline.get("htmlUrl") or "").strip(),
                              category=category.strip()))
    if not feeds:
        raise OpmlError("no outline with an http(s) xmlUrl")
    return feeds


def render_opml(feeds: Sequence[OpmlFeed], title: str = "source-ingest feeds") -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">',
             f"  <head><title>{_text(title)}</title></head>", "  <body>"]
    for feed in feeds:
        site = f" htmlUrl={quoteattr(feed.site_url)}" if feed.site_url else ""
        lines.append(f'    <outline type="rss" text={quoteattr(feed.title)} '
                     f"title={quoteattr(feed.title)} xmlUrl={quoteattr(feed.url)}{site}/>")
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
