"""The store stage: dedupe against the index, reserve, write the corpus files, complete.

Articles are stored a batch at a time (whatever the store lane has gathered): one read for
their hashes and signature bands, one transaction reserving their sequence numbers, their
files written and synced with one directory sync, and one transaction marking them stored with
their entries' outcomes. Per article that was four transactions and two fsyncs; a crash at any
point still leaves only "writing" rows and files that recovery removes (storage/recovery.py),
because nothing is marked stored before its file and the folder are synced.

A batch whose reservation conflicts with another process (the same article stored by a
replica meanwhile) is redone one article at a time, where each race is settled on its own; so
is a batch that failed for any other reason (one article the database refused, say): its
reservations are undone first, and then each article fails or succeeds alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from ingest.records import Article, ArticleState, EntryOutcome, FailureKind, IngestFailure
from storage.archive import ArchivedEntry, ArchivedPage, ArchiveItem, ArchiveWriter
from storage.articles import ArchivedAt, ArticleSignals, DuplicateArticle, NewArticle, StoreLookup
from storage.corpus import corpus_file_name, sync_corpus_directory, write_corpus_file
from storage.database import DatabaseError
from storage.entries import EntryRecord
from storage.index import CorpusIndex
from storage.search import SearchText

if TYPE_CHECKING:
    from ingest.dedupe.near_duplicates import TextSignature

log = logging.getLogger("source_ingest.pipeline")


@dataclass(frozen=True)
class StoreRequest:
    """One extracted article of one feed entry, to store."""

    feed: str
    entry_key: str
    entry_url: str | None  # normalised
    article: Article
    signature: TextSignature | None
    page: ArchivedPage | None = None  # the page as fetched, for the archive
    entry: ArchivedEntry | None = None  # what the feed entry told extraction


@dataclass(frozen=True)
class Storage:
    """Where and how articles are stored, for one writer."""

    index: CorpusIndex
    corpus_dir: Path
    writer: str
    near_duplicates: bool
    near_duplicate_threshold: float
    store_near_duplicates: bool
    archive: ArchiveWriter | None = None  # None: the archive is off
    extractor_version: str = ""

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
    run_id: int | None = None  # recorded with each entry it settles


# What storing one request came to: stored, duplicate or near duplicate, or the exception (an
# IngestFailure of that article, or a DatabaseError) to raise for it.
StoreResult = EntryOutcome | Exception


class _Decision(StrEnum):
    STORE = "store"
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    ALONE = "alone"  # another process is writing the same article: settled on its own


@dataclass(frozen=True)
class _Verdict:
    """What the batch decided for one request before anything is written."""

    decision: _Decision
    sequence: int | None = None  # the earlier article, for a duplicate
    of_batch: int | None = None  # or the position of the earlier article in this batch


def store_batch(storage: Storage, requests: list[StoreRequest]) -> list[StoreResult]:
    """Store each request; results in the requests' order."""
    try:
        return _store_together(storage, requests)
    except _ReservationConflict:
        pass
    except Exception as exc:
        if len(requests) == 1:
            return [exc]
        log.warning("store batch failed: storing its articles one by one", extra={
            "event": "store_batch_failed", "articles": len(requests),
            "error": f"{type(exc).__name__}: {exc}"[:300]})
    return [store_alone(storage, request) for request in requests]


class _ReservationConflict(Exception):
    pass


def _store_together(storage: Storage, requests: list[StoreRequest]) -> list[StoreResult]:
    index = storage.index
    lookup = index.store_lookup(
        [request.article.content_hash for request in requests],
        [band for request in requests if request.signature is not None
         for band in request.signature.bands] if storage.near_duplicates else [])
    verdicts = _verdicts(storage, requests, lookup)
    accepted = [i for i, verdict in enumerate(verdicts) if verdict.decision is _Decision.STORE]
    try:
        reserved = index.reserve_articles([_new_article(storage, requests[i]) for i in accepted],
                                          storage.writer, corpus_file_name)
    except IntegrityError as exc:
        raise _ReservationConflict from exc
    try:
        results, recorded = _write_and_complete(storage, requests, verdicts, accepted, reserved)
    except Exception:
        _undo_reservations(storage, reserved)
        raise
    for request, record in recorded:
        _log_outcome(request, record.status, record.sequence)
    for i, verdict in enumerate(verdicts):
        if verdict.decision is _Decision.ALONE:
            results[i] = store_alone(storage, requests[i])
    return [results[i] for i in range(len(requests))]


def _undo_reservations(storage: Storage, reserved: list[tuple[int, str]]) -> None:
    """Give up a failed batch's reservations, so its articles can be stored one by one."""
    for sequence, file_name in reserved:
        (storage.corpus_dir / file_name).unlink(missing_ok=True)
        try:
            storage.index.forget_article(sequence)
        except DatabaseError:  # recovery removes the row at the next run (storage/recovery.py)
            log.warning("reservation left to recovery", extra={
                "event": "reservation_not_undone", "sequence": sequence})


def _write_and_complete(storage: Storage, requests: list[StoreRequest],
                        verdicts: list[_Verdict], accepted: list[int],
                        reserved: list[tuple[int, str]],
                        ) -> tuple[dict[int, StoreResult], list[tuple[StoreRequest, EntryRecord]]]:
    """Write the reserved files and record every outcome but the ALONE ones, in one
    transaction: the results by position, and what was recorded (to log)."""
    index = storage.index
    sequences: dict[int, int] = {}
    results: dict[int, StoreResult] = {}
    unwritten: list[int] = []
    for i, (sequence, file_name) in zip(accepted, reserved, strict=True):
        failure = _write(storage, sequence, file_name, requests[i].article,
                         sync_directory=False)
        if failure is not None:
            results[i] = failure
            unwritten.append(sequence)
        else:
            sequences[i] = sequence
    if unwritten:
        index.give_back_sequences(unwritten)
    archived = _archive(storage, requests, sequences, results)
    if sequences:
        sync_corpus_directory(storage.corpus_dir)
    records: list[EntryRecord] = []
    recorded: list[StoreRequest] = []
    for i, (request, verdict) in enumerate(zip(requests, verdicts, strict=True)):
        if i in results or verdict.decision is _Decision.ALONE:
            continue
        if verdict.decision is _Decision.STORE:
            sequence: int | None = sequences[i]
            outcome = EntryOutcome.STORED
        else:
            sequence = verdict.sequence
            if verdict.of_batch is not None:
                sequence = sequences.get(verdict.of_batch)
                if sequence is None:  # the earlier one's file failed: try again later
                    results[i] = IngestFailure(FailureKind.STORAGE_ERROR,
                                               "the same article could not be written")
                    continue
            outcome = EntryOutcome(verdict.decision.value)
        results[i] = outcome
        records.append(EntryRecord(request.feed, request.entry_key, request.entry_url,
                                   outcome, sequence, storage.run_id))
        recorded.append(request)
    index.complete_articles([(sequences[i], requests[i].feed) for i in sorted(sequences)],
                            records, archived, [_search_text(sequences[i], requests[i].article)
                                                for i in sorted(sequences)])
    return results, list(zip(recorded, records, strict=True))


def _verdicts(storage: Storage, requests: list[StoreRequest],
              lookup: StoreLookup) -> list[_Verdict]:
    """Decide each request in order, against the index and the batch's earlier requests."""
    verdicts: list[_Verdict] = []
    batch_hashes: dict[str, int] = {}
    batch_bands: dict[str, dict[int, bytes]] = {}  # band -> {position: signature values}
    for position, request in enumerate(requests):
        content_hash = request.article.content_hash
        holder = lookup.holders.get(content_hash)
        if content_hash in batch_hashes:
            verdicts.append(_Verdict(_Decision.DUPLICATE, of_batch=batch_hashes[content_hash]))
            continue
        if holder is not None:
            if holder.state == ArticleState.STORED or holder.writer == storage.writer:
                verdicts.append(_Verdict(_Decision.DUPLICATE, sequence=holder.sequence))
            else:
                # Another process is writing it: wait for that one alone, outside the batch.
                verdicts.append(_Verdict(_Decision.ALONE))
            continue
        near = _near_duplicate(storage, request, lookup, batch_bands)
        if near is not None and not storage.store_near_duplicates:
            verdicts.append(near)
            continue
        verdicts.append(_Verdict(_Decision.STORE))
        batch_hashes[content_hash] = position
        if request.signature is not None:
            for band in request.signature.bands:
                batch_bands.setdefault(band, {})[position] = request.signature.values
    return verdicts


def _near_duplicate(storage: Storage, request: StoreRequest, lookup: StoreLookup,
                    batch_bands: dict[str, dict[int, bytes]]) -> _Verdict | None:
    signature = request.signature
    if signature is None or not storage.near_duplicates:
        return None
    from ingest.dedupe.near_duplicates import best_near_duplicate

    stored: dict[int, bytes] = {}
    earlier: dict[int, bytes] = {}
    for band in signature.bands:
        stored.update(lookup.banded.get(band, {}))
        earlier.update(batch_bands.get(band, {}))
    threshold = storage.near_duplicate_threshold
    in_index = best_near_duplicate(signature, stored, threshold)
    in_batch = best_near_duplicate(signature, earlier, threshold)
    if in_batch is not None and (in_index is None or in_batch[1] > in_index[1]):
        return _Verdict(_Decision.NEAR_DUPLICATE, of_batch=in_batch[0])
    if in_index is not None:
        return _Verdict(_Decision.NEAR_DUPLICATE, sequence=in_index[0])
    return None


def _new_article(storage: Storage, request: StoreRequest) -> NewArticle:
    article, signature = request.article, request.signature
    return NewArticle(content_hash=article.content_hash, url=article.url, feed=request.feed,
                      title=article.title, published=article.published,
                      signature=signature.values if signature else None,
                      bands=signature.bands if signature else (),
                      signals=_signals(storage, article), language=article.language)


def _signals(storage: Storage, article: Article) -> ArticleSignals:
    return ArticleSignals(text_length=len(article.text),
                          paragraphs=article.text.count("\n\n") + 1,
                          method=article.method.value, summary_found=article.summary_found,
                          extractor_version=storage.extractor_version)


def _archive(storage: Storage, requests: list[StoreRequest], sequences: dict[int, int],
             results: dict[int, StoreResult]) -> dict[int, ArchivedAt]:
    """Archive the written articles' pages, synced, before any is marked stored. When the
    archive cannot be written, those articles are given up (files and reservations) and
    retried later: an article is stored with its page or not at all."""
    if storage.archive is None:
        return {}
    positions = [i for i in sorted(sequences) if requests[i].page is not None]
    if not positions:
        return {}
    items = [_archive_item(storage, requests[i], sequences[i]) for i in positions]
    try:
        locations = storage.archive.append(items)
    except OSError as exc:
        for i in positions:
            sequence = sequences.pop(i)
            (storage.corpus_dir / corpus_file_name(sequence, requests[i].article.content_hash)
             ).unlink(missing_ok=True)
            storage.index.forget_article(sequence)
            results[i] = IngestFailure(FailureKind.STORAGE_ERROR,
                                       f"the page archive could not be written: {exc}")
        return {}
    return {item.sequence: (location.file_name, location.offset, location.length)
            for item, location in zip(items, locations, strict=True)}


def _archive_item(storage: Storage, request: StoreRequest, sequence: int) -> ArchiveItem:
    assert request.page is not None
    entry = request.entry or ArchivedEntry(feed=request.feed, entry_key=request.entry_key,
                                           title="", summary_html="", content_html="",
                                           published=None)
    return ArchiveItem(page=request.page, entry=entry, sequence=sequence,
                       extractor_version=storage.extractor_version,
                       method=request.article.method.value)


def store_alone(storage: Storage, request: StoreRequest) -> StoreResult:
    """Dedupe, then claim, write and complete one article, each race settled on its own."""
    try:
        return _store_alone(storage, request)
    except Exception as exc:  # handed to the request's waiter, which raises it
        return exc


def _store_alone(storage: Storage, request: StoreRequest) -> EntryOutcome:
    index, article, signature = storage.index, request.article, request.signature
    existing = index.sequence_for_hash(article.content_hash, storage.writer)
    if existing is not None:
        return _settle(storage, request, EntryOutcome.DUPLICATE, existing)
    if signature is not None and storage.near_duplicates:
        from ingest.dedupe.near_duplicates import best_near_duplicate

        near = best_near_duplicate(signature, index.near_duplicate_candidates(signature.bands),
                                   storage.near_duplicate_threshold)
        if near is not None and not storage.store_near_duplicates:
            return _settle(storage, request, EntryOutcome.NEAR_DUPLICATE, near[0])
    try:
        sequence, file_name = index.reserve_article(
            content_hash=article.content_hash, url=article.url, feed=request.feed,
            title=article.title, published=article.published, writer=storage.writer,
            file_name_for=corpus_file_name,
            signature=signature.values if signature else None,
            bands=signature.bands if signature else (), signals=_signals(storage, article),
            language=article.language)
    except DuplicateArticle as duplicate:
        return _settle(storage, request, EntryOutcome.DUPLICATE, duplicate.sequence)
    failure = _write(storage, sequence, file_name, article, sync_directory=True)
    if failure is not None:
        index.give_back_sequences([sequence])
        raise failure
    results: dict[int, StoreResult] = {}
    archived = _archive(storage, [request], {0: sequence}, results)
    failed = results.get(0)
    if isinstance(failed, Exception):
        raise failed
    index.complete_article(sequence, request.feed, request.entry_key, request.entry_url,
                           archived.get(sequence), storage.run_id,
                           _search_text(sequence, article))
    _log_outcome(request, EntryOutcome.STORED, sequence)
    return EntryOutcome.STORED


def _search_text(sequence: int, article: Article) -> SearchText:
    return SearchText(sequence=sequence, title=article.title, text=article.text)


def _write(storage: Storage, sequence: int, file_name: str, article: Article, *,
           sync_directory: bool) -> IngestFailure | None:
    """Write a reserved article's file; on failure its reservation is given up."""
    try:
        write_corpus_file(storage.corpus_dir, file_name, article.published, article.text,
                          storage.writer, sync_directory=sync_directory)
    except OSError as exc:
        storage.index.forget_article(sequence)
        return IngestFailure(FailureKind.STORAGE_ERROR, f"{file_name}: {exc.strerror}")
    return None


def _settle(storage: Storage, request: StoreRequest, outcome: EntryOutcome,
            sequence: int | None) -> EntryOutcome:
    storage.index.record_entry(request.feed, request.entry_key, request.entry_url, outcome,
                               sequence=sequence, run_id=storage.run_id)
    _log_outcome(request, outcome, sequence)
    return outcome


def _log_outcome(request: StoreRequest, outcome: EntryOutcome, sequence: int | None) -> None:
    article = request.article
    if outcome is EntryOutcome.STORED:
        log.info("article stored", extra={
            "event": "article_stored", "feed": request.feed, "url": article.url,
            "file": corpus_file_name(sequence or 0, article.content_hash),
            "published": article.published.isoformat() if article.published else None})
    else:
        log.info(f"article {outcome}", extra={"event": f"article_{outcome}",
                                             "feed": request.feed, "url": article.url,
                                             "of": sequence})
