"""Checks before a fetch or the service writes its first article: the corpus folder can be
written, and it belongs to this index. A folder of articles the index does not know (the index
was lost, or the configuration points at another database) would otherwise be written again
under new numbers: the same texts twice, silently."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ingest.records import ArticleState
from storage.corpus import TEMP_PREFIX, is_corpus_file_name
from storage.database import Database
from storage.schema import articles

REINDEX_HINT = "rebuild the index from the files with `source-ingest reindex`"


class CorpusGuardError(Exception):
    """The corpus folder cannot be used with this index; the message says why and what helps."""


def corpus_dir_problem(corpus_dir: Path) -> str | None:
    """Why articles could not be written to the corpus folder now, if they could not."""
    # The folder is created at the first write, so a missing one is fine when its nearest
    # existing parent is writable.
    folder = corpus_dir
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        return f"corpus folder {corpus_dir}: {folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"corpus folder {corpus_dir}: {folder} is not writable"
    return None


def probe_corpus_dir(corpus_dir: Path, writer: str) -> None:
    """Create the folder and write and remove a file in it: the test a real write would make
    (permission bits say nothing for root, nor for a read-only mount)."""
    probe = corpus_dir / f"{TEMP_PREFIX}{writer}-probe"
    try:
        corpus_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        # Another process's crash recovery may have removed it already: `.tmp-` files of no
        # known writer are leftovers to it.
        probe.unlink(missing_ok=True)
    except OSError as exc:
        raise CorpusGuardError(f"corpus folder {corpus_dir} cannot be written: "
                               f"{exc.strerror or exc} ({exc.filename or corpus_dir})") from exc


@dataclass(frozen=True)
class CorpusMismatch:
    unknown_files: tuple[str, ...]  # corpus files the index has no row for
    rows: int  # index rows
    rows_without_file: int  # of them, how many have no file

    @property
    def doubles(self) -> bool:
        """Writing now would number texts again that the folder already holds, or the index
        points at another folder altogether."""
        return bool(self.unknown_files) or (self.rows > 0 and self.rows_without_file == self.rows)


class CorpusGuardRows(Database):
    def corpus_mismatch(self, corpus_dir: Path) -> CorpusMismatch:
        # The folder first, then the rows: a writer adds its row before its file, so a file
        # listed has its row by then. Recovery removes a dead writer's file before its row:
        # a file it removed meanwhile is no unknown file (checked again below).
        on_disk = {name for name in _names(corpus_dir) if is_corpus_file_name(name)}
        with self._transaction() as conn:
            rows = conn.execute(select(articles.c.file_name, articles.c.state)).all()
        known = {row.file_name for row in rows}
        # Only stored rows count for "none of the files is there": a "writing" row's file may
        # not be renamed into place yet (another replica mid-write).
        stored = {row.file_name for row in rows if row.state == ArticleState.STORED}
        unknown = sorted(name for name in on_disk - known if (corpus_dir / name).exists())
        return CorpusMismatch(unknown_files=tuple(unknown), rows=len(stored),
                              rows_without_file=len(stored - on_disk))


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def check_corpus_matches_index(index: CorpusGuardRows, corpus_dir: Path) -> None:
    """Raise CorpusGuardError, naming `source-ingest reindex`, when the folder and the index
    do not belong together."""
    mismatch = index.corpus_mismatch(corpus_dir)
    if mismatch.unknown_files:
        more = ", ..." if len(mismatch.unknown_files) > 3 else ""
        sample = ", ".join(mismatch.unknown_files[:3]) + more
        raise CorpusGuardError(
            f"corpus folder {corpus_dir} holds {len(mismatch.unknown_files)} article file(s) "
            f"the index does not know ({sample})"
            f": storing now would write the same texts again under new numbers. If the index "
            f"was lost, {REINDEX_HINT}; otherwise point [storage] database_url at the index "
            f"of this folder")
    if mismatch.doubles:
        raise CorpusGuardError(
            f"the index lists {mismatch.rows} article(s) but none of their files is in "
            f"{corpus_dir}: is corpus_dir the right folder? (`source-ingest verify` lists "
            f"them)")
