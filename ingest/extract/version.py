"""Which extractor produced a text: recorded per article and in its archived metadata."""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path


@functools.cache
def extractor_version() -> str:
    """`<package version>+<digest of the extractor's source>`: changes whenever the extractor
    does, even between releases, so the index tells which articles an older extractor made."""
    try:
        release = metadata.version("source-ingest")
    except metadata.PackageNotFoundError:
        release = "0"
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{release}+{digest.hexdigest()[:12]}"
