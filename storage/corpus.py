"""The corpus file format: the contract with downstream processing.

One UTF-8 file per article named `NNN_<16 hex>.txt` (NNN the zero-padded sequence number, wider
past 999; the hex the start of the SHA-256 of the text). The content is ` date YYYY-MM-DD ` and the
text, or the text alone when no date is known; no trailing newline. Reading a file and writing it
back gives the same bytes, whatever paragraph separator the text uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

_FILE_NAME = re.compile(r"^(\d{3,})_([0-9a-f]{16})\.txt$")
_DATE_HEADER = re.compile(r"^ date (\d{4}-\d{2}-\d{2}) ")
TEMP_PREFIX = ".tmp-"
HASH_PREFIX_LENGTH = 16


class CorpusFormatError(ValueError):
    """A file in the corpus folder does not follow the corpus format."""


@dataclass(frozen=True)
class CorpusDocument:
    sequence: int
    hash_prefix: str  # as found in the file name; not required to match the text's hash
    published: date | None
    text: str


def corpus_file_name(sequence: int, content_hash: str) -> str:
    if sequence < 0:
        raise ValueError("sequence must be 0 or more")
    return f"{sequence:03d}_{content_hash[:HASH_PREFIX_LENGTH]}.txt"


def parse_corpus_file_name(name: str) -> tuple[int, str]:
    match = _FILE_NAME.match(name)
    if match is None:
        raise CorpusFormatError(f"{name}: not a corpus file name (NNN_<16 hex>.txt)")
    return int(match.group(1)), match.group(2)


def is_corpus_file_name(name: str) -> bool:
    return _FILE_NAME.match(name) is not None


def format_corpus_text(published: date | None, text: str) -> str:
    if published is None:
        return text
    return f" date {published.isoformat()} {text}"


def parse_corpus_text(content: str) -> tuple[date | None, str]:
    match = _DATE_HEADER.match(content)
    if match is None:
        return None, content
    try:
        published = date.fromisoformat(match.group(1))
    except ValueError:
        return None, content
    return published, content[match.end():]


def read_corpus_file(path: Path) -> CorpusDocument:
    sequence, hash_prefix = parse_corpus_file_name(path.name)
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusFormatError(f"{path.name}: not UTF-8") from exc
    published, text = parse_corpus_text(content)
    return CorpusDocument(sequence=sequence, hash_prefix=hash_prefix, published=published,
                          text=text)


def write_corpus_file(corpus_dir: Path, file_name: str, published: date | None, text: str,
                      writer: str, *, sync_directory: bool = True) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then rename.

    The rename is durable once the folder is synced: here, or (`sync_directory=False`, for
    several files in a row) by one `sync_corpus_directory` after the last of them, before the
    index records any of them as stored.

    The name is checked so that nothing can be written outside the corpus folder whatever a
    title or URL contains; the temporary name carries the writer's identity so a later run can
    tell a dead writer's leftovers from a live one's.
    """
    if not is_corpus_file_name(file_name):
        raise CorpusFormatError(f"{file_name}: not a corpus file name")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    final = corpus_dir / file_name
    temporary = corpus_dir / temp_file_name(file_name, writer)
    data = format_corpus_text(published, text).encode("utf-8")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if sync_directory:
        sync_corpus_directory(corpus_dir)
    return final


def temp_file_name(file_name: str, writer: str) -> str:
    return f"{TEMP_PREFIX}{writer}-{file_name}"


def temp_file_writer(name: str) -> str | None:
    """The writer identity in a temporary file's name, or None if the name is not ours."""
    match = re.match(rf"^{re.escape(TEMP_PREFIX)}(.+)-\d{{3,}}_[0-9a-f]{{16}}\.txt$", name)
    return None if match is None else match.group(1)


def sync_corpus_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (e.g. network volumes) refuse directory fsync; rename is done
    finally:
        os.close(fd)
