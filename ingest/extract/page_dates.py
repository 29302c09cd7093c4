"""The article's date as the page body shows it, when its metadata does not say.

Pages show dates everywhere: the article's own in its header (byline, <time>), and others in
teaser lists, comments and sidebars. Only the article's counts, so a date is taken from the
article's header alone: after the headline, before the first paragraph of text, inside the
article element or at most a few levels above it. The header is read from the page as
parsed, before furniture removal, because bylines and date lines often carry classes
("meta", "byline") that the furniture rules remove.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from selectolax.lexbor import LexborNode

from ingest.extract.dates import DOTTED_SHORT_DMY, parse_publisher_date

# How far above the article element its header (headline, byline, date) may sit.
_HEADER_LEVELS = 3
# Elements whose own text may be a date line ("20 Dec 2025, 11:59").
_DATE_LINE_TAGS = frozenset({"div", "span", "p", "small", "li", "em", "b", "strong"})
_MAX_DATE_LINE = 40
_MAX_META_LINE = 120
_SENTENCE_ENDING = re.compile(r"[.!?…][\"'”’»)]?$")
_NUMERIC_DATE = re.compile(r"(?<!\d)\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})(?![\d.])")
_HAS_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
# A date that says it is the last change is not the publication date.
_UPDATED = re.compile(
    r"update|modif|edited|aktualisiert|geändert|mis à jour|actualizado|aggiornato",
    re.IGNORECASE,
)
# Place in capitals or title case, a comma, the date, then the agency in brackets or a dash:
# "RAJSHAHI, Dec 20, 2025 (BSS) -", "Paris, 3 mars 2024 (AFP) -".
_DATELINE = re.compile(
    r"^[^\W\d_][^\W\d_ .-]*(?:[ .-][^\W\d_]+){0,3},\s*([^()\n]{6,30}?\d{4})\s*(?:\(|[-–—:])"
)
_DATELINE_REACH = 2  # the story's first paragraph, or the one after a byline line


@dataclass(frozen=True)
class _Mark:
    position: int  # element order in the page
    published: date | None  # None for a headline
    ancestors: frozenset[int]  # mem_ids of the enclosing elements
    markup: bool  # a <time datetime> or itemprop, rather than a line of text


@dataclass(frozen=True)
class PageDates:
    """Dated elements and headlines of a page, with every element's position in the page."""

    marks: tuple[_Mark, ...]
    positions: dict[int, int]  # mem_id -> order in the page


def read_page_dates(body: LexborNode) -> PageDates:
    """Note every dated element and headline of the page, before anything is removed."""
    marks: list[_Mark] = []
    positions: dict[int, int] = {}
    for position, node in enumerate(body.traverse()):
        positions[node.mem_id] = position
        tag = node.tag
        if tag == "h1":
            marks.append(_Mark(position, None, _ancestors(node), markup=True))
            continue
        found = _marked_date(node) if tag == "time" or "itemprop" in node.attributes else None
        if found is not None:
            marks.append(_Mark(position, found, _ancestors(node), markup=True))
        elif tag in _DATE_LINE_TAGS:
            written = _date_line(node)
            if written is not None:
                marks.append(_Mark(position, written, _ancestors(node), markup=False))
    return PageDates(tuple(marks), positions)


def header_date(page: PageDates, containers: tuple[int, ...], first_text: int) -> date | None:
    """The date in the article's header.

    `containers` are the mem_ids from <body> down to the article element; `first_text` is the
    mem_id of the element holding the article's first paragraph.
    """
    end = page.positions.get(first_text)
    if end is None or not containers:
        return None
    region = containers[max(0, len(containers) - 1 - _HEADER_LEVELS)]
    before = [m for m in page.marks if m.position < end and region in m.ancestors]
    headlines = [m.position for m in before if m.published is None]
    start = headlines[-1] if headlines else -1
    dated = [m for m in before if m.position > start and m.published is not None]
    if not dated:
        return None
    marked = [m for m in dated if m.markup]
    if headlines:  # the byline right under the headline
        return (marked or dated)[0].published
    return (marked or dated)[-1].published  # no headline: the date nearest the text


def dateline_date(paragraphs: list[str]) -> date | None:
    """The date of a news-agency dateline opening the story."""
    for paragraph in paragraphs[:_DATELINE_REACH]:
        match = _DATELINE.match(paragraph)
        found = parse_publisher_date(match.group(1)) if match else None
        if found is not None:
            return found
    return None


def _marked_date(node: LexborNode) -> date | None:
    attributes = node.attributes
    itemprop = attributes.get("itemprop")
    if itemprop is not None and itemprop != "datePublished":
        return None  # dateModified, dateCreated of an image ...
    if _UPDATED.search(attributes.get("class") or ""):
        return None
    value = attributes.get("datetime") or attributes.get("content")
    return parse_publisher_date(value) if value else None


def is_date_line(text: str) -> bool:
    """A short line that states a date and little else ("Nov. 20, 2019 5:52 AM EST")."""
    return (
        len(text) <= _MAX_DATE_LINE
        and (_HAS_YEAR.search(text) is not None or DOTTED_SHORT_DMY.match(text) is not None)
        and parse_publisher_date(text) is not None
    )


def is_dated_meta_line(text: str) -> bool:
    """A line of the article's header that dates it and is no sentence: a date or time with
    a label, the author or the agency around it ("Stand: 28.04.2023 17:23 Uhr", "Associated
    Press - December 29, 2007 4:44 AM ET", "Published Aug 28, 2024 • 4 minute read")."""
    return (
        len(text) <= _MAX_META_LINE
        and _SENTENCE_ENDING.search(text) is None
        and (_NUMERIC_DATE.search(text) is not None or parse_publisher_date(text) is not None)
    )


def _date_line(node: LexborNode) -> date | None:
    text = (node.text(deep=False) or "").strip()
    if not is_date_line(text) or _UPDATED.search(text):
        return None
    return parse_publisher_date(text)


def _ancestors(node: LexborNode) -> frozenset[int]:
    found = []
    parent = node.parent
    while parent is not None:
        found.append(parent.mem_id)
        parent = parent.parent
    return frozenset(found)
