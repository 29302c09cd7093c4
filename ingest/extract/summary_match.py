"""Whether the feed's summary of an article is found in its extracted text: one of the signals
kept per article, by which extraction health (`ingest.run.extraction_health`) notices a site
whose layout changed under its rules."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w{4,}")
# At least this many distinct words of four letters or more before a summary is compared:
# "Read more" or a bare title says nothing about the text.
_MIN_SUMMARY_WORDS = 5
_SUMMARY_WORDS_FOUND = 0.6


def summary_found(summary: str, text: str) -> bool | None:
    """Whether most of the summary's words are in the text; None when it has too few."""
    words = {word.lower() for word in _WORD.findall(summary)}
    if len(words) < _MIN_SUMMARY_WORDS:
        return None
    found = {word.lower() for word in _WORD.findall(text)}
    return len(words & found) / len(words) >= _SUMMARY_WORDS_FOUND
