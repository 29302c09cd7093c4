"""Near-duplicate signatures: the values datasketch gave, without importing datasketch."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.dedupe.near_duplicates import (
    BANDS,
    NUM_PERMUTATIONS,
    ROWS_PER_BAND,
    SHINGLE_WORDS,
    TextSignature,
    text_signature,
)

_PAGES = Path(__file__).parents[1] / "extract" / "fixtures"
_WORD = re.compile(r"\w+")  # as ingest.dedupe.near_duplicates splits words


def _texts() -> list[str]:
    generator = random.Random(7)
    vocabulary = [f"word{i}" for i in range(3000)]
    return [
        # the 12-word minimum, exactly
        "one two three four five six seven eight nine ten eleven twelve",
        "The government approved a new programme on Tuesday to support the families of "
        "people who went missing during the conflict, the ministry of labour said.",
        "Правительство утвердило новую программу поддержки семей пропавших без вести, "
        "сообщило министерство труда во вторник. Zürich, São Paulo and Łódź reported "
        "the same figures, 東京 and 北京 too, with 3,000 families eligible from March.",
        # repeated shingles: the set, not the sequence, is hashed
        "the same sentence again and again. " * 200,
        " ".join(generator.choice(vocabulary) for _ in range(20000)),
        *(page.read_text(encoding="utf-8") for page in sorted(_PAGES.glob("*.html"))),
    ]


def _datasketch_signature(text: str) -> TextSignature:
    """The signature as near_duplicates computed it with datasketch (its default scheme)."""
    from datasketch import MinHash

    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i:i + SHINGLE_WORDS]).encode("utf-8")
                for i in range(len(words) - SHINGLE_WORDS + 1)}
    minhash = MinHash(num_perm=NUM_PERMUTATIONS, seed=1)
    minhash.update_batch(list(shingles))
    values = minhash.hashvalues.astype(np.uint32)
    bands = tuple(
        f"{band:02d}:{values[band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND].tobytes().hex()}"
        for band in range(BANDS)
    )
    return TextSignature(values=values.tobytes(), bands=bands)


def test_signatures_equal_datasketch_so_stored_signatures_stay_comparable() -> None:
    pytest.importorskip("datasketch", minversion="2.0")
    texts = _texts()
    assert len(texts) > 10
    for text in texts:
        assert text_signature(text) == _datasketch_signature(text), text[:60]


def test_texts_under_twelve_words_have_no_signature() -> None:
    assert text_signature("one two three four five six seven eight nine ten eleven") is None


def test_importing_neardup_loads_neither_datasketch_nor_scipy() -> None:
    # A fresh interpreter: this test process may have imported datasketch for the test above.
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, ingest.dedupe.near_duplicates; "
         "print(sorted(m for m in ('scipy', 'datasketch') if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
