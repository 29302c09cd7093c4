"""The second method: the densest run of prose in reading order, ignoring the page's tree.

The main method (`scoring`, `pruning`) trusts the markup's structure: the article is one
element. When that goes wrong (an article split over sibling elements, or a template whose
structure puts a bigger block of other text around it) the result is weak: empty, shorter
than the page's densest paragraph, or without the words of the feed's title. This pass
reads the same paragraphs as a sequence instead, the way a reader skims: prose counts for
it, furniture lines against it, and the article is the run of paragraphs with the highest
sum (one pass, Kadane's maximum subarray), whatever elements they sit in.

`choose` compares the two results by what the text itself shows, and the extracted article
records which method gave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.extract.boilerplate import STRUCTURAL
from ingest.extract.paragraphs import PageText

# Prose below this weight neither starts nor ends the run on its own, but is carried inside.
_GOOD_WEIGHT = 60.0
# What a furniture line inside the run costs: a few menu items do not break an article
# (a share bar between two paragraphs), a menu of ten does.
_BAD_COST = 25.0
_WORD = re.compile(r"\w{4,}")
_WORD_CHAR = re.compile(r"\w")
_TITLE_SEPARATOR = re.compile(r"\s{1,8}(?:[|–—»·]|-|::)\s{1,8}")  # bounded: linear
# The main result is weak when it covers less than this share of the title's words ...
_TITLE_SHARE = 0.34
_MIN_TITLE_WORDS = 3
# ... or holds less text than the page's densest paragraph (which it does not include).
_DENSEST_SHARE = 1.0


@dataclass(frozen=True)
class Candidate:
    """A method's result: indexes of the page's paragraphs, in reading order."""

    indexes: tuple[int, ...]
    chars: int


def candidate(page: PageText, indexes: list[int]) -> Candidate:
    return Candidate(tuple(indexes), sum(len(page.paragraphs[i].text) for i in indexes))


def densest_run(page: PageText, weights: list[float], factors: list[float]) -> Candidate:
    """The contiguous run of paragraphs whose prose, less its furniture lines, weighs most;
    the furniture lines inside it are left out."""
    best_sum, best = 0.0, (0, 0)
    running, start = 0.0, 0
    for index, (weight, factor) in enumerate(zip(weights, factors, strict=True)):
        running += _value(weight, factor)
        if running <= 0:
            running, start = 0.0, index + 1
        elif running > best_sum:
            best_sum, best = running, (start, index + 1)
    first, end = best
    kept = [
        i for i in range(first, end) if weights[i] > 0 and factors[i] > STRUCTURAL
    ]
    return candidate(page, kept)


def is_weak(page: PageText, main: Candidate, densest: int | None, title: str) -> bool:
    """Whether the main method's result needs a second opinion: empty, shorter than the
    page's densest paragraph (left out of it), or missing most of the title's words."""
    if not main.indexes:
        return True
    if _misses_densest(page, main, densest):
        return True
    wanted = _headline_words(title)
    return len(wanted) >= _MIN_TITLE_WORDS and _coverage(page, main, wanted) < _TITLE_SHARE


def choose(
    page: PageText, main: Candidate, second: Candidate, densest: int | None, title: str
) -> bool:
    """Whether the second method's result is the better article: it holds the densest
    paragraph where the main one, shorter than that paragraph, does not; or more of the
    headline's words; or it is not empty where the main one is. Ties go to the main method.
    (A main result longer than the densest paragraph it leaves out has left out a caption
    or a note, not the story.)"""
    if not second.indexes:
        return False
    if not main.indexes:
        return True
    if _misses_densest(page, main, densest):
        return densest in second.indexes
    wanted = _headline_words(title)
    if len(wanted) >= _MIN_TITLE_WORDS:
        ours, theirs = _coverage(page, main, wanted), _coverage(page, second, wanted)
        if theirs > ours + _TITLE_SHARE / 2:
            return True
    return False


def densest_paragraph(weights: list[float], factors: list[float]) -> int | None:
    """The paragraph that weighs most as prose, counting what its markup says about it."""
    best, found = _GOOD_WEIGHT, None
    for index, (weight, factor) in enumerate(zip(weights, factors, strict=True)):
        if weight * factor > best:
            best, found = weight * factor, index
    return found


def _misses_densest(page: PageText, main: Candidate, densest: int | None) -> bool:
    return (
        densest is not None
        and densest not in main.indexes
        and main.chars < _DENSEST_SHARE * len(page.paragraphs[densest].text)
    )


def _headline_words(title: str) -> set[str]:
    """The words of the headline in `title`: a page's <title> adds the site's name and
    section ("Headline | Section | Site"), words no article needs to contain. The longest
    part between separators is the headline."""
    parts = _TITLE_SEPARATOR.split(title)
    return _words(max(parts, key=len))


def _value(weight: float, factor: float) -> float:
    if weight <= 0 or factor <= STRUCTURAL:
        return -_BAD_COST
    return weight * factor if weight * factor >= _GOOD_WEIGHT else 0.0


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _coverage(page: PageText, found: Candidate, wanted: set[str]) -> float:
    """The share of `wanted` (words as `_words` reads them) that the candidate's text holds.

    Each wanted word is looked up in the text (a substring search, then the neighbours of
    each hit checked) rather than the text split into a string per word: a headline has a
    few words, an article hundreds (bench/README.md, stop 29)."""
    # Paragraphs are joined by a character that is not a word's, so no word spans two.
    text = "\n".join(page.paragraphs[index].text for index in found.indexes).casefold()
    return sum(_holds_word(text, word) for word in wanted) / len(wanted)


def _holds_word(text: str, word: str) -> bool:
    """Whether `word` is one of the \\w runs of `text` (not part of a longer one)."""
    at = text.find(word)
    while at >= 0:
        end = at + len(word)
        if not (at and _WORD_CHAR.match(text, at - 1)) and not _WORD_CHAR.match(text, end):
            return True
        at = text.find(word, at + 1)
    return False
