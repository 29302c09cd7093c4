"""Find the element that holds the article: the one whose paragraphs weigh most.

Every paragraph gets a weight: positive for prose (long, punctuated, few links), negative for
furniture (link lists, short labels). An element's score is the sum of the weights of the
paragraphs inside it, so the best element is the one that gains all the prose and as little
furniture as possible: a wrapper is chosen over the article body only when what it adds
(a standfirst, a second text column) outweighs the menus and teasers that come with it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from ingest.extract.boilerplate import NO_EVIDENCE
from ingest.extract.paragraphs import HEADING_TAGS, Block, PageText, Paragraph

# Sentence punctuation in the scripts of the news we read (Latin, CJK, Arabic, Devanagari).
_SENTENCE_END = re.compile(r"[.!?。！？؟।…]")
_CLAUSE = re.compile(r"[,;:、，؛]")
# Below this many characters a line is a label, date or button unless it reads as a sentence.
_SHORT = 40
_LINK_HEAVY = 0.5
_LINK_LIST = 0.6
_LABEL = 25
_LINKED_SENTENCE = 0.8
_CELL_TAGS = frozenset({"td", "th"})
_TEXT_TAGS = HEADING_TAGS | {"p", "li", "blockquote", "dd", "dt", "td", "th", "pre"}
# What a line of furniture costs: enough that ten menu items outweigh a short paragraph.
_FURNITURE_COST = 12.0
# Share of the best score the chosen, tighter element must keep.
_TIGHT_SHARE = 0.85
_DECLARED_SHARE = 0.6
_SPLIT_PROSE = 0.5


def paragraph_weight(paragraph: Paragraph) -> float:
    """How much a paragraph says "article text here" (positive) or "page furniture" (negative)."""
    length = len(paragraph.text)
    if paragraph.link_density > _LINK_HEAVY:
        return -_FURNITURE_COST - 0.5 * length
    if paragraph.tag in HEADING_TAGS:
        return 0.0  # headings belong to articles and to teaser lists alike
    prose = length - 2 * paragraph.link_chars
    if length < _SHORT and not _SENTENCE_END.search(paragraph.text):
        if paragraph.tag in _CELL_TAGS:
            # A table's short cells (names, figures) are data the story shows, as likely
            # as a layout's labels: neither for nor against.
            return 0.0
        return -_FURNITURE_COST / 2
    if not _SENTENCE_END.search(paragraph.text):
        prose *= 0.3
    clauses = len(_CLAUSE.findall(paragraph.text))
    return prose + 10.0 * min(clauses, 5)


def is_furniture_line(paragraph: Paragraph) -> bool:
    """A line inside the article element that is not its text: mostly a link ("Read more:
    ..."), or a short label outside any text element ("Advertisement", "Show caption",
    "Getty Images"). Short lines in <p>, headings and list items are kept: subheadings."""
    if paragraph.link_density > _LINK_LIST:
        return not _is_linked_sentence(paragraph)
    return (
        len(paragraph.text) < _LABEL
        and paragraph.tag not in _TEXT_TAGS
        and not _SENTENCE_END.search(paragraph.text)
    )


def _is_linked_sentence(paragraph: Paragraph) -> bool:
    """A sentence of the story whose words are mostly a link ("A new law is set to <a>stop
    this</a>."): a <p> of its own that ends as a sentence does, with some words outside the
    link. "Read more: <a>Headline</a>" is mostly link and does not end with a full stop."""
    return (
        paragraph.tag == "p"
        and paragraph.link_density <= _LINKED_SENTENCE
        and _SENTENCE_END.search(paragraph.text[-1:]) is not None
    )


@dataclass(frozen=True)
class BlockScores:
    """Every block's score, and the product of its own and its ancestors' furniture factors
    (what the markup says about the text inside it)."""

    scores: dict[int, float]
    enclosing: dict[int, float]
    prose: dict[int, float]  # the prose inside each block, scaled by its own factors
    plain: dict[int, float]  # the prose inside each block outside its marked blocks

    def paragraph_factors(self, page: PageText) -> list[float]:
        return [self.enclosing[p.containers[-1]] for p in page.paragraphs]


def best_container(page: PageText, scored: BlockScores) -> int | None:
    """mem_id of the element that holds the article text.

    Elements the markup itself calls the article (<article>, itemprop=articleBody) are
    trusted with a little less of the prose than an anonymous <div> would need, since what
    they leave out is usually an overlay or a teaser.
    """
    scores = scored.scores
    if not scores:
        return None
    best = max(scores, key=scores.__getitem__)
    top = scores[best]
    if top <= 0:
        return None
    blocks = page.blocks
    # One long paragraph can score more than the article around it when the article also
    # holds a share bar and a byline box, or its paragraphs sit in sibling elements: the
    # element whose prose is split so is not the article, its parent is.
    while _leaves_out_prose_beside_it(blocks[best], scored):
        parent = blocks[best].parent
        if parent is None or scores[parent] <= 0:
            break
        best = parent
    # The tightest element that still holds nearly all the prose: the wrapper that adds a
    # headline, a byline and a date line scores a little more, but those are not body text.
    # The best score stays the measure: the parent of a split article scores less than its
    # longest paragraph, and a teaser elsewhere must not pass for as good as the article.
    close = [
        mem_id
        for mem_id, score in scores.items()
        if mem_id == best
        or (score >= (_DECLARED_SHARE if blocks[mem_id].declared else _TIGHT_SHARE) * top
        and not _leaves_out_prose_beside_it(blocks[mem_id], scored))
    ]
    return max(close, key=lambda mem_id: (blocks[mem_id].depth, scores[mem_id]))


def _leaves_out_prose_beside_it(block: Block, scored: BlockScores) -> bool:
    """Whether the element's parent holds, outside the element and outside anything marked
    as furniture, prose worth half of the element's own: an article whose paragraphs are
    split over sibling elements is not one of them. (A marked sidebar beside the story
    does not count: it is no part of the story.)"""
    if block.parent is None:
        return False
    own = scored.plain[block.mem_id] if block.factor == NO_EVIDENCE else 0.0
    beside = scored.plain[block.parent] - own
    return beside > _SPLIT_PROSE * scored.prose[block.mem_id]


def score_blocks(page: PageText, weights: list[float]) -> BlockScores:
    """Every block's score: the weights of the paragraphs inside it, the prose in each scaled
    by the furniture factor of every element around it (boilerplate), the block's own and
    its ancestors' alike: a long comment is no candidate for the article because its own
    <p> is unmarked when the thread around it is marked.

    `weights` are the `paragraph_weight` of each paragraph of `page`. One pass from the
    leaves up, each block adding its total to its parent's, and one from the root down for
    the ancestors' factors, so the cost is the number of blocks plus the number of
    paragraphs, however deep the page nests.
    """
    blocks = page.blocks
    prose: dict[int, float] = defaultdict(float)
    furniture: dict[int, float] = defaultdict(float)
    for paragraph, weight in zip(page.paragraphs, weights, strict=True):
        if weight > 0:
            prose[paragraph.containers[-1]] += weight
        else:
            furniture[paragraph.containers[-1]] += weight
    plain = defaultdict(float, prose)
    held: dict[int, float] = {}
    for mem_id, block in blocks.items():  # children before parents
        # Only prose is discounted: a menu inside a marked sidebar is no better for it.
        held[mem_id] = block.factor * prose[mem_id]
        if block.parent is not None:
            prose[block.parent] += held[mem_id]
            furniture[block.parent] += furniture[mem_id]
            if block.factor == NO_EVIDENCE:
                plain[block.parent] += plain[mem_id]
    enclosing: dict[int, float] = {}
    scores: dict[int, float] = {}
    for mem_id in reversed(blocks):  # parents before children
        block = blocks[mem_id]
        around = 1.0 if block.parent is None else enclosing[block.parent]
        enclosing[mem_id] = around * block.factor
        scores[mem_id] = around * held[mem_id] + furniture[mem_id]
    return BlockScores(scores, enclosing, held, plain)
