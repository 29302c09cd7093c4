"""Where the article is in a page without site rules: its paragraphs, its element, and which
method found them.

The main method takes the element whose paragraphs weigh most (`scoring`) and drops the
furniture inside it (`pruning`). When its result is weak, the second method (`density`)
reads the page as a sequence instead, and the better of the two, judged by the text,
is the article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborNode

from ingest.extract.density import (
    Candidate,
    candidate,
    choose,
    densest_paragraph,
    densest_run,
    is_weak,
)
from ingest.extract.notes import without_site_notes
from ingest.extract.page_dates import is_dated_meta_line
from ingest.extract.paragraphs import HEADING_TAGS, PageText, Paragraph, paragraphs_of
from ingest.extract.pruning import article_paragraphs
from ingest.extract.scoring import best_container, is_furniture_line, paragraph_weight, score_blocks
from ingest.records import ExtractionMethod

_STANDFIRST_REACH = 8  # paragraphs above the body searched for the standfirst ...
_HEADLINE_REACH = 40  # ... or up to the headline, when it is this close
_STANDFIRST_MIN_WORDS = 6
_STANDFIRST_OVERLAP = 0.8
_WORD = re.compile(r"\w+")
_LABEL_CHARS = 40
_TRAILING_LABEL_CHARS = 30
_ITEM_TAGS = frozenset({"td", "th", "li", "dd", "dt"})
_SENTENCE_END = re.compile(r"[.!?。！？؟।…\"”»)]")
_TEASER_HEADLINE_CHARS = 15
_TEASER_SUMMARY_CHARS = 20
_TEASER_GAP_CHARS = 60  # lines shorter than this between teasers: headings, dates
_MIN_TEASERS = 3
_HEADLINE_TAGS = frozenset({"h1", "h2"})
_META_REACH = 3  # opening paragraphs that may be the header's date and byline lines
_CONTINUED_PROSE_WEIGHT = 150.0  # a paragraph of two sentences or more


@dataclass(frozen=True)
class Located:
    paragraphs: list[Paragraph]
    chain: tuple[int, ...]  # mem_ids from <body> down to the article's element
    method: ExtractionMethod


def locate_article(
    body: LexborNode, url: str, title: str, summaries: tuple[str, ...]
) -> Located:
    """The article's paragraphs in `body`, with the element that holds them."""
    page = paragraphs_of(body)
    weights = [paragraph_weight(p) for p in page.paragraphs]
    scored = score_blocks(page, weights)
    factors = scored.paragraph_factors(page)
    container = best_container(page, scored)
    main = candidate(page, _main_paragraphs(page, weights, container))
    chosen, method = main, ExtractionMethod.MAIN
    densest = densest_paragraph(weights, factors)
    if is_weak(page, main, densest, title):
        second = densest_run(page, weights, factors)
        if choose(page, main, second, densest, title):
            chosen, method = second, ExtractionMethod.FALLBACK
    if not chosen.indexes:
        return Located([], (), ExtractionMethod.NONE)
    if method is ExtractionMethod.MAIN and container is not None:
        first = page.blocks[container].first
        enclosing = page.paragraphs[first].containers
        chain = enclosing[: enclosing.index(container) + 1]
    else:
        first = chosen.indexes[0]
        chain = _common_chain(page, chosen)
    found = [page.paragraphs[i] for i in chosen.indexes]
    standfirst = _standfirst(_header_above(page, first), summaries)
    if standfirst is not None:
        found.insert(0, standfirst)
    found = [p for p in found if not is_furniture_line(p)]
    # The header's date and byline lines ("Stand: 28.04.2023 17:23 Uhr", "Associated Press -
    # December 29, 2007 4:44 AM ET") above the text; a dated heading is a headline and stays.
    found = [
        p
        for index, p in enumerate(found)
        if index >= _META_REACH or p.tag in HEADING_TAGS or not is_dated_meta_line(p.text)
    ]
    found = _without_trailing_teasers(without_site_notes(found, url, chain[-1]))
    found = _without_orphan_labels(page, found)
    while len(found) > 1 and _is_trailing_label(found[-1]):
        found.pop()
    return Located(found, chain, method)


def _main_paragraphs(page: PageText, weights: list[float], container: int | None) -> list[int]:
    """The main method's paragraphs: the container's, and those of the blocks of its kind
    (same tag, same class) that continue it further down the page after an interruption
    (a box of headlines, an ad set between two parts of the body), up to the next headline:
    a template that breaks the body into parts gives every part the same markup."""
    if container is None:
        return []
    found = article_paragraphs(page, weights, container)
    block = page.blocks[container]
    if block.signature.endswith("."):
        return found  # no class: "div." is every other block, not a kind
    parts = sorted(
        (
            other
            for other in page.blocks.values()
            if other.signature == block.signature
            and other.depth == block.depth
            and block.end <= other.first < other.end
        ),
        key=lambda other: other.first,
    )
    end = block.end
    for part in parts:
        if page.paragraphs[part.first].tag in HEADING_TAGS or any(
            p.tag in _HEADLINE_TAGS for p in page.paragraphs[end : part.first]
        ):
            break  # the next story begins under its own headline
        if max(weights[part.first : part.end]) < _CONTINUED_PROSE_WEIGHT:
            break  # a few short lines of the same kind: the site's notes, not the story
        found.extend(article_paragraphs(page, weights, part.mem_id))
        end = part.end
    return found


def _without_trailing_teasers(found: list[Paragraph]) -> list[Paragraph]:
    """`found` without the list of teasers that follows the story: paragraphs that begin
    with the linked headline of another page and go on with its summary ("<a>Ferry
    timetable changes</a> The summer timetable starts ..."), three or more of them
    with only short lines (a heading, a date) between them, to the end."""
    teasers = 0
    start = len(found)
    for index in range(len(found) - 1, -1, -1):
        paragraph = found[index]
        if _is_teaser(paragraph):
            teasers += 1
            start = index
        elif len(paragraph.text) >= _TEASER_GAP_CHARS:
            break
    if teasers < _MIN_TEASERS:
        return found
    while start > 0 and len(found[start - 1].text) < _TEASER_GAP_CHARS:
        start -= 1  # the list's heading ("More news") goes with it
    return found[:start]


def _is_teaser(paragraph: Paragraph) -> bool:
    leading = paragraph.leading_link_chars
    summary = len(paragraph.text) - leading
    return leading >= _TEASER_HEADLINE_CHARS and summary >= _TEASER_SUMMARY_CHARS


def _is_trailing_label(paragraph: Paragraph) -> bool:
    """A short line after the story that is no sentence ("Related Content", "Comments",
    "Post a comment"): a heading of what the article element holds next, left alone."""
    text = paragraph.text
    return (
        len(text) < _TRAILING_LABEL_CHARS
        and paragraph.tag not in _ITEM_TAGS  # a table's last cell, a list's last item
        and not _SENTENCE_END.search(text)
    )


def _without_orphan_labels(page: PageText, found: list[Paragraph]) -> list[Paragraph]:
    """`found` without the short lines ending in a colon ("More:", "Related:", "Watch:")
    whose next paragraph on the page was left out: a label introducing a list of links, a
    video or a gallery that is not the article's text says nothing without it."""
    kept = {id(p) for p in found}
    following = {id(a): b for a, b in zip(page.paragraphs, page.paragraphs[1:], strict=False)}
    return [
        p
        for p in found
        if not (
            len(p.text) <= _LABEL_CHARS
            and p.text.endswith(":")
            and id(following.get(id(p))) not in kept
        )
    ]


def _common_chain(page: PageText, chosen: Candidate) -> tuple[int, ...]:
    """The enclosing blocks shared by the first and last chosen paragraph: the article's
    element and its ancestors."""
    first = page.paragraphs[chosen.indexes[0]].containers
    last = page.paragraphs[chosen.indexes[-1]].containers
    shared = next(
        (depth for depth, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
        min(len(first), len(last)),
    )
    if len(chosen.indexes) == 1:
        # A one-paragraph article: its element is the block around the paragraph's own.
        shared = max(1, len(first) - 1)
    return first[: max(shared, 1)]


def _header_above(page: PageText, first: int) -> list[Paragraph]:
    """The paragraphs between the headline (the nearest <h1> above the body) and the body:
    where the standfirst sits, below kicker, byline, date, share bar and photo captions,
    however many of those there are. Without a headline near, the few just above."""
    reach = page.paragraphs[max(0, first - _HEADLINE_REACH) : first]
    headline = next(
        (len(reach) - i for i, p in enumerate(reversed(reach)) if p.tag == "h1"), None
    )
    if headline is None:
        return reach[-_STANDFIRST_REACH:]
    return reach[headline:]


def _standfirst(before: list[Paragraph], summaries: tuple[str, ...]) -> Paragraph | None:
    """The lead paragraph above the article body, recognised as the page's own summary.

    It sits in the header beside headline and byline, outside the body element, but it is
    the first thing the journalist wrote; it is kept when the page (or the feed) declares it
    as the article's description.
    """
    wanted = [set(_WORD.findall(s.casefold())) for s in summaries if s]
    for paragraph in reversed(before):
        words = set(_WORD.findall(paragraph.text.casefold()))
        if len(words) < _STANDFIRST_MIN_WORDS:
            continue
        for summary in wanted:
            if len(words & summary) >= _STANDFIRST_OVERLAP * max(len(words), len(summary)):
                return paragraph
    return None
