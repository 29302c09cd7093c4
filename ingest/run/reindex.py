"""Rebuild the index from the corpus files: `source-ingest reindex`.

Each file gives its sequence (the name), its hash (the text), its date (the header); URL,
feed and title are not in the file: with the page archive they come from the article's
archived records (found by sequence), else they stay empty ("(reindexed)" for the feed). Files the
index already has are left alone, so a second run changes nothing, and the rows are added a
batch per transaction, so an interrupted run keeps whole batches and the next one goes on from
there. Stored articles that are not yet searchable (stored before full-text search existed)
are made so on the way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.dedupe.near_duplicates import text_signature
from ingest.records import content_hash
from storage.adopt import AdoptedArticle
from storage.archive import ArchivedArticle, archived_articles
from storage.corpus import CorpusFormatError, is_corpus_file_name, read_corpus_file
from storage.index import CorpusIndex
from storage.search import SearchText

log = logging.getLogger("source_ingest.reindex")

BATCH = 200

Detect = Callable[[str], str | None]


@dataclass
class ReindexReport:
    files_seen: int = 0
    added: int = 0
    already_indexed: int = 0
    made_searchable: int = 0
    from_archive: int = 0  # rows added with URL, feed and title from the archive
    problems: list[str] = field(default_factory=list)  # files left out, and why


def _corpus_files(corpus_dir: Path) -> Iterator[Path]:
    try:
        names = sorted(name for name in os.listdir(corpus_dir) if is_corpus_file_name(name))
    except FileNotFoundError:
        return
    for name in names:
        yield corpus_dir / name


def reindex_corpus(index: CorpusIndex, corpus_dir: Path, *,
                   detect_language: Detect | None = None,
                   archive_dir: Path | None = None) -> ReindexReport:
    report = ReindexReport()
    origins = _archived_origins(archive_dir)
    known = {row.sequence: row for row in index.indexed_files()}
    hashes = {row.content_hash: row.sequence for row in known.values()}
    searchable = index.searchable_sequences()
    batch: list[AdoptedArticle] = []
    late_search: list[SearchText] = []
    for path in _corpus_files(corpus_dir):
        report.files_seen += 1
        try:
            document = read_corpus_file(path)
        except (CorpusFormatError, OSError) as exc:
            report.problems.append(f"{path.name}: {exc}")
            continue
        text_hash = content_hash(document.text)
        row = known.get(document.sequence)
        if row is not None:
            if row.file_name != path.name:
                report.problems.append(f"{path.name}: sequence {document.sequence} is "
                                       f"{row.file_name} in the index")
                continue
            report.already_indexed += 1
            if row.sequence not in searchable:
                late_search.append(SearchText(row.sequence, "",
                                              document.text))
            continue
        if text_hash in hashes:
            report.problems.append(f"{path.name}: the same text as article "
                                   f"{hashes[text_hash]} (a duplicate file: left out)")
            continue
        hashes[text_hash] = document.sequence
        signature = text_signature(document.text)
        origin = origins.get(document.sequence)
        if origin is not None:
            report.from_archive += 1
        batch.append(AdoptedArticle(
            sequence=document.sequence, content_hash=text_hash, file_name=path.name,
            published=document.published,
            fetched_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            title=origin.entry.title if origin else "", text=document.text,
            signature=signature.values if signature else None,
            bands=signature.bands if signature else (),
            language=detect_language(document.text) if detect_language else None,
            **({"url": origin.page.url, "feed": origin.entry.feed} if origin else {})))
        if len(batch) >= BATCH:
            report.added += _flush(index, batch)
        if len(late_search) >= BATCH:
            report.made_searchable += _flush_search(index, late_search)
    report.added += _flush(index, batch)
    report.made_searchable += _flush_search(index, late_search)
    return report


def _archived_origins(archive_dir: Path | None) -> dict[int, ArchivedArticle]:
    """The archived records of each sequence (the newest, after a rewrite), if any."""
    if archive_dir is None or not archive_dir.is_dir():
        return {}
    return {archived.sequence: archived for _, archived in archived_articles(archive_dir)
            if archived.sequence is not None}


def _flush(index: CorpusIndex, batch: list[AdoptedArticle]) -> int:
    count = len(batch)
    index.adopt_articles(batch)
    if count:
        log.info("reindexed", extra={"event": "reindexed", "files": count,
                                     "last": batch[-1].file_name})
    batch.clear()
    return count


def _flush_search(index: CorpusIndex, texts: list[SearchText]) -> int:
    count = len(texts)
    index.index_search_texts(texts)
    texts.clear()
    return count
