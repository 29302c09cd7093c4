"""Extract the article from a page: its paragraphs in order, its title and its date.

The page is parsed once (lexbor, through selectolax: bs4 trees are thirty times slower and
this runs on every article). Site rules from configuration come first (`drop`, then `keep`);
without a `keep` rule the page furniture is removed and the article is the element whose
paragraphs read most like prose (see `extract_scoring`). When the page yields nothing, the
full content the feed carried is used instead.
"""

from __future__ import annotations

import re
from datetime import date

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ingest.dedupe.normalize import normalize_paragraph, split_paragraphs
from ingest.extract.cleanup import tidy_paragraphs
from ingest.extract.metadata import PageMetadata, read_metadata
from ingest.extract.notes import without_site_notes
from ingest.extract.page_dates import PageDates, dateline_date, header_date, read_page_dates
from ingest.extract.paragraphs import Paragraph, paragraphs_of
from ingest.extract.pruning import article_paragraphs
from ingest.extract.scoring import best_container, is_furniture_line, paragraph_weight
from ingest.records import ExtractedArticle, ExtractionHints, SiteRules

# Less article text than this is a teaser, a paywall stub or an error page, not an article.
_MIN_ARTICLE_CHARS = 200
_STANDFIRST_REACH = 8  # paragraphs above the body searched for the standfirst
_STANDFIRST_MIN_WORDS = 6
_STANDFIRST_OVERLAP = 0.8
_WORD = re.compile(r"\w+")


def extract_article(
    html: str,
    url: str,
    hints: ExtractionHints = ExtractionHints(),  # noqa: B008 - frozen, safe to share
    rules: SiteRules = SiteRules(),  # noqa: B008 - frozen, safe to share
) -> ExtractedArticle:
    """The article body of `html` as normalised paragraphs, with title and publication date.

    Empty `paragraphs` means no article was found (the pipeline records NO_ARTICLE_TEXT).
    """
    tree = LexborHTMLParser(html)
    metadata = read_metadata(tree, url)
    notes: list[str] = []
    _apply_drop_rules(tree, rules.drop, notes)
    # The page body is searched for a date only when neither feed nor metadata gave one.
    wants_page_date = hints.published is None and metadata.published is None
    page_dates = read_page_dates(tree.body) if wants_page_date and tree.body else None
    if rules.keep:
        paragraphs = _kept_paragraphs(tree, rules.keep, notes)
        chain = paragraphs[0].containers if paragraphs else ()
    else:
        summaries = (*metadata.descriptions, normalize_paragraph(hints.summary))
        paragraphs, chain = _scored_paragraphs(tree, url, summaries)
    # Where the article's text begins: the element of its first paragraph below `chain`.
    first_text = next(
        (p.containers[-1] for p in paragraphs if p.containers[: len(chain)] == chain), None
    )
    texts = [p.text for p in paragraphs]
    found_chars = sum(len(text) for text in texts)
    if found_chars < _MIN_ARTICLE_CHARS:
        fallback = _fallback_paragraphs(hints, metadata)
        if sum(len(text) for text in fallback) > found_chars:
            texts = fallback
            notes.append("page had no article text: used " + (
                "the feed's content" if hints.content_html else "the page's JSON-LD body"
            ))
    texts = tidy_paragraphs(texts, metadata.title or hints.title)
    located = (
        (page_dates, chain, first_text)
        if page_dates is not None and first_text is not None
        else None
    )
    published, date_source = _publication_date(hints, metadata, located, texts)
    return ExtractedArticle(
        title=normalize_paragraph(hints.title) or metadata.title,
        paragraphs=tuple(texts),
        published=published,
        date_source=date_source,
        notes=tuple(notes),
    )


def _apply_drop_rules(tree: LexborHTMLParser, selectors: tuple[str, ...], notes: list[str]) -> None:
    for selector in selectors:
        for node in _select(tree, selector, notes):
            node.decompose()


def _kept_paragraphs(
    tree: LexborHTMLParser, selectors: tuple[str, ...], notes: list[str]
) -> list[Paragraph]:
    kept: list[LexborNode] = []
    seen: set[int] = set()
    for selector in selectors:
        for node in _select(tree, selector, notes):
            if node.mem_id not in seen:
                seen.add(node.mem_id)
                kept.append(node)
    paragraphs: list[Paragraph] = []
    for node in _outermost_in_order(tree, kept):
        paragraphs.extend(paragraphs_of(node).paragraphs)
    return paragraphs


def _select(tree: LexborHTMLParser, selector: str, notes: list[str]) -> list[LexborNode]:
    try:
        return list(tree.css(selector))
    except (ValueError, SelectolaxError):
        # A bad selector in configuration must not stop the feed; the note says which one.
        notes.append(f"invalid CSS selector in site rules: {selector!r}")
        return []


def _outermost_in_order(tree: LexborHTMLParser, nodes: list[LexborNode]) -> list[LexborNode]:
    """`nodes` in document order, leaving out those inside another one (no text twice)."""
    wanted = {node.mem_id for node in nodes}
    found: list[LexborNode] = []
    if tree.root is None:
        return found
    for node in tree.root.traverse():
        if node.mem_id in wanted and not _has_kept_ancestor(node, wanted):
            found.append(node)
    return found


def _has_kept_ancestor(node: LexborNode, wanted: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in wanted:
            return True
        parent = parent.parent
    return False


def _scored_paragraphs(
    tree: LexborHTMLParser, url: str, summaries: tuple[str, ...]
) -> tuple[list[Paragraph], tuple[int, ...]]:
    """The article's paragraphs, and the mem_ids from <body> down to its element."""
    body = tree.body
    if body is None:
        return [], ()
    page = paragraphs_of(body)
    paragraphs = page.paragraphs
    weights = [paragraph_weight(p) for p in paragraphs]
    container = best_container(page, weights)
    if container is None:
        return [], ()
    block = page.blocks[container]
    first = block.first
    enclosing = paragraphs[first].containers
    chain = enclosing[: enclosing.index(container) + 1]
    chosen = [paragraphs[i] for i in article_paragraphs(page, weights, container)]
    standfirst = _standfirst(paragraphs[max(0, first - _STANDFIRST_REACH) : first], summaries)
    if standfirst is not None:
        chosen.insert(0, standfirst)
    chosen = [p for p in chosen if not is_furniture_line(p)]
    return without_site_notes(chosen, url, container), chain


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


def _fallback_paragraphs(hints: ExtractionHints, metadata: PageMetadata) -> list[str]:
    if hints.content_html:
        fragment = LexborHTMLParser(hints.content_html)
        if fragment.body is not None:
            return [p.text for p in paragraphs_of(fragment.body).paragraphs]
    if metadata.article_body:
        paragraphs = (normalize_paragraph(p) for p in split_paragraphs(metadata.article_body))
        return [p for p in paragraphs if p]
    return []


def _publication_date(
    hints: ExtractionHints,
    metadata: PageMetadata,
    located: tuple[PageDates, tuple[int, ...], int] | None,
    paragraphs: list[str],
) -> tuple[date | None, str]:
    if hints.published is not None:
        return hints.published, "feed"
    if metadata.published is not None:
        return metadata.published, metadata.date_source
    if located is not None:
        found = header_date(*located)
        if found is not None:
            return found, "time"
    found = dateline_date(paragraphs)
    if found is not None:
        return found, "dateline"
    return None, ""
