"""The page archive: every stored article's page as WARC records, for re-extraction, and
every fetched page that gave no text (its metadata record names the failure kind instead of
a sequence), so that an extractor fixed later can still recover it.

Each article is a `response` record (HTTP status, headers and body as received, after
transfer decoding) followed by a `metadata` record (feed, entry, sequence, extractor version,
method, and the feed entry's title, summary and content that extraction was given), each its
own gzip member, so a record is read from its offset alone and standard tools (`warcio index`,
`warcio extract`) read the files. FastWARC writes the records (1.0 ms of CPU per article
against warcio's 3.0 ms, both with gzip level 6, articles-dev's 883 pages) and ISA-L gzips
each one (bench/README.md: its level 2 is a fifth of the CPU of FastWARC's level 6, for
members 10-14% larger).

A file belongs to one writer (`<writer tag>-NNNNN.warc.gz`) and is held under an exclusive
lock while open, so neither replicas on one volume nor two runs of one process interleave
records; it rotates past `max_file_bytes`. The index records each article's file, offset and
length only once the records are synced, so bytes past the last recorded article of a dead
writer's file are a torn or unrecorded write: `cut_torn_records` cuts them off.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from isal import isal_zlib

ARCHIVE_SUFFIX = ".warc.gz"
DEFAULT_MAX_FILE_BYTES = 1_000_000_000
_FILE_NAME = re.compile(r"^(.+)-(\d{5,})\.warc\.gz$")
# Headers that describe the bytes on the wire, not the decoded body the record holds.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
# ISA-L's default level: a fifth of the CPU of zlib-ng's level 6 for slightly larger members
# (bench/README.md), and ISA-L leaves the GIL to the event loop while it compresses.
_COMPRESSION_LEVEL = 2
_GZIP_WINDOW = 31  # zlib's wbits for a gzip member: 2**15 window, gzip header and trailer


class ArchiveError(Exception):
    """An archived record is missing, torn or not what the index says."""


@dataclass(frozen=True)
class ArchivedPage:
    """A fetched page as archived: the final URL and the response as received."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def charset(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "content-type":
                match = re.search(r"charset\s*=\s*\"?([^\";\s]+)", value, re.IGNORECASE)
                return match.group(1) if match else None
        return None


@dataclass(frozen=True)
class ArchivedEntry:
    """What the feed entry told extraction, so that re-extraction gets the same input."""

    feed: str
    entry_key: str
    title: str
    summary_html: str
    content_html: str
    published: date | None


@dataclass(frozen=True)
class ArchiveItem:
    """One article's page to archive, with the facts of its metadata record."""

    page: ArchivedPage
    entry: ArchivedEntry
    sequence: int | None  # None: a page that gave no text (see failure_kind)
    extractor_version: str
    method: str
    failure_kind: str | None = None  # why extraction gave no article, for a failed page


@dataclass(frozen=True)
class ArchiveLocation:
    file_name: str
    offset: int
    length: int


def archive_file_writer(name: str) -> str | None:
    """The writer tag in an archive file's name, or None if the name is not ours."""
    match = _FILE_NAME.match(name)
    return None if match is None else match.group(1)


def item_bytes(item: ArchiveItem) -> bytes:
    """The response and metadata records of one article, each its own gzip member."""
    response_id = uuid.uuid4().urn
    page = item.page
    reason = _reason(page.status)
    lines = [f"HTTP/1.1 {page.status} {reason}".rstrip()]
    lines += [f"{name}: {value}" for name, value in page.headers
              if name.lower() not in _WIRE_HEADERS]
    lines.append(f"Content-Length: {len(page.body)}")
    http_block = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + page.body
    entry = item.entry
    metadata: dict[str, Any] = {
        "feed": entry.feed, "entry_key": entry.entry_key, "sequence": item.sequence,
        "extractor_version": item.extractor_version, "method": item.method,
        "entry": {"title": entry.title, "summary_html": entry.summary_html,
                  "content_html": entry.content_html,
                  "published": entry.published.isoformat() if entry.published else None},
    }
    if item.failure_kind is not None:
        metadata["failure_kind"] = item.failure_kind
    response = _record(WarcRecordType.response, response_id, page.url,
                       "application/http; msgtype=response", http_block)
    described = _record(WarcRecordType.metadata, uuid.uuid4().urn, page.url,
                        "application/json", json.dumps(metadata, ensure_ascii=False).encode())
    described.headers["WARC-Refers-To"] = f"<{response_id}>"
    return _gzipped(response) + _gzipped(described)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _record(kind: WarcRecordType, urn: str, url: str, content_type: str,
            payload: bytes) -> WarcRecord:
    record = WarcRecord()
    record.init_headers(kind, record_urn=urn.removeprefix("urn:").encode())
    record.headers["WARC-Target-URI"] = url
    record.headers["Content-Type"] = content_type
    record.set_bytes_content(payload)
    return record


def _gzipped(record: WarcRecord) -> bytes:
    buffer = io.BytesIO()
    record.write(buffer, checksum_data=True)
    return isal_zlib.compress(buffer.getvalue(), _COMPRESSION_LEVEL, _GZIP_WINDOW)


class ArchiveWriter:
    """Appends articles' records to this writer's current file, synced before returning.

    Owned by one thread (a run's store lane); the file is opened at the first append and its
    lock held until `close`.
    """

    def __init__(self, directory: Path, writer: str, *,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self._directory = directory
        self._writer = writer
        self._max_file_bytes = max_file_bytes
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._number = 0

    def append(self, items: Sequence[ArchiveItem]) -> list[ArchiveLocation]:
        """Write the items' records and sync them; their locations in the items' order."""
        locations: list[ArchiveLocation] = []
        touched: set[int] = set()
        for item in items:
            data = item_bytes(item)
            if self._fd is None or (self._size and self._size + len(data) > self._max_file_bytes):
                if self._fd is not None:
                    os.fsync(self._fd)
                    touched.discard(self._fd)
                self._open_next()
            assert self._fd is not None
            _write_all(self._fd, data)
            touched.add(self._fd)
            locations.append(ArchiveLocation(self._name, self._size, len(data)))
            self._size += len(data)
        for fd in touched:
            os.fsync(fd)
        return locations

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def _open_next(self) -> None:
        self.close()
        self._directory.mkdir(parents=True, exist_ok=True)
        while True:
            self._number += 1
            name = f"{self._writer}-{self._number:05d}{ARCHIVE_SUFFIX}"
            path = self._directory / name
            created = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another run of this process writes it
                os.close(fd)
                continue
            size = os.fstat(fd).st_size
            if size >= self._max_file_bytes:
                os.close(fd)
                continue
            if created:
                _sync_directory(self._directory)
            self._fd, self._name, self._size = fd, name, size
            return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse directory fsync
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ArchivedArticle:
    """An article's records read back: the page and its metadata record."""

    page: ArchivedPage
    entry: ArchivedEntry
    sequence: int | None  # None: a failed page's records
    extractor_version: str
    method: str
    failure_kind: str | None = None


def read_archived(directory: Path, location: ArchiveLocation) -> ArchivedArticle:
    """Read and check one article's records; ArchiveError when missing, torn or corrupt."""
    path = directory / location.file_name
    try:
        with path.open("rb") as handle:
            handle.seek(location.offset)
            data = handle.read(location.length)
    except OSError as exc:
        raise ArchiveError(f"{location.file_name}: {exc.strerror}") from exc
    if len(data) != location.length:
        raise ArchiveError(f"{location.file_name}: {location.length} bytes at "
                           f"{location.offset} expected, {len(data)} found")
    records: list[tuple[WarcRecord, bytes]] = []
    try:
        for record in ArchiveIterator(io.BytesIO(data), parse_http=False, fsspec_args=False):
            if not record.verify_block_digest(consume=False):
                raise ArchiveError(f"{location.file_name}@{location.offset}: the "
                                   f"{record.record_type.name} record's digest does not match")
            records.append((record, record.reader.read()))
    except OSError as exc:
        raise ArchiveError(f"{location.file_name}@{location.offset}: {exc}") from exc
    return _article(location, records)


def _article(location: ArchiveLocation, records: list[tuple[WarcRecord, bytes]]) -> ArchivedArticle:
    where = f"{location.file_name}@{location.offset}"
    if len(records) != 2 or records[0][0].record_type != WarcRecordType.response \
            or records[1][0].record_type != WarcRecordType.metadata:
        raise ArchiveError(f"{where}: not a response and a metadata record")
    (response, block), (_, described) = records
    head, separator, body = block.partition(b"\r\n\r\n")
    if not separator:
        raise ArchiveError(f"{where}: the response has no HTTP header")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split()[1])
        meta: dict[str, Any] = json.loads(described)
        entry = meta["entry"]
        published = entry.get("published")
        archived_entry = ArchivedEntry(
            feed=meta["feed"], entry_key=meta["entry_key"], title=entry["title"],
            summary_html=entry["summary_html"], content_html=entry["content_html"],
            published=date.fromisoformat(published) if published else None)
        headers = tuple((name.strip(), value.strip()) for name, _, value in
                        (line.partition(":") for line in header_lines))
        return ArchivedArticle(
            page=ArchivedPage(url=response.headers.get("WARC-Target-URI", ""), status=status,
                              headers=headers, body=body),
            entry=archived_entry,
            sequence=None if meta["sequence"] is None else int(meta["sequence"]),
            extractor_version=str(meta["extractor_version"]), method=str(meta["method"]),
            failure_kind=meta.get("failure_kind"))
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{where}: unreadable records ({exc})") from exc


def archived_articles(directory: Path) -> Iterator[tuple[ArchiveLocation, ArchivedArticle]]:
    """Every whole pair of records in the archive, file by file in name order, each file in
    the order written (`reindex` takes URL, feed and title from them). A torn or damaged
    pair is skipped: `verify` names those."""
    for path in sorted(directory.glob(f"*{ARCHIVE_SUFFIX}")):
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                starts = [record.stream_pos for record in
                          ArchiveIterator(handle, parse_http=False, fsspec_args=False)
                          if record.record_type == WarcRecordType.response]
        except OSError:
            continue
        for start, end in zip(starts, [*starts[1:], size], strict=True):
            location = ArchiveLocation(path.name, start, end - start)
            try:
                yield location, read_archived(directory, location)
            except ArchiveError:
                continue

