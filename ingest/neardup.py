"""Near-duplicate detection: MinHash signatures over word shingles, banded for lookup.

The same wire story republished with another dateline or an added sentence shares almost all
of its three-word shingles with the original; a different story on the same topic shares few.
Signatures are stored in the index with their LSH band keys, so every process (and every
replica) finds candidates with one indexed query and confirms them by estimated Jaccard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash

NUM_PERMUTATIONS = 64
BANDS = 16  # 16 bands of 4 rows: candidates from a Jaccard of about 0.5 upwards
ROWS_PER_BAND = NUM_PERMUTATIONS // BANDS
SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class TextSignature:
    values: bytes  # NUM_PERMUTATIONS uint32 MinHash values
    bands: tuple[str, ...]


def text_signature(text: str) -> TextSignature | None:
    """The signature of a text, or None when it is too short to compare meaningfully."""
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE_WORDS * 4:
        return None
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


def estimated_similarity(first: bytes, second: bytes) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    a = np.frombuffer(first, dtype=np.uint32)
    b = np.frombuffer(second, dtype=np.uint32)
    if a.shape != b.shape or a.size == 0:
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


def best_near_duplicate(signature: TextSignature, stored: dict[int, bytes],
                        threshold: float) -> tuple[int, float] | None:
    """The stored article most similar to this one, if any reaches the threshold."""
    best: tuple[int, float] | None = None
    for sequence, values in stored.items():
        similarity = estimated_similarity(signature.values, values)
        if similarity >= threshold and (best is None or similarity > best[1]):
            best = (sequence, similarity)
    return best
