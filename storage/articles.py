"""Articles' rows: sequence numbers, content hashes, near-duplicate signatures and bands."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ingest.records import ArticleState, EntryOutcome, FailureKind, IngestFailure
from storage.database import DatabaseError, as_utc, in_chunks, one_line, utcnow
from storage.entries import EntryRecord, EntryRows, entry_params
from storage.schema import articles, counters, feeds, signature_bands
from storage.search import SearchText, insert_search_texts

ARTICLE_SEQUENCE = "article_sequence"
# How long to wait for another process to finish writing the same article (it writes one
# small file: milliseconds) before leaving the entry for the next poll.
WAIT_FOR_WRITER_SECONDS = 2.0
# How a reserved article's file is named: (sequence, content hash) -> file name.
FileNameFor = Callable[[int, str], str]
# Where an article's page is archived: (file name, offset, length).
ArchivedAt = tuple[str, int, int]

_ARTICLE_WITH_HASH = select(articles.c.sequence, articles.c.state, articles.c.writer).where(
    articles.c.content_hash == bindparam("p_hash"))
# Stored signatures sharing at least one band with the new article's.
_NEAR_DUPLICATE_CANDIDATES = select(articles.c.sequence, articles.c.signature).where(
    articles.c.sequence.in_(select(signature_bands.c.sequence).where(
        signature_bands.c.band.in_(bindparam("p_bands", expanding=True)))),
    articles.c.signature.is_not(None))
_INSERT_ARTICLE = insert(articles)
_INSERT_BANDS = insert(signature_bands)
_MARK_STORED = update(articles).where(articles.c.sequence == bindparam("p_sequence")).values(
    state=ArticleState.STORED)
_MARK_ARCHIVED = update(articles).where(articles.c.sequence == bindparam("p_sequence")).values(
    archive_file=bindparam("p_file"), archive_offset=bindparam("p_offset"),
    archive_length=bindparam("p_length"))
_COUNT_STORED = update(feeds).where(feeds.c.name == bindparam("p_feed")).values(
    articles_stored=feeds.c.articles_stored + bindparam("p_count"))
_ADVANCE_SEQUENCE = update(counters).where(counters.c.name == ARTICLE_SEQUENCE).values(
    value=counters.c.value + bindparam("p_count")).returning(counters.c.value)
_ARTICLES_WITH_HASHES = select(
    articles.c.content_hash, articles.c.sequence, articles.c.state, articles.c.writer).where(
    articles.c.content_hash.in_(bindparam("p_hashes", expanding=True)))
# Each stored signature with the band it shares, so that every article of a batch is compared
# with exactly the candidates its own bands find (as `near_duplicate_candidates` does).
_BANDED_SIGNATURES = select(
    signature_bands.c.band, articles.c.sequence, articles.c.signature).join(
    articles, articles.c.sequence == signature_bands.c.sequence).where(
    signature_bands.c.band.in_(bindparam("p_bands", expanding=True)),
    articles.c.signature.is_not(None))




class DuplicateArticle(Exception):
    def __init__(self, sequence: int | None) -> None:
        super().__init__(f"already stored as {sequence}")
        self.sequence = sequence


class ArticleBeingWritten(IngestFailure):
    """Another process holds this article's hash but has not finished writing its file.

    A transient storage failure: the entry is retried at the next poll, by when the other
    writer has finished (a duplicate then) or recovery has removed its row (stored then).
    Recording a duplicate of an unfinished row would lose the article if that writer died.
    """

    def __init__(self, sequence: int, writer: str) -> None:
        super().__init__(FailureKind.STORAGE_ERROR,
                         f"the same article is still being written as {sequence} by {writer}")
        self.sequence = sequence





@dataclass(frozen=True)
class ArticleRow:
    sequence: int
    content_hash: str
    url: str
    feed: str
    title: str
    published: date | None
    fetched_at: datetime
    file_name: str
    state: ArticleState
    writer: str
    archive_file: str | None = None
    archive_offset: int | None = None
    archive_length: int | None = None
    extractor_version: str | None = None
    method: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class HashHolder:
    """The article row that holds a content hash."""

    sequence: int
    state: str
    writer: str


@dataclass(frozen=True)
class StoreLookup:
    """What a batch of articles needs to know before storing: who holds their hashes, and the
    stored signatures (by sequence) that share each of their bands."""

    holders: dict[str, HashHolder]
    banded: dict[str, dict[int, bytes]]


@dataclass(frozen=True)
class NewArticle:
    """An article to reserve a sequence number and a "writing" row for."""

    content_hash: str
    url: str
    feed: str
    title: str
    published: date | None
    signature: bytes | None
    bands: tuple[str, ...]
    signals: ArticleSignals | None = None
    language: str | None = None


@dataclass(frozen=True)
class ArticleSignals:
    """What extraction health reads of each article, and what produced its text."""

    text_length: int
    paragraphs: int
    method: str
    summary_found: bool | None
    extractor_version: str

    def columns(self) -> dict[str, Any]:
        return {"text_length": self.text_length, "paragraphs": self.paragraphs,
                "method": self.method, "summary_found": self.summary_found,
                "extractor_version": self.extractor_version}


class ArticleRows(EntryRows):
    def sequence_for_hash(self, content_hash: str, writer: str | None = None) -> int | None:
        """The stored article with this hash, or None.

        A row another writer is still writing is waited for (briefly): a duplicate is only
        ever recorded against an article whose file is in place. Raises ArticleBeingWritten
        when that writer takes too long (it may have died; recovery removes its row).
        """
        deadline = time.monotonic() + WAIT_FOR_WRITER_SECONDS
        while True:
            with self._transaction() as conn:
                row = conn.execute(_ARTICLE_WITH_HASH, {"p_hash": content_hash}).first()
            if row is None:
                return None
            if row.state == ArticleState.STORED or row.writer == writer:
                return row.sequence
            if time.monotonic() >= deadline:
                raise ArticleBeingWritten(row.sequence, row.writer)
            time.sleep(0.05)

    def reserve_article(self, *, content_hash: str, url: str, feed: str, title: str,
                        published: date | None, writer: str, file_name_for: FileNameFor,
                        signature: bytes | None = None,
                        bands: Sequence[str] = (),
                        signals: ArticleSignals | None = None,
                        language: str | None = None) -> tuple[int, str]:
        """Take the next sequence number and claim the hash (a "writing" row).

        Raises DuplicateArticle when the hash is already claimed: the unique constraint
        settles a race between two processes storing the same article. The counter row's
        lock makes a racing reservation wait until the first one commits; its number is
        rolled back with it, so sequence numbers have no gaps from races.
        """
        article = NewArticle(content_hash=content_hash, url=url, feed=feed, title=title,
                             published=published, signature=signature, bands=tuple(bands),
                             signals=signals, language=language)
        for _attempt in range(3):
            try:
                return self.reserve_articles([article], writer, file_name_for)[0]
            except IntegrityError as exc:
                conflict = exc
                existing = self.sequence_for_hash(content_hash, writer)
                if existing is not None:
                    raise DuplicateArticle(existing) from exc
                # The other row was removed before it was stored (its writer failed): the
                # article is ours to store after all.
        raise DatabaseError(f"cannot reserve a sequence number: {one_line(conflict)}") \
            from conflict

    def complete_article(self, sequence: int, feed: str, entry_key: str,
                         entry_url: str | None,
                         archived: ArchivedAt | None = None, run_id: int | None = None,
                         search: SearchText | None = None) -> None:
        """Mark the file written and the entry done, in one transaction."""
        record = EntryRecord(feed, entry_key, entry_url, EntryOutcome.STORED, sequence, run_id)
        self.complete_articles([(sequence, feed)], [record],
                               {sequence: archived} if archived else None,
                               [search] if search else ())

    # ---- articles, a batch at a time: one transaction per step, whatever the batch size ---

    def store_lookup(self, hashes: Sequence[str], bands: Sequence[str]) -> StoreLookup:
        """Who holds these hashes, and the signatures sharing these bands, in one read."""
        holders: dict[str, HashHolder] = {}
        banded: dict[str, dict[int, bytes]] = {}
        unique_hashes, unique_bands = sorted(set(hashes)), sorted(set(bands))
        # Bands before hashes: on PostgreSQL (read committed) each statement sees what was
        # committed before it, and an article's row and bands commit together. Read the
        # other way, a replica's article committed between the two reads showed its bands
        # but not its hash, and the same text was recorded as a near duplicate.
        with self._transaction() as conn:
            for chunk in in_chunks(unique_bands):
                for row in conn.execute(_BANDED_SIGNATURES, {"p_bands": chunk}):
                    banded.setdefault(row.band, {})[row.sequence] = row.signature
            for chunk in in_chunks(unique_hashes):
                for row in conn.execute(_ARTICLES_WITH_HASHES, {"p_hashes": chunk}):
                    holders[row.content_hash] = HashHolder(row.sequence, row.state, row.writer)
        return StoreLookup(holders=holders, banded=banded)

    def reserve_articles(self, new: Sequence[NewArticle], writer: str,
                         file_name_for: FileNameFor) -> list[tuple[int, str]]:
        """`reserve_article` for several articles in one transaction: consecutive numbers.

        Raises IntegrityError (nothing reserved) when another process claimed one of the
        hashes meanwhile; the caller then reserves them one by one, which settles each race.
        """
        if not new:
            return []
        now = utcnow()
        with self._transaction() as conn:
            last = conn.execute(_ADVANCE_SEQUENCE, {"p_count": len(new)}).scalar_one()
            first = last - len(new) + 1
            reserved = [(first + i, file_name_for(first + i, article.content_hash))
                        for i, article in enumerate(new)]
            conn.execute(_INSERT_ARTICLE, [{
                "sequence": sequence, "content_hash": article.content_hash,
                "url": article.url, "feed": article.feed, "title": article.title[:1000],
                "published": article.published, "fetched_at": now, "file_name": file_name,
                "state": ArticleState.WRITING, "writer": writer, "signature": article.signature,
                **_signal_columns(article.signals), "language": article.language}
                for (sequence, file_name), article in zip(reserved, new, strict=True)])
            band_rows = [{"band": band, "sequence": sequence}
                         for (sequence, _), article in zip(reserved, new, strict=True)
                         for band in article.bands]
            if band_rows:
                conn.execute(_INSERT_BANDS, band_rows)
        return reserved

    def complete_articles(self, stored: Sequence[tuple[int, str]],
                          records: Sequence[EntryRecord],
                          archived: Mapping[int, ArchivedAt] | None = None,
                          search: Sequence[SearchText] = ()) -> None:
        """Mark files written (sequence, feed), with where their pages are archived, make
        them searchable and record entries' outcomes, in one transaction."""
        if not stored and not records:
            return
        now = utcnow()
        per_feed: dict[str, int] = {}
        for _, feed in stored:
            per_feed[feed] = per_feed.get(feed, 0) + 1
        with self._transaction() as conn:
            if stored:
                conn.execute(_MARK_STORED, [{"p_sequence": sequence} for sequence, _ in stored])
                if archived:
                    conn.execute(_MARK_ARCHIVED, [
                        {"p_sequence": sequence, "p_file": at[0], "p_offset": at[1],
                         "p_length": at[2]} for sequence, at in archived.items()])
                conn.execute(_COUNT_STORED, [{"p_feed": feed, "p_count": count}
                                             for feed, count in per_feed.items()])
                insert_search_texts(conn, self.dialect, search)
            if records:
                conn.execute(self._record_entry,
                             [entry_params(record, None, now) for record in records])

    def forget_article(self, sequence: int) -> None:
        with self._transaction() as conn:
            conn.execute(delete(signature_bands).where(signature_bands.c.sequence == sequence))
            conn.execute(delete(articles).where(articles.c.sequence == sequence))

    def give_back_sequences(self, sequences: Sequence[int]) -> int:
        """Return the numbers of reservations whose file could not be written, from the last
        one down, as long as no one took a later number meanwhile: a failed write does not
        leave a gap. Returns how many were given back."""
        given = 0
        with self._transaction() as conn:
            for sequence in sorted(set(sequences), reverse=True):
                taken_back = conn.execute(
                    update(counters).where(and_(counters.c.name == ARTICLE_SEQUENCE,
                                                counters.c.value == sequence))
                    .values(value=sequence - 1)).rowcount
                if not taken_back:
                    break
                given += 1
        return given

    def writing_articles(self) -> list[ArticleRow]:
        with self._transaction() as conn:
            rows = conn.execute(select(articles).where(articles.c.state == ArticleState.WRITING))
            return [article_row(row) for row in rows]

    def iter_articles(self) -> Iterator[ArticleRow]:
        with self._transaction() as conn:
            for row in conn.execute(select(articles).order_by(articles.c.sequence)):
                yield article_row(row)

    def article(self, sequence: int) -> ArticleRow | None:
        with self._transaction() as conn:
            row = conn.execute(select(articles).where(articles.c.sequence == sequence)).first()
            return None if row is None else article_row(row)

    def recent_articles(self, limit: int) -> list[ArticleRow]:
        with self._transaction() as conn:
            rows = conn.execute(select(articles).where(articles.c.state == ArticleState.STORED)
                                .order_by(articles.c.sequence.desc()).limit(limit))
            return [article_row(row) for row in rows]

    def article_count(self) -> int:
        with self._transaction() as conn:
            return conn.execute(select(func.count()).select_from(articles)
                                .where(articles.c.state == ArticleState.STORED)).scalar_one()

    def articles_per_day(self, days: int) -> list[tuple[str, int]]:
        since = utcnow() - timedelta(days=days)
        with self._transaction() as conn:
            rows = conn.execute(select(articles.c.fetched_at).where(and_(
                articles.c.state == ArticleState.STORED, articles.c.fetched_at >= since)))
            counts: dict[str, int] = {}
            for row in rows:
                day = (as_utc(row.fetched_at) or since).date().isoformat()
                counts[day] = counts.get(day, 0) + 1
        return sorted(counts.items())

    def near_duplicate_candidates(self, bands: Sequence[str]) -> dict[int, bytes]:
        """Signatures of the articles sharing at least one band with `bands`, by sequence."""
        if not bands:
            return {}
        with self._transaction() as conn:
            rows = conn.execute(_NEAR_DUPLICATE_CANDIDATES, {"p_bands": list(bands)})
            return {row.sequence: row.signature for row in rows}


_NO_SIGNALS = {"text_length": None, "paragraphs": None, "method": None,
               "summary_found": None, "extractor_version": None}


def _signal_columns(signals: ArticleSignals | None) -> dict[str, Any]:
    # Every row of one executemany names the same columns.
    return _NO_SIGNALS if signals is None else signals.columns()


def article_row(row: Any) -> ArticleRow:
    return ArticleRow(sequence=row.sequence, content_hash=row.content_hash, url=row.url,
                      feed=row.feed, title=row.title, published=row.published,
                      fetched_at=as_utc(row.fetched_at) or utcnow(), file_name=row.file_name,
                      state=ArticleState(row.state), writer=row.writer,
                      archive_file=row.archive_file, archive_offset=row.archive_offset,
                      archive_length=row.archive_length,
                      extractor_version=row.extractor_version, method=row.method,
                      language=row.language)
