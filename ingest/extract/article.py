"""Extract the article from a page: its paragraphs in order, its title and its date.

The page is parsed once (lexbor, through selectolax: bs4 trees are thirty times slower and
this runs on every article). Site rules from configuration come first (`drop`, then `keep`);
without a `keep` rule the article is located by its text (`locate`: the element whose
paragraphs read most like prose, or when that result is weak, the densest run of prose).
When the page yields nothing, the full content the feed carried is used instead. The
article records which of these gave its text.
"""

from __future__ import annotations

import re
from datetime import date

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ingest.dedupe.normalize import normalize_paragraph, split_paragraphs
from ingest.extract.cleanup import tidy_paragraphs
from ingest.extract.locate import locate_article
from ingest.extract.metadata import PageMetadata, read_metadata
from ingest.extract.page_dates import PageDates, dateline_date, header_date, read_page_dates
from ingest.extract.paragraphs import Paragraph, paragraphs_of
from ingest.records import ExtractedArticle, ExtractionHints, ExtractionMethod, SiteRules

# Less article text than this is a teaser, a paywall stub or an error page, not an article.
_MIN_ARTICLE_CHARS = 200
# No headline is this long: a <title> holding this much text (with markup in it) was never
# closed.
_RUNAWAY_TITLE_CHARS = 500
_MARKUP = re.compile(r"<[a-zA-Z/!]")
_TITLE_OPENING = re.compile(r"<title\b[^>]*>", re.IGNORECASE)


def extract_article(
    html: str,
    url: str,
    hints: ExtractionHints = ExtractionHints(),  # noqa: B008 - frozen, safe to share
    rules: SiteRules = SiteRules(),  # noqa: B008 - frozen, safe to share
) -> ExtractedArticle:
    """The article body of `html` as normalised paragraphs, with title and publication date.

    Empty `paragraphs` means no article was found (the pipeline records NO_ARTICLE_TEXT).
    """
    tree = _parsed(html)
    metadata = read_metadata(tree, url)
    notes: list[str] = []
    _apply_drop_rules(tree, rules.drop, notes)
    # The page body is searched for a date only when neither feed nor metadata gave one.
    wants_page_date = hints.published is None and metadata.published is None
    page_dates = read_page_dates(tree.body) if wants_page_date and tree.body else None
    if rules.keep:
        paragraphs = _kept_paragraphs(tree, rules.keep, notes)
        chain = paragraphs[0].containers if paragraphs else ()
        method = ExtractionMethod.SITE_RULES if paragraphs else ExtractionMethod.NONE
    elif tree.body is not None:
        summaries = (*metadata.descriptions, normalize_paragraph(hints.summary))
        title = normalize_paragraph(hints.title) or metadata.title
        located = locate_article(tree.body, url, title, summaries)
        paragraphs, chain, method = located.paragraphs, located.chain, located.method
    else:
        paragraphs, chain, method = [], (), ExtractionMethod.NONE
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
            method = (
                ExtractionMethod.FEED_CONTENT if hints.content_html else ExtractionMethod.JSON_LD
            )
            notes.append("page had no article text: used " + (
                "the feed's content" if hints.content_html else "the page's JSON-LD body"
            ))
    texts = tidy_paragraphs(texts, metadata.title or hints.title)
    if not texts:
        method = ExtractionMethod.NONE
    dated = (
        (page_dates, chain, first_text)
        if page_dates is not None and first_text is not None
        else None
    )
    published, date_source = _publication_date(hints, metadata, dated, texts)
    return ExtractedArticle(
        title=normalize_paragraph(hints.title) or metadata.title,
        paragraphs=tuple(texts),
        published=published,
        date_source=date_source,
        notes=tuple(notes),
        method=method,
    )


def _parsed(html: str) -> LexborHTMLParser:
    """The page's tree; a page whose <title> is never closed (a truncated or mangled page:
    the parser then reads the whole page as the title's text, as browsers do, and the body is
    empty) is read again with the title ended at the end of its first line."""
    tree = LexborHTMLParser(html)
    title = tree.css_first("title")
    if title is None:
        return tree
    text = title.text(deep=True)
    if len(text) < _RUNAWAY_TITLE_CHARS or _MARKUP.search(text) is None:
        return tree
    match = _TITLE_OPENING.search(html)
    if match is None:
        return tree
    line_end = html.find("\n", match.end())
    if line_end < 0:
        return tree
    return LexborHTMLParser(html[:line_end] + "</title>" + html[line_end:])


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
    if metadata.title_date is not None:
        return metadata.title_date, "title"
    found = dateline_date(paragraphs)
    if found is not None:
        return found, "dateline"
    return None, ""
