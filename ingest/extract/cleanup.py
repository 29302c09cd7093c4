"""Last pass over the article's paragraphs: lines that sit inside the article element but are
not its text (the headline again, copyright and agency lines, contributor credits).
"""

from __future__ import annotations

import re

from ingest.extract.page_dates import is_date_line

# Copyright notices, wherever they appear: "© 2024 Agency", "Copyright 2019 The Associated
# Press. All rights reserved."
_COPYRIGHT = re.compile(r"^(?:©|\(c\)\s|copyright\b)|all rights reserved", re.IGNORECASE)
# Credit lines news agencies end a story with. Only looked for in the last few paragraphs,
# where they are credits; the same words in the middle of a story are reporting.
_CREDIT = re.compile(
    r"^(?:additional |editing |reporting )?(?:reporting|writing|editing) by\b"
    r"|^with files from\b"
    r"|\bcontributed (?:reporting|to this (?:report|story))\b"
    r"|^_{3,}$",
    re.IGNORECASE,
)
# "By Jane Doe", "Von Max Muster", "Par Jean Dupont": the byline, when it is a line of its own
# at the top of the story.
_BYLINE = re.compile(r"^(?:by|von|par|por|di|door|av)\s+\w", re.IGNORECASE)
_MAX_BYLINE_CHARS = 80
_LEADING = 3  # how many opening paragraphs may be the headline, a byline or a date line
_MAX_NOTICE_CHARS = 300
_TRAILING = 4  # how many closing paragraphs may be credits
_MIN_REPEATED_CHARS = 80


def tidy_paragraphs(paragraphs: list[str], title: str) -> list[str]:
    """`paragraphs` without the repeated headline, byline, notices, credits and doubles
    (a standfirst or subhead repeated in the body is kept once, where it first appears)."""
    kept: list[str] = []
    passages = _retold_passages(paragraphs)
    seen: set[str] = set()
    for index, text in enumerate(paragraphs):
        if kept and text == kept[-1]:
            continue  # the same paragraph twice in a row: a mobile and a desktop copy
        if text in seen and index not in passages:
            continue  # a sentence again further on: a pull quote, or the body repeating a subhead
        if len(text) >= _MIN_REPEATED_CHARS:
            seen.add(text)  # short lines may rightly repeat: "Q:", "* * *", "Update"
        if index < _LEADING:
            # The article's header above its text: the headline (stored as the title, not
            # as body text), the byline and the date line, in any order under a kicker.
            if title and _same_text(text, title):
                continue
            if len(text) <= _MAX_BYLINE_CHARS and _BYLINE.match(text):
                continue
            if is_date_line(text):
                continue
        short = len(text) <= _MAX_NOTICE_CHARS
        if short and _COPYRIGHT.search(text):
            continue
        if short and index >= len(paragraphs) - _TRAILING and _CREDIT.search(text):
            continue
        kept.append(text)
    return kept


def _retold_passages(paragraphs: list[str]) -> set[int]:
    """Indexes of paragraphs that repeat, together with the one before or after them, a
    passage told earlier on the page in the same order: the page tells it twice (a summary
    box above the full story, a list repeated with its answers), and a reader reads it twice.
    A lone sentence repeated is a pull quote or a subhead, and is kept once."""
    first: dict[str, int] = {}
    earlier: list[int | None] = []
    for index, text in enumerate(paragraphs):
        earlier.append(first.get(text))
        first.setdefault(text, index)
    retold: set[int] = set()
    for index in range(1, len(paragraphs)):
        before, here = earlier[index - 1], earlier[index]
        if before is not None and here is not None and here == before + 1 and here < index - 1:
            retold.update((index - 1, index))
    return retold


def _same_text(paragraph: str, title: str) -> bool:
    a, b = paragraph.casefold(), title.casefold()
    # Page titles often carry the site name: "Headline - Site" starts with the headline.
    return a == b or (len(a) > 15 and b.startswith(a))
