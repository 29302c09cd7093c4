"""Check that the corpus folder and the index agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.records import ArticleState, content_hash
from storage.archive import ArchiveError, ArchiveLocation, read_archived
from storage.articles import ArticleRow
from storage.corpus import (
    TEMP_PREFIX,
    CorpusFormatError,
    is_corpus_file_name,
    read_corpus_file,
)
from storage.index import CorpusIndex


@dataclass(frozen=True)
class VerifyProblem:
    # missing_file, hash_mismatch, date_mismatch, bad_format, name_mismatch, orphan_file,
    # temporary_file, unfinished_write, or bad_archive_record
    kind: str
    file_name: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    articles_checked: int
    files_seen: int
    problems: tuple[VerifyProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_corpus(index: CorpusIndex, corpus_dir: Path,
                  archive_dir: Path | None = None) -> VerifyReport:
    """Every index row against its file and, given `archive_dir`, its archived records."""
    problems: list[VerifyProblem] = []
    on_disk = {path.name for path in corpus_dir.iterdir()} if corpus_dir.is_dir() else set()
    known: set[str] = set()
    checked = 0
    for row in index.iter_articles():
        known.add(row.file_name)
        checked += 1
        if row.state != ArticleState.STORED:
            problems.append(VerifyProblem("unfinished_write", row.file_name,
                                          f"index row {row.sequence} is still being written "
                                          f"by {row.writer}"))
            continue
        if row.file_name not in on_disk:
            problems.append(VerifyProblem("missing_file", row.file_name,
                                          f"index row {row.sequence} has no file"))
            continue
        try:
            document = read_corpus_file(corpus_dir / row.file_name)
        except CorpusFormatError as exc:
            problems.append(VerifyProblem("bad_format", row.file_name, str(exc)))
            continue
        actual = content_hash(document.text)
        if actual != row.content_hash:
            problems.append(VerifyProblem("hash_mismatch", row.file_name,
                                          f"text hash {actual[:16]} differs from the index "
                                          f"({row.content_hash[:16]})"))
        elif document.published != row.published:
            problems.append(VerifyProblem("date_mismatch", row.file_name,
                                          f"date header {document.published} differs from "
                                          f"the index ({row.published})"))
        if archive_dir is not None and row.archive_file is not None:
            problem = _archive_problem(archive_dir, row)
            if problem is not None:
                problems.append(problem)
        if document.sequence != row.sequence:
            problems.append(VerifyProblem("name_mismatch", row.file_name,
                                          f"file name sequence {document.sequence} differs "
                                          f"from the index ({row.sequence})"))
    for name in sorted(on_disk - known):
        if name.startswith(TEMP_PREFIX):
            problems.append(VerifyProblem("temporary_file", name,
                                          "temporary file left by an interrupted write"))
        elif is_corpus_file_name(name):
            problems.append(VerifyProblem("orphan_file", name, "corpus file not in the index"))
    if archive_dir is not None:
        problems.extend(_failed_page_problems(index, archive_dir))
    files_seen = sum(1 for name in on_disk if is_corpus_file_name(name))
    return VerifyReport(articles_checked=checked, files_seen=files_seen,
                        problems=tuple(problems))


def _archive_problem(archive_dir: Path, row: ArticleRow) -> VerifyProblem | None:
    """Whether the article's archived records exist, are whole, and are this article's."""
    assert row.archive_file is not None
    location = ArchiveLocation(row.archive_file, row.archive_offset or 0,
                               row.archive_length or 0)
    try:
        archived = read_archived(archive_dir, location)
    except ArchiveError as exc:
        return VerifyProblem("bad_archive_record", row.file_name, str(exc))
    if archived.sequence != row.sequence or archived.page.url != row.url:
        return VerifyProblem("bad_archive_record", row.file_name,
                             f"{row.archive_file}@{row.archive_offset} holds article "
                             f"{archived.sequence} ({archived.page.url}), not this one")
    return None


def _failed_page_problems(index: CorpusIndex, archive_dir: Path) -> list[VerifyProblem]:
    """Whether each failed entry's archived page (what `reextract` tries) is whole and its own."""
    problems: list[VerifyProblem] = []
    for row in index.failed_archived_pages():
        location = ArchiveLocation(row.archive_file, row.archive_offset, row.archive_length)
        try:
            archived = read_archived(archive_dir, location)
        except ArchiveError as exc:
            problems.append(VerifyProblem("bad_archive_record", row.url, str(exc)))
            continue
        if archived.sequence is not None or archived.page.url != row.url:
            problems.append(VerifyProblem("bad_archive_record", row.url,
                                          f"{row.archive_file}@{row.archive_offset} holds "
                                          f"{archived.page.url}, not this failed page"))
    return problems
