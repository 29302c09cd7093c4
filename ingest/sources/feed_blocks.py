"""`[[feeds]]` TOML blocks to paste into the configuration (`feeds discover`, `feeds import`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ingest.records import SourceKind

_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def feed_name(title: str, url: str, taken: set[str]) -> str:
    """A configuration name for a source (1-64 of letters, digits, '.', '_', '-'), unique
    among `taken` (which it joins)."""
    base = _NOT_NAME.sub("-", title.lower()).strip("-._")[:50] or \
        _NOT_NAME.sub("-", urlsplit(url).hostname or "feed").strip("-._")[:50] or "feed"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def feed_block(name: str, url: str, kind: SourceKind = SourceKind.FEED,
               comment: str = "") -> str:
    lines = [f"# {line}" for line in comment.splitlines() if line.strip()]
    lines += ["[[feeds]]", f"name = {_string(name)}"]
    if kind is not SourceKind.FEED:
        lines.append(f"kind = {_string(kind.value)}")
    lines.append(f"url = {_string(url)}")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if " " <= ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped)
    return '"' + escaped + '"'
