"""Recovery after a crash: a dead writer's half-done work is removed so it is redone cleanly.

An article is stored in three steps: a "writing" index row claims its sequence and hash, the
file is written atomically (temporary file, fsync, rename), then the row becomes "stored". A
process killed in between leaves a "writing" row and perhaps a temporary or final file; the
entry was not marked done, so the next poll fetches it again once recovery has cleared them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from storage.archive import ARCHIVE_SUFFIX, archive_file_writer
from storage.corpus import TEMP_PREFIX, sync_corpus_directory, temp_file_writer
from storage.index import CorpusIndex

log = logging.getLogger("source_ingest.recovery")


@dataclass(frozen=True)
class WriterIdentity:
    """Who writes: host, process id and a per-start token (pid 1 repeats in containers)."""

    host: str
    pid: int
    token: str

    @property
    def tag(self) -> str:
        return f"{self.host}-{self.pid}-{self.token}"


def new_writer_identity() -> WriterIdentity:
    host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"
    return WriterIdentity(host=host, pid=os.getpid(), token=secrets.token_hex(4))


def parse_writer_tag(tag: str) -> WriterIdentity | None:
    match = re.match(r"^([A-Za-z0-9._]+)-(\d+)-([0-9a-f]+)$", tag)
    if match is None:
        return None
    return WriterIdentity(host=match.group(1), pid=int(match.group(2)), token=match.group(3))


def writer_is_alive(tag: str, me: WriterIdentity) -> bool | None:
    """True/False when it can be told from this host; None for another host's writer."""
    writer = parse_writer_tag(tag)
    if writer is None:
        return False
    if writer.host != me.host:
        return None
    if writer.pid == me.pid:
        return writer.token == me.token
    try:
        os.kill(writer.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RecoveryReport:
    rows_removed: int
    files_removed: int
    leases_released: int = 0
    archive_bytes_cut: int = 0


def recover_interrupted_writes(index: CorpusIndex, corpus_dir: Path, me: WriterIdentity,
                               now: datetime, stale_after_seconds: float,
                               archive_dir: Path | None = None) -> RecoveryReport:
    """Remove dead writers' "writing" rows with their files, and their temporary files.

    A dead writer's feed leases are released and its runs marked interrupted as well: a
    service restarted after a crash (kill -9, OOM killer) resumes its feeds at once instead of
    waiting for its own old leases to expire (schedule.lease_seconds, minutes by default).
    Writers on other hosts cannot be checked, so their leases still simply expire.
    """
    stale_before = now - timedelta(seconds=stale_after_seconds)
    rows_removed = files_removed = leases_released = 0
    for owner in index.lease_owners():
        if writer_is_alive(owner, me) is False:
            released = index.release_leases_of(owner)
            leases_released += released
            log.warning("released leases of a dead writer", extra={
                "event": "recovered_leases", "writer": owner, "feeds": released})
    index.mark_abandoned_runs(lambda owner: writer_is_alive(owner, me) is not False, now)
    for row in index.writing_articles():
        alive = writer_is_alive(row.writer, me)
        if alive or (alive is None and row.fetched_at > stale_before):
            continue
        path = corpus_dir / row.file_name
        if path.exists():
            path.unlink()
            files_removed += 1
        index.forget_article(row.sequence)
        rows_removed += 1
        log.warning("removed interrupted write", extra={
            "event": "recovered_write", "file": row.file_name, "writer": row.writer})
    if corpus_dir.is_dir():
        for path in corpus_dir.glob(f"{TEMP_PREFIX}*"):
            tag = temp_file_writer(path.name)
            alive = writer_is_alive(tag, me) if tag else False
            if alive:
                continue
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:
                continue  # another replica's write finished (renamed) meanwhile
            if alive is None and datetime.fromtimestamp(modified, now.tzinfo) >= stale_before:
                continue
            if tag and _finish_rewrite(index, corpus_dir, path, tag):
                continue
            path.unlink(missing_ok=True)
            files_removed += 1
            log.warning("removed temporary file", extra={
                "event": "recovered_temp_file", "file": path.name})
    cut = cut_torn_records(index, archive_dir, me, now, stale_after_seconds) \
        if archive_dir is not None else 0
    return RecoveryReport(rows_removed=rows_removed, files_removed=files_removed,
                          leases_released=leases_released, archive_bytes_cut=cut)


def _finish_rewrite(index: CorpusIndex, corpus_dir: Path, path: Path, tag: str) -> bool:
    """A rewrite (storage/rewrite.py) whose index row already names this temporary file's
    final name, stopped before the rename: finish it, and remove the article's old file."""
    final = path.name.removeprefix(f"{TEMP_PREFIX}{tag}-")
    if (corpus_dir / final).exists() or not index.stored_file_exists_in_index(final):
        return False
    os.replace(path, corpus_dir / final)
    sequence = final.split("_", 1)[0]
    for other in corpus_dir.glob(f"{sequence}_*.txt"):
        if other.name != final:
            other.unlink(missing_ok=True)
    sync_corpus_directory(corpus_dir)
    log.warning("finished an interrupted rewrite", extra={
        "event": "recovered_rewrite", "file": final})
    return True


def cut_torn_records(index: CorpusIndex, archive_dir: Path, me: WriterIdentity,
                     now: datetime, stale_after_seconds: float) -> int:
    """Cut dead writers' archive files after their last stored article's records.

    Records are synced before their articles are marked stored, so whatever follows the last
    stored one was written by a batch that never completed (its rows are removed above), or
    torn by the crash. A file is cut only under its lock, taken before its end is read: a
    writer holds the lock while the file is open, so a replica that merely looks dead (another
    host's, quiet for a while, its batch between sync and commit) is never cut. Returns the
    bytes cut."""
    if not archive_dir.is_dir():
        return 0
    stale_before = (now - timedelta(seconds=stale_after_seconds)).timestamp()
    candidates: dict[str, Path] = {}
    for path in archive_dir.glob(f"*{ARCHIVE_SUFFIX}"):
        tag = archive_file_writer(path.name)
        alive = writer_is_alive(tag, me) if tag else True  # not ours: leave it
        if alive is False or (alive is None and path.stat().st_mtime < stale_before):
            candidates[path.name] = path
    locked: dict[str, tuple[Path, int]] = {}
    try:
        for name, path in candidates.items():
            fd = _lock_unused(path)
            if fd is not None:
                locked[name] = (path, fd)
        if not locked:
            return 0
        ends = index.archive_ends(sorted(locked))
        cut = 0
        for name, (path, fd) in locked.items():
            end = ends.get(name, 0)
            size = os.fstat(fd).st_size
            if size <= end:
                continue
            if end == 0:  # nothing of it was ever stored
                path.unlink(missing_ok=True)
            else:
                os.ftruncate(fd, end)
                os.fsync(fd)
            cut += size - end
            log.warning("cut a torn archive record", extra={
                "event": "recovered_archive", "file": name, "bytes": size - end})
        return cut
    finally:
        for _, fd in locked.values():
            os.close(fd)  # releases the lock


def _lock_unused(path: Path) -> int | None:
    """The file opened and locked, or None when a writer holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
