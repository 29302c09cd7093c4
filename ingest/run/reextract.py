"""Re-extraction: the current extractor and site rules over archived pages, stored articles
repaired in place.

Each archived article's page is extracted again exactly as the pipeline would (same feed entry
hints, the feed's current `[feeds.extraction]` rules) in worker processes. An article whose
text changed is rewritten atomically under its own sequence number (storage/rewrite.py), its
near-duplicate signature and signals follow, and the rewrite is an event of a run with trigger
`reextract`; a new text that is another article's is recorded and reported, never merged; a
page that now gives no text keeps its old text. Failed entries' archived pages (those that gave
no text when fetched) are tried too: one that gives text now is stored through the normal
store path as a new article and reported as recovered. Safe beside a running service: the service
never changes a stored article, and each rewrite is one guarded transaction.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from config.settings import FeedSettings, Settings
from ingest.extract.version import extractor_version
from ingest.records import EntryOutcome, FeedEntry, IngestFailure, RunState, RunTrigger
from ingest.run.archiving import run_storage
from ingest.run.extraction_health import refresh_extraction_health
from ingest.run.page_work import PageExtraction
from ingest.run.store import Storage, StoreRequest, store_alone
from ingest.run.topic_filter import rejection_reason
from ingest.run.worker_pool import ExtractionPool
from ingest.urls import normalize_url
from storage.archive import ArchiveError, ArchiveLocation, read_archived
from storage.archive_rows import ArchivedArticleRow
from storage.articles import ArticleBeingWritten, ArticleSignals
from storage.corpus import CorpusFormatError, corpus_file_name, read_corpus_file
from storage.database import utcnow
from storage.failed_pages import FailedPageRow
from storage.index import CorpusIndex
from storage.recovery import WriterIdentity
from storage.rewrite import (
    ArticleEvent,
    EventKind,
    NewText,
    RewriteConflict,
    remove_rewritten_leftovers,
    rewrite_article,
)
from storage.runs import RunCounts

log = logging.getLogger("source_ingest.reextract")


class Outcome(StrEnum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # rewritten (or, in a dry run, would be)
    NOW_EMPTY = "now_empty"  # the page gives no text now: the old text stays
    DUPLICATE = "duplicate"  # the new text is another stored article's: reported, not merged
    UNREADABLE = "unreadable"  # the archived records or the corpus file cannot be read
    RECOVERED = "recovered"  # a failed entry's archived page now gives text: stored (or would be)
    STILL_EMPTY = "still_empty"  # a failed entry's archived page still gives no text
    FILTERED = "filtered"  # a failed entry's page gives text now, which the topic filters reject


@dataclass(frozen=True)
class ReextractRequest:
    feeds: tuple[str, ...] = ()  # none: every feed
    since: date | None = None  # only articles fetched on or after this day
    dry_run: bool = False


@dataclass(frozen=True)
class ArticleResult:
    sequence: int
    feed: str
    outcome: Outcome
    old_file: str
    new_file: str | None = None
    similarity: float | None = None  # old text against new, 0..1
    duplicate_of: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ReextractSummary:
    run_id: int | None  # None for a dry run: nothing was recorded
    results: tuple[ArticleResult, ...]
    seconds: float
    leftovers_removed: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    def worst_first(self) -> list[ArticleResult]:
        changed = [result for result in self.results
                   if result.outcome in (Outcome.CHANGED, Outcome.DUPLICATE)]
        return sorted(changed, key=lambda result: (result.similarity or 0.0, result.sequence))


class ReextractObserver(Protocol):
    def started(self, total: int) -> None: ...
    def article_done(self, result: ArticleResult) -> None: ...


class _Silent:
    def started(self, total: int) -> None:
        pass

    def article_done(self, result: ArticleResult) -> None:
        pass


@dataclass
class _Context:
    settings: Settings
    index: CorpusIndex
    writer: WriterIdentity
    request: ReextractRequest
    run_id: int | None
    version: str
    results: list[ArticleResult] = field(default_factory=list)


def similarity(old: str, new: str) -> float:
    """How much of the old text the new one keeps, by words (difflib's ratio)."""
    return difflib.SequenceMatcher(None, old.split(), new.split()).ratio()


async def reextract(settings: Settings, index: CorpusIndex, request: ReextractRequest,
                    writer: WriterIdentity, *,
                    observer: ReextractObserver | None = None) -> ReextractSummary:
    started = time.monotonic()
    observer = observer or _Silent()
    corpus_dir = settings.storage.corpus_dir
    leftovers = 0 if request.dry_run else remove_rewritten_leftovers(index, corpus_dir)
    rows = list(index.iter_archived_articles(request.feeds, request.since))
    failed = index.failed_archived_pages(request.feeds, request.since)
    run_id = None if request.dry_run else index.start_run(RunTrigger.REEXTRACT, writer.tag,
                                                          utcnow())
    context = _Context(settings=settings, index=index, writer=writer, request=request,
                       run_id=run_id, version=extractor_version())
    observer.started(len(rows) + len(failed))
    pool = ExtractionPool(limits=settings.limits)
    state = RunState.INTERRUPTED
    try:
        batch = 4 * pool.size
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            extractions = await asyncio.gather(*(_extract(context, pool, row) for row in chunk))
            for row, extraction in zip(chunk, extractions, strict=True):
                result = _settle(context, row, extraction)
                context.results.append(result)
                observer.article_done(result)
        await _recover_failed(context, pool, failed, observer)
        state = RunState.FINISHED
    finally:
        pool.close()
        if run_id is not None:
            index.finish_run(run_id, _counts(context.results), state, utcnow())
    if not request.dry_run:
        for feed in sorted({result.feed for result in context.results
                            if result.outcome in (Outcome.CHANGED, Outcome.RECOVERED)}):
            refresh_extraction_health(index, feed, settings.extraction_health)
    return ReextractSummary(run_id=run_id, results=tuple(context.results),
                            seconds=time.monotonic() - started, leftovers_removed=leftovers)


def _counts(results: Sequence[ArticleResult]) -> RunCounts:
    """A reextract run in the status log: articles checked (as entries seen), rewritten (as
    stored), new duplicates, and the pages that gave no text or could not be read."""
    by_outcome = {outcome: sum(1 for r in results if r.outcome is outcome)
                  for outcome in Outcome}
    return RunCounts(entries_seen=len(results),
                     articles_stored=by_outcome[Outcome.CHANGED] + by_outcome[Outcome.RECOVERED],
                     duplicates=by_outcome[Outcome.DUPLICATE],
                     failures=by_outcome[Outcome.NOW_EMPTY] + by_outcome[Outcome.UNREADABLE])


def _feed(settings: Settings, name: str) -> FeedSettings:
    try:
        return settings.feed(name)
    except KeyError:  # no longer configured: the extractor without site rules
        return FeedSettings(name=name, url="https://example.invalid/", interval_seconds=900)


async def _extract(context: _Context, pool: ExtractionPool,
                   row: ArchivedArticleRow) -> PageExtraction | str:
    """The page's extraction now, or why its records cannot be read."""
    location = ArchiveLocation(row.archive_file, row.archive_offset, row.archive_length)
    try:
        archived = read_archived(context.settings.storage.archive_path, location)
    except ArchiveError as exc:
        return str(exc)
    if archived.sequence != row.sequence:
        return f"{row.archive_file}@{row.archive_offset} holds article {archived.sequence}"
    entry = archived.entry
    feed_entry = FeedEntry(feed_name=row.feed, key=entry.entry_key, url=archived.page.url,
                           title=entry.title, summary_html=entry.summary_html,
                           content_html=entry.content_html, published=entry.published)
    try:
        extraction: PageExtraction = await pool.extract(
            _feed(context.settings, row.feed), feed_entry, archived.page.body,
            archived.page.charset, archived.page.url, context.settings.dedupe.near_duplicates)
    except IngestFailure as failure:  # the page took longer than the extraction deadline
        return f"{failure.kind.value}: {failure.detail}"
    return extraction


def _settle(context: _Context, row: ArchivedArticleRow,
            extraction: PageExtraction | str) -> ArticleResult:
    base = {"sequence": row.sequence, "feed": row.feed, "old_file": row.file_name}
    if isinstance(extraction, str):
        return ArticleResult(outcome=Outcome.UNREADABLE, detail=extraction, **base)
    if extraction.article is None:
        detail = extraction.failure[1] if extraction.failure else ""
        return ArticleResult(outcome=Outcome.NOW_EMPTY, detail=detail, **base)
    article = extraction.article
    if article.content_hash == row.content_hash:
        return ArticleResult(outcome=Outcome.UNCHANGED, similarity=1.0, **base)
    corpus_dir = context.settings.storage.corpus_dir
    try:
        old_text = read_corpus_file(corpus_dir / row.file_name).text
    except (OSError, CorpusFormatError) as exc:
        return ArticleResult(outcome=Outcome.UNREADABLE, detail=str(exc), **base)
    score = round(similarity(old_text, article.text), 4)
    try:
        holder = context.index.sequence_for_hash(article.content_hash)
    except ArticleBeingWritten as busy:  # the service is storing that very text right now
        holder = busy.sequence
    if holder is not None and holder != row.sequence:
        return _duplicate(context, row, score, holder)
    if context.request.dry_run or context.run_id is None:
        return ArticleResult(outcome=Outcome.CHANGED, similarity=score, **base)
    signature = extraction.signature
    new = NewText(text=article.text, content_hash=article.content_hash,
                  published=article.published,
                  signature=signature.values if signature else None,
                  bands=signature.bands if signature else (),
                  signals=ArticleSignals(
                      text_length=len(article.text), paragraphs=article.text.count("\n\n") + 1,
                      method=article.method.value, summary_found=article.summary_found,
                      extractor_version=context.version))
    event = ArticleEvent(run_id=context.run_id, sequence=row.sequence, feed=row.feed,
                         kind=EventKind.REWRITTEN, old_file=row.file_name,
                         new_file=corpus_file_name(row.sequence, article.content_hash),
                         similarity=score, duplicate_of=None, at=utcnow())
    try:
        new_file = rewrite_article(context.index, corpus_dir, context.writer.tag,
                                   sequence=row.sequence, old_file=row.file_name,
                                   old_hash=row.content_hash, new=new, event=event)
    except RewriteConflict as conflict:
        if conflict.duplicate_of is not None:
            return _duplicate(context, row, score, conflict.duplicate_of)
        return ArticleResult(outcome=Outcome.UNREADABLE, detail=str(conflict), **base)
    log.info("article rewritten", extra={
        "event": "article_rewritten", "feed": row.feed, "sequence": row.sequence,
        "old_file": row.file_name, "file": new_file, "similarity": score})
    return ArticleResult(outcome=Outcome.CHANGED, new_file=new_file, similarity=score, **base)


def _duplicate(context: _Context, row: ArchivedArticleRow, score: float,
               holder: int) -> ArticleResult:
    if context.run_id is not None:
        context.index.record_article_event(ArticleEvent(
            run_id=context.run_id, sequence=row.sequence, feed=row.feed,
            kind=EventKind.DUPLICATE, old_file=row.file_name, new_file=None, similarity=score,
            duplicate_of=holder, at=utcnow()))
        log.warning("re-extracted text duplicates another article", extra={
            "event": "article_now_duplicate", "feed": row.feed, "sequence": row.sequence,
            "of": holder})
    return ArticleResult(sequence=row.sequence, feed=row.feed, outcome=Outcome.DUPLICATE,
                         old_file=row.file_name, similarity=score, duplicate_of=holder)


async def _recover_failed(context: _Context, pool: ExtractionPool, rows: Sequence[FailedPageRow],
                          observer: ReextractObserver) -> None:
    """Failed entries' archived pages through the current extractor: those that give text now
    go through the normal store path (dedupe, a new sequence, corpus file, archive)."""
    storage = None if context.run_id is None else run_storage(
        context.settings, context.index, context.writer.tag, context.run_id)
    try:
        for row in rows:
            result = await _recover_one(context, pool, storage, row)
            context.results.append(result)
            observer.article_done(result)
    finally:
        if storage is not None:
            storage.close()


async def _recover_one(context: _Context, pool: ExtractionPool, storage: Storage | None,
                       row: FailedPageRow) -> ArticleResult:
    base = {"sequence": 0, "feed": row.feed, "old_file": row.url}
    location = ArchiveLocation(row.archive_file, row.archive_offset, row.archive_length)
    try:
        archived = read_archived(context.settings.storage.archive_path, location)
    except ArchiveError as exc:
        return ArticleResult(outcome=Outcome.UNREADABLE, detail=str(exc), **base)
    entry = archived.entry
    feed_entry = FeedEntry(feed_name=row.feed, key=entry.entry_key, url=archived.page.url,
                           title=entry.title, summary_html=entry.summary_html,
                           content_html=entry.content_html, published=entry.published)
    try:
        extraction = await pool.extract(
            _feed(context.settings, row.feed), feed_entry, archived.page.body,
            archived.page.charset, archived.page.url, context.settings.dedupe.near_duplicates)
    except IngestFailure as failure:
        return ArticleResult(outcome=Outcome.STILL_EMPTY, detail=failure.detail, **base)
    if extraction.article is None:
        detail = extraction.failure[1] if extraction.failure else ""
        return ArticleResult(outcome=Outcome.STILL_EMPTY, detail=detail, **base)
    feed = _feed(context.settings, row.feed)
    article = extraction.article
    if rejection_reason((context.settings.filters, feed.filters), article.title, article.text,
                        article.language) is not None:
        if context.run_id is not None:
            context.index.record_entry(row.feed, row.entry_key, row.entry_url,
                                       EntryOutcome.FILTERED, run_id=context.run_id)
        return ArticleResult(outcome=Outcome.FILTERED, **base)
    if storage is None or context.run_id is None:  # a dry run: what would be stored
        return ArticleResult(outcome=Outcome.RECOVERED, detail=extraction.article.title, **base)
    request = StoreRequest(feed=row.feed, entry_key=row.entry_key,
                           entry_url=row.entry_url or normalize_url(archived.page.url),
                           article=extraction.article, signature=extraction.signature,
                           page=archived.page, entry=entry)
    outcome = store_alone(storage, request)
    if isinstance(outcome, Exception):
        return ArticleResult(outcome=Outcome.UNREADABLE, detail=str(outcome), **base)
    sequence = context.index.entry_sequence(row.feed, row.entry_key)
    if outcome is not EntryOutcome.STORED or sequence is None:
        return ArticleResult(outcome=Outcome.DUPLICATE, duplicate_of=sequence,
                             detail=str(outcome), **base)
    new_file = corpus_file_name(sequence, extraction.article.content_hash)
    context.index.record_article_event(ArticleEvent(
        run_id=context.run_id, sequence=sequence, feed=row.feed, kind=EventKind.RECOVERED,
        old_file="", new_file=new_file, similarity=None, duplicate_of=None, at=utcnow()))
    log.info("failed article recovered", extra={
        "event": "article_recovered", "feed": row.feed, "sequence": sequence,
        "url": archived.page.url, "file": new_file})
    return ArticleResult(sequence=sequence, feed=row.feed, outcome=Outcome.RECOVERED,
                         old_file=row.url, new_file=new_file)
