"""Inside the article element, drop the blocks that are furniture by both markup and text.

A block the markup marks as furniture (boilerplate) is dropped only when its text agrees:
it is not prose (links, labels, buttons), or it is prose at the article's edge (the comments,
the author's bio, the related stories after the last paragraph; the byline above the first),
or the page hides it or declares it navigation. Marked prose between the article's own
paragraphs is the article (a paragraph classed `paywall`, a text block in an `embed`
wrapper), and so is whatever holds the article's main text: the blocks of one kind (same
tag and class) that together carry half of its prose are never dropped for a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from ingest.extract.boilerplate import NO_EVIDENCE, STRONG, STRUCTURAL
from ingest.extract.paragraphs import Block, PageText, Paragraph

# The share of the article's prose that makes the blocks of one kind its main text.
_MAIN_TEXT_SHARE = 0.5
# A paragraph of at least this weight is prose: it anchors the article's start and end.
_PROSE_WEIGHT = 40.0
_LINK_HEAVY = 0.5
# A marked block before the first paragraph of prose is the header's furniture (byline,
# kicker, share bar) unless it is long enough to be the lead itself.
_HEADER_NOTE_CHARS = 200


@dataclass(frozen=True)
class _Sums:
    """Prefix sums over the page's paragraphs: any block's totals in constant time."""

    prose: list[float]
    total: list[float]
    chars: list[int]
    link_chars: list[int]
    prose_paragraphs: list[int]

    @classmethod
    def of(cls, paragraphs: list[Paragraph], weights: list[float]) -> _Sums:
        return cls(
            prose=[0.0, *accumulate(max(w, 0.0) for w in weights)],
            total=[0.0, *accumulate(weights)],
            chars=[0, *accumulate(len(p.text) for p in paragraphs)],
            link_chars=[0, *accumulate(p.link_chars for p in paragraphs)],
            # A quotation counts as prose however short: an embedded post the story cites.
            prose_paragraphs=[
                0,
                *accumulate(
                    int(w >= _PROSE_WEIGHT or p.quoted)
                    for p, w in zip(paragraphs, weights, strict=True)
                ),
            ],
        )

    def prose_in(self, first: int, end: int) -> float:
        return self.prose[end] - self.prose[first]

    def total_in(self, first: int, end: int) -> float:
        return self.total[end] - self.total[first]

    def prose_paragraphs_in(self, first: int, end: int) -> int:
        return self.prose_paragraphs[end] - self.prose_paragraphs[first]

    def chars_in(self, first: int, end: int) -> int:
        return self.chars[end] - self.chars[first]

    def link_density(self, first: int, end: int) -> float:
        chars = self.chars[end] - self.chars[first]
        return (self.link_chars[end] - self.link_chars[first]) / chars if chars else 0.0


def article_paragraphs(page: PageText, weights: list[float], article: int) -> list[int]:
    """Indexes of the paragraphs of the `article` block that are kept, in reading order."""
    root = page.blocks[article]
    sums = _Sums.of(page.paragraphs, weights)
    inside = [
        block
        for block in page.blocks.values()
        if block.depth > root.depth
        and root.first <= block.first
        and block.end <= root.end
        and block.first < block.end
        and (block.factor < NO_EVIDENCE or block.prompt)
    ]
    if not inside:
        return list(range(root.first, root.end))
    inside.sort(key=lambda b: (b.first, b.depth))
    unmarked_prose = _anchors(root, _outermost(inside), weights)
    story_end = unmarked_prose[-1] if unmarked_prose else root.end
    main_kinds = _main_text_kinds(inside, sums, sums.prose_in(root.first, root.end), story_end)
    candidates = [b for b in inside if b.signature not in main_kinds]
    anchors = _anchors(root, _outermost(candidates), weights)
    dropped = [False] * (root.end - root.first)
    # Parents come before their children: a marked block that stays is story, but what is
    # marked inside it is judged in turn (a caption in an embed wrapper, a share bar in a
    # paywalled section). Inside a dropped block nothing is judged again.
    dropped_until = -1
    for block in candidates:
        if block.first < dropped_until:
            continue
        if _is_furniture(block, sums, anchors):
            for index in range(block.first, block.end):
                dropped[index - root.first] = True
            dropped_until = block.end
    return [index for index in range(root.first, root.end) if not dropped[index - root.first]]


def _covered(root: Block, marked: list[Block]) -> list[bool]:
    covered = [False] * (root.end - root.first)
    for block in marked:
        for index in range(block.first, block.end):
            covered[index - root.first] = True
    return covered


def _anchors(root: Block, marked: list[Block], weights: list[float]) -> list[int]:
    """The paragraphs of prose outside every marked block: where the story is."""
    covered = _covered(root, marked)
    return [
        index
        for index in range(root.first, root.end)
        if not covered[index - root.first] and weights[index] >= _PROSE_WEIGHT
    ]


def _main_text_kinds(
    inside: list[Block], sums: _Sums, article_prose: float, story_end: int
) -> set[str]:
    """Kinds of marked block that hold the article's main text. Not the site's own words
    (comments, consent panels) that all come after the unmarked story, however long: a
    thread of comments is often longer than the post it follows."""
    prose_by_kind: dict[str, float] = {}
    within_story: set[str] = set()
    for block in inside:
        if block.factor > STRONG:  # not hidden, not navigation
            prose_by_kind[block.signature] = (
                prose_by_kind.get(block.signature, 0.0) + sums.prose_in(block.first, block.end)
            )
            if block.factor > STRUCTURAL or block.first < story_end:
                within_story.add(block.signature)
    return {
        kind
        for kind, prose in prose_by_kind.items()
        if kind in within_story and prose >= _MAIN_TEXT_SHARE * article_prose > 0
    }


def _outermost(blocks: list[Block]) -> list[Block]:
    """`blocks` (in document order) without those inside an earlier one."""
    kept: list[Block] = []
    end = -1
    for block in blocks:
        if block.first >= end:
            kept.append(block)
            end = block.end
    return kept


def _is_furniture(block: Block, sums: _Sums, anchors: list[int]) -> bool:
    if block.factor <= STRUCTURAL or block.prompt:
        # Hidden, navigation, an aside, or the site speaking (a sign-up prompt, an ad, a
        # caption, a form to fill in): not the story even between its paragraphs.
        return True
    if sums.total_in(block.first, block.end) <= 0:
        return True  # labels and links
    if sums.link_density(block.first, block.end) > _LINK_HEAVY:
        return True
    if not sums.prose_paragraphs_in(block.first, block.end):
        return True  # prompts and buttons: not one sentence of prose among them
    if not anchors:
        return False  # no unmarked prose to tell where the story is: the text decided
    if block.first > anchors[-1]:
        return True  # after the story: comments, bio, related stories, sign-up prompts
    if block.end <= anchors[0]:
        return sums.chars_in(block.first, block.end) < _HEADER_NOTE_CHARS
    return False
