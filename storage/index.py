"""The SQL index: articles, feeds' poll state and leases, entries seen, runs and failures.

All database I/O of source-ingest goes through `CorpusIndex`. Every write is a short
transaction; concurrent processes (a manual fetch beside the service, or replicas on one
PostgreSQL) coordinate through conditional updates and unique constraints, never through
in-process state.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter

from config.settings import FeedSettings, ScheduleSettings
from ingest.records import FailureKind, IngestFailure
from storage.migrate import SchemaError, upgrade_schema
from storage.schema import articles, counters, entries, failures, feeds, runs, signature_bands

ARTICLE_SEQUENCE = "article_sequence"
# How long to wait for another process to finish writing the same article (it writes one
# small file: milliseconds) before leaving the entry for the next poll.
WAIT_FOR_WRITER_SECONDS = 2.0
# Most feeds one scheduled claim takes (the fetcher's default concurrency: a run gains
# nothing from holding more). Without a cap the first replica to check after a start, or
# after a quiet spell, leases every due feed and the others stand idle.
SCHEDULED_CLAIM_BATCH = 16
# Most values in one IN (...) list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500
# How a reserved article's file is named: (sequence, content hash) -> file name.
FileNameFor = Callable[[int, str], str]
TERMINAL_ENTRY_STATES = ("stored", "duplicate", "near_duplicate", "filtered", "failed")


def _in_chunks(values: Sequence[str]) -> Iterator[list[str]]:
    """`values` in lists short enough for one IN (...) each."""
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start:start + _IN_CHUNK])


# ---- statements run for every feed polled or article stored, built once ----------------
# Building a statement (and its cache key) cost more than running it on SQLite: about
# 0.15 ms of CPU each, up to ten per article (bench/throughput.py, profiled). Built once with
# bound parameters (`p_*`), only the parameters change from one execution to the next.

def _release_if_held_by(owner: str | BindParameter[str]) -> dict[str, Any]:
    """SET values that end `owner`'s lease, and leave one another process took over alone.

    A process whose lease ran out (a long stall) may finish after another took the feed;
    clearing that other lease would let a third process poll the feed at the same time.
    """
    held = feeds.c.lease_owner == owner
    return {"lease_owner": case((held, None), else_=feeds.c.lease_owner),
            "lease_until": case((held, None), else_=feeds.c.lease_until)}


_POLL_SUCCESS = update(feeds).where(feeds.c.name == bindparam("p_feed")).values(
    last_poll_at=bindparam("p_now"), last_success_at=bindparam("p_now"),
    next_poll_at=bindparam("p_next_poll"), consecutive_failures=0, last_error=None,
    last_error_kind=None, etag=bindparam("p_etag"), last_modified=bindparam("p_last_modified"),
    **_release_if_held_by(bindparam("p_owner")))
_ENTRY_STATES = select(entries.c.entry_key, entries.c.status, entries.c.attempts).where(
    entries.c.feed == bindparam("p_feed"),
    entries.c.entry_key.in_(bindparam("p_keys", expanding=True)))
_STORED_FROM_URLS = select(entries.c.url, entries.c.article_sequence).where(
    entries.c.url.in_(bindparam("p_urls", expanding=True)), entries.c.status == "stored")
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
    state="stored")
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


def _entry_upsert(dialect_insert: Any) -> Any:
    """Record an entry's outcome, counting attempts, in one statement (both dialects spell
    INSERT ... ON CONFLICT DO UPDATE alike)."""
    statement = dialect_insert(entries).values(
        feed=bindparam("p_feed"), entry_key=bindparam("p_key"), url=bindparam("p_url"),
        status=bindparam("p_status"), attempts=1, failure_kind=bindparam("p_failure_kind"),
        article_sequence=bindparam("p_sequence"), updated_at=bindparam("p_now"))
    return statement.on_conflict_do_update(
        index_elements=[entries.c.feed, entries.c.entry_key],
        set_={"url": statement.excluded.url, "status": statement.excluded.status,
              "attempts": entries.c.attempts + 1,
              "failure_kind": statement.excluded.failure_kind,
              "article_sequence": statement.excluded.article_sequence,
              "updated_at": statement.excluded.updated_at})


def _record_entry_statement(dialect: str) -> Any:
    # The dialect's module is imported when an index opens: the PostgreSQL one (and its
    # drivers' modules) cost 45 ms of every SQLite command's start.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return _entry_upsert(postgresql.insert)
    from sqlalchemy.dialects import sqlite

    return _entry_upsert(sqlite.insert)


class DatabaseError(Exception):
    """The index database cannot be reached or used."""


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
class FeedState:
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime
    consecutive_failures: int
    last_error_kind: str | None
    last_error: str | None
    suspended: bool
    articles_stored: int


@dataclass(frozen=True)
class PollSuccess:
    """A feed polled without failure: when, when it is due again, the validators to send."""

    feed: str
    polled_at: datetime
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None


def poll_success(feed: FeedSettings, now: datetime, schedule: ScheduleSettings,
                 etag: str | None, last_modified: str | None,
                 rng: random.Random) -> PollSuccess:
    """The poll to record: next due after the feed's interval plus up to the jitter."""
    next_poll = now + timedelta(seconds=feed.interval_seconds
                                + rng.uniform(0, schedule.jitter_seconds))
    return PollSuccess(feed=feed.name, polled_at=now, next_poll_at=next_poll, etag=etag,
                       last_modified=last_modified)


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
    state: str
    writer: str


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


@dataclass(frozen=True)
class EntryRecord:
    """An entry's outcome, to record."""

    feed: str
    key: str
    url: str | None
    status: str
    sequence: int | None = None


@dataclass(frozen=True)
class RunCounts:
    feeds_polled: int = 0
    entries_seen: int = 0
    articles_stored: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    filtered: int = 0
    failures: int = 0


@dataclass(frozen=True)
class RunRow:
    id: int
    trigger: str
    owner: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    state: str
    counts: RunCounts
    failures_by_kind: dict[str, int]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def redact_database_url(url: str) -> str:
    """The URL with any password replaced, safe to log or show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://***"


def open_index(database_url: str) -> CorpusIndex:
    """Connect, apply pending schema migrations (under a lock), and return the index."""
    try:
        engine = _create_engine(database_url)
        upgrade_schema(engine)
        with engine.begin() as conn:
            exists = conn.execute(
                select(counters.c.value).where(counters.c.name == ARTICLE_SEQUENCE)
            ).first()
            if exists is None:
                # Another process may create it first; the savepoint keeps this transaction
                # usable on PostgreSQL after the unique violation.
                with contextlib.suppress(IntegrityError), conn.begin_nested():
                    conn.execute(insert(counters).values(name=ARTICLE_SEQUENCE, value=-1))
    except SchemaError as exc:
        raise DatabaseError(f"database {redact_database_url(database_url)}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot open database {redact_database_url(database_url)}: "
            f"{_one_line(exc)}"
        ) from exc
    return CorpusIndex(engine)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _create_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `status` read while a run writes; the busy timeout lets a manual fetch and
    # the service share the file instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


class CorpusIndex:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._record_entry = _record_entry_statement(engine.dialect.name)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise DatabaseError(f"database error: {_one_line(exc)}") from exc

    def ping(self) -> None:
        with self._transaction() as conn:
            conn.execute(select(1))

    # ---- feeds -------------------------------------------------------------------------

    def sync_feeds(self, configured: Sequence[FeedSettings], now: datetime) -> None:
        """Add configured feeds; a changed configuration resumes a suspended feed."""
        with self._transaction() as conn:
            existing = {row.name: row for row in conn.execute(select(feeds))}
            for feed in configured:
                row = existing.get(feed.name)
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(feeds).values(
                                name=feed.name, url=feed.url,
                                config_fingerprint=feed.config_fingerprint, next_poll_at=now,
                                consecutive_failures=0, suspended=False, articles_stored=0))
                    except IntegrityError:
                        pass  # another process added it
                elif row.config_fingerprint != feed.config_fingerprint:
                    conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                        url=feed.url, config_fingerprint=feed.config_fingerprint,
                        suspended=False, consecutive_failures=0, next_poll_at=now,
                        etag=None if row.url != feed.url else row.etag,
                        last_modified=None if row.url != feed.url else row.last_modified))

    def claim_feeds(self, owner: str, now: datetime, lease_seconds: float,
                    names: Sequence[str] | None = None, due_only: bool = True,
                    limit: int | None = None) -> list[FeedState]:
        """Take a lease on feeds no one else holds: due ones, or the named ones now.

        The conditional UPDATE is the claim, so two processes never both win a feed; on
        PostgreSQL the SELECT also skips rows another transaction has locked. `limit` caps
        the batch (the most overdue first), leaving the rest to other replicas; a scheduled
        claim (`due_only`) takes SCHEDULED_CLAIM_BATCH unless told otherwise.
        """
        if limit is None and due_only:
            limit = SCHEDULED_CLAIM_BATCH
        until = now + timedelta(seconds=lease_seconds)
        free = or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now,
                   feeds.c.lease_owner == owner)
        conditions = [free, feeds.c.suspended.is_(False)]
        if names is not None:
            conditions.append(feeds.c.name.in_(list(names)))
        if due_only:
            conditions.append(feeds.c.next_poll_at <= now)
        won: dict[str, FeedState] = {}
        with self._transaction() as conn:
            query = select(feeds.c.name).where(and_(*conditions)).order_by(feeds.c.next_poll_at)
            if limit is not None:
                query = query.limit(limit)
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidates = [row.name for row in conn.execute(query)]
            # One conditional UPDATE per chunk, not per feed: a manual fetch of 1,000 feeds
            # made 2,000 statements of it (bench/throughput.py not-modified).
            for chunk in _in_chunks(candidates):
                rows = conn.execute(
                    update(feeds).where(and_(feeds.c.name.in_(chunk),
                                             free))
                    .values(lease_owner=owner, lease_until=until).returning(*feeds.c))
                won.update((row.name, _feed_state(row)) for row in rows)
        return [won[name] for name in candidates if name in won]

    def renew_leases(self, owner: str, names: Iterable[str], until: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(update(feeds).where(and_(feeds.c.lease_owner == owner,
                                                  feeds.c.name.in_(list(names))))
                         .values(lease_until=until))

    def release_feed(self, name: str, owner: str) -> None:
        with self._transaction() as conn:
            conn.execute(update(feeds).where(and_(feeds.c.name == name,
                                                  feeds.c.lease_owner == owner))
                         .values(lease_owner=None, lease_until=None))

    def lease_owners(self) -> set[str]:
        """Every writer named as a feed's lease owner (expired leases included)."""
        with self._transaction() as conn:
            return {row.lease_owner for row in conn.execute(
                select(feeds.c.lease_owner).where(feeds.c.lease_owner.is_not(None)).distinct())}

    def release_leases_of(self, owner: str) -> int:
        """Release every lease of `owner`, a writer known to be dead; returns how many."""
        with self._transaction() as conn:
            return conn.execute(update(feeds).where(feeds.c.lease_owner == owner)
                                .values(lease_owner=None, lease_until=None)).rowcount

    def record_poll_success(self, feed: FeedSettings, owner: str, now: datetime,
                            schedule: ScheduleSettings, etag: str | None,
                            last_modified: str | None, rng: random.Random) -> None:
        self.record_poll_successes(
            [poll_success(feed, now, schedule, etag, last_modified, rng)], owner)

    def record_poll_successes(self, polls: Sequence[PollSuccess], owner: str) -> None:
        """Record feeds polled without failure, in one transaction: a poll of 1,000 feeds
        that all answer 304 spent a tenth of its CPU time opening and committing one
        transaction per feed (bench/throughput.py not-modified)."""
        if not polls:
            return
        with self._transaction() as conn:
            conn.execute(_POLL_SUCCESS, [{
                "p_feed": poll.feed, "p_now": poll.polled_at, "p_next_poll": poll.next_poll_at,
                "p_etag": poll.etag, "p_last_modified": poll.last_modified, "p_owner": owner,
            } for poll in polls])

    def record_poll_failure(self, feed: FeedSettings, owner: str, now: datetime,
                            schedule: ScheduleSettings, kind: str, detail: str,
                            rng: random.Random) -> FeedState:
        """Count the failure, back off (doubling up to the cap), suspend after N in a row."""
        with self._transaction() as conn:
            current = conn.execute(select(feeds.c.consecutive_failures)
                                   .where(feeds.c.name == feed.name)).scalar_one()
            failures_in_row = current + 1
            delay = min(feed.interval_seconds * (2 ** min(failures_in_row, 30)),
                        schedule.max_backoff_seconds)
            delay = max(delay, min(feed.interval_seconds, schedule.max_backoff_seconds))
            conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                last_poll_at=now, consecutive_failures=failures_in_row,
                next_poll_at=now + timedelta(
                    seconds=delay + rng.uniform(0, schedule.jitter_seconds)),
                last_error_kind=kind, last_error=detail[:500],
                suspended=failures_in_row >= schedule.suspend_after_failures,
                **_release_if_held_by(owner)))
            return _feed_state(conn.execute(select(feeds).where(feeds.c.name == feed.name))
                               .one())

    def resume_feed(self, name: str, now: datetime) -> bool:
        with self._transaction() as conn:
            return bool(conn.execute(update(feeds).where(feeds.c.name == name).values(
                suspended=False, consecutive_failures=0, next_poll_at=now)).rowcount)

    def feed_states(self) -> list[FeedState]:
        with self._transaction() as conn:
            return [_feed_state(row) for row in conn.execute(select(feeds)
                                                              .order_by(feeds.c.name))]

    # ---- entries -----------------------------------------------------------------------

    def settled_entry_keys(self, feed: str, keys: Sequence[str], max_attempts: int) -> set[str]:
        """Keys of this feed's entries that need no more work (done, or out of attempts)."""
        settled: set[str] = set()
        if not keys:
            return settled  # a feed that answered 304: no transaction at all
        with self._transaction() as conn:
            for chunk in _in_chunks(keys):
                rows = conn.execute(_ENTRY_STATES, {"p_feed": feed, "p_keys": chunk})
                settled.update(row.entry_key for row in rows
                               if row.status in TERMINAL_ENTRY_STATES
                               or row.attempts >= max_attempts)
        return settled

    def stored_sequences_for_urls(self, urls: Sequence[str]) -> dict[str, int]:
        """The articles already stored from these (normalised) URLs through any feed."""
        found: dict[str, int] = {}
        unique = sorted(set(urls))
        if not unique:
            return found
        with self._transaction() as conn:
            for chunk in _in_chunks(unique):
                for row in conn.execute(_STORED_FROM_URLS, {"p_urls": chunk}):
                    found.setdefault(row.url, row.article_sequence)
        return found

    def record_entry(self, feed: str, key: str, url: str | None, status: str,
                     failure_kind: str | None = None, sequence: int | None = None,
                     now: datetime | None = None) -> None:
        with self._transaction() as conn:
            conn.execute(self._record_entry, _entry_params(
                EntryRecord(feed, key, url, status, sequence), failure_kind, now or utcnow()))

    # ---- articles ----------------------------------------------------------------------

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
            if row.state == "stored" or row.writer == writer:
                return row.sequence
            if time.monotonic() >= deadline:
                raise ArticleBeingWritten(row.sequence, row.writer)
            time.sleep(0.05)

    def reserve_article(self, *, content_hash: str, url: str, feed: str, title: str,
                        published: date | None, writer: str, file_name_for: FileNameFor,
                        signature: bytes | None = None,
                        bands: Sequence[str] = ()) -> tuple[int, str]:
        """Take the next sequence number and claim the hash (a "writing" row).

        Raises DuplicateArticle when the hash is already claimed: the unique constraint
        settles a race between two processes storing the same article. The counter row's
        lock makes a racing reservation wait until the first one commits; its number is
        rolled back with it, so sequence numbers have no gaps from races.
        """
        article = NewArticle(content_hash=content_hash, url=url, feed=feed, title=title,
                             published=published, signature=signature, bands=tuple(bands))
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
        raise DatabaseError(f"cannot reserve a sequence number: {_one_line(conflict)}") \
            from conflict

    def complete_article(self, sequence: int, feed: str, entry_key: str,
                         entry_url: str | None) -> None:
        """Mark the file written and the entry done, in one transaction."""
        self.complete_articles([(sequence, feed)],
                               [EntryRecord(feed, entry_key, entry_url, "stored", sequence)])

    # ---- articles, a batch at a time: one transaction per step, whatever the batch size ---

    def store_lookup(self, hashes: Sequence[str], bands: Sequence[str]) -> StoreLookup:
        """Who holds these hashes, and the signatures sharing these bands, in one read."""
        holders: dict[str, HashHolder] = {}
        banded: dict[str, dict[int, bytes]] = {}
        unique_hashes, unique_bands = sorted(set(hashes)), sorted(set(bands))
        with self._transaction() as conn:
            for chunk in _in_chunks(unique_hashes):
                for row in conn.execute(_ARTICLES_WITH_HASHES, {"p_hashes": chunk}):
                    holders[row.content_hash] = HashHolder(row.sequence, row.state, row.writer)
            for chunk in _in_chunks(unique_bands):
                for row in conn.execute(_BANDED_SIGNATURES, {"p_bands": chunk}):
                    banded.setdefault(row.band, {})[row.sequence] = row.signature
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
                "state": "writing", "writer": writer, "signature": article.signature}
                for (sequence, file_name), article in zip(reserved, new, strict=True)])
            band_rows = [{"band": band, "sequence": sequence}
                         for (sequence, _), article in zip(reserved, new, strict=True)
                         for band in article.bands]
            if band_rows:
                conn.execute(_INSERT_BANDS, band_rows)
        return reserved

    def complete_articles(self, stored: Sequence[tuple[int, str]],
                          records: Sequence[EntryRecord]) -> None:
        """Mark files written (sequence, feed) and record entries' outcomes, in one
        transaction."""
        if not stored and not records:
            return
        now = utcnow()
        per_feed: dict[str, int] = {}
        for _, feed in stored:
            per_feed[feed] = per_feed.get(feed, 0) + 1
        with self._transaction() as conn:
            if stored:
                conn.execute(_MARK_STORED, [{"p_sequence": sequence} for sequence, _ in stored])
                conn.execute(_COUNT_STORED, [{"p_feed": feed, "p_count": count}
                                             for feed, count in per_feed.items()])
            if records:
                conn.execute(self._record_entry,
                             [_entry_params(record, None, now) for record in records])

    def forget_article(self, sequence: int) -> None:
        with self._transaction() as conn:
            conn.execute(delete(signature_bands).where(signature_bands.c.sequence == sequence))
            conn.execute(delete(articles).where(articles.c.sequence == sequence))

    def writing_articles(self) -> list[ArticleRow]:
        with self._transaction() as conn:
            rows = conn.execute(select(articles).where(articles.c.state == "writing"))
            return [_article_row(row) for row in rows]

    def iter_articles(self) -> Iterator[ArticleRow]:
        with self._transaction() as conn:
            for row in conn.execute(select(articles).order_by(articles.c.sequence)):
                yield _article_row(row)

    def article(self, sequence: int) -> ArticleRow | None:
        with self._transaction() as conn:
            row = conn.execute(select(articles).where(articles.c.sequence == sequence)).first()
            return None if row is None else _article_row(row)

    def recent_articles(self, limit: int) -> list[ArticleRow]:
        with self._transaction() as conn:
            rows = conn.execute(select(articles).where(articles.c.state == "stored")
                                .order_by(articles.c.sequence.desc()).limit(limit))
            return [_article_row(row) for row in rows]

    def article_count(self) -> int:
        with self._transaction() as conn:
            return conn.execute(select(func.count()).select_from(articles)
                                .where(articles.c.state == "stored")).scalar_one()

    def articles_per_day(self, days: int) -> list[tuple[str, int]]:
        since = utcnow() - timedelta(days=days)
        with self._transaction() as conn:
            rows = conn.execute(select(articles.c.fetched_at).where(and_(
                articles.c.state == "stored", articles.c.fetched_at >= since)))
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

    # ---- runs --------------------------------------------------------------------------

    def start_run(self, trigger: str, owner: str, now: datetime) -> int:
        with self._transaction() as conn:
            return conn.execute(insert(runs).values(
                trigger=trigger, owner=owner, started_at=now, state="running",
                feeds_polled=0, entries_seen=0, articles_stored=0, duplicates=0,
                near_duplicates=0, filtered=0, failures=0).returning(runs.c.id)).scalar_one()

    def finish_run(self, run_id: int, counts: RunCounts, state: str, now: datetime) -> None:
        with self._transaction() as conn:
            started = as_utc(conn.execute(select(runs.c.started_at)
                                          .where(runs.c.id == run_id)).scalar_one())
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                finished_at=now, state=state,
                duration_seconds=(now - started).total_seconds() if started else None,
                **counts.__dict__))

    def record_failure(self, run_id: int, feed: str, url: str | None, kind: str,
                       detail: str, now: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(insert(failures).values(run_id=run_id, feed=feed, url=url, kind=kind,
                                                 detail=detail[:500], at=now))

    def mark_abandoned_runs(self, owner_alive: Any, now: datetime) -> None:
        """Runs left "running" by a process that died are shown as interrupted."""
        with self._transaction() as conn:
            for row in conn.execute(select(runs.c.id, runs.c.owner)
                                    .where(runs.c.state == "running")).all():
                if not owner_alive(row.owner):
                    conn.execute(update(runs).where(runs.c.id == row.id)
                                 .values(state="interrupted", finished_at=now))

    def recent_runs(self, limit: int) -> list[RunRow]:
        with self._transaction() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)).all()
            ids = [row.id for row in rows]
            by_kind: dict[int, dict[str, int]] = {run_id: {} for run_id in ids}
            if ids:
                for item in conn.execute(select(failures.c.run_id, failures.c.kind,
                                                func.count().label("n"))
                                         .where(failures.c.run_id.in_(ids))
                                         .group_by(failures.c.run_id, failures.c.kind)):
                    by_kind[item.run_id][item.kind] = item.n
        return [RunRow(
            id=row.id, trigger=row.trigger, owner=row.owner,
            started_at=as_utc(row.started_at) or utcnow(), finished_at=as_utc(row.finished_at),
            duration_seconds=row.duration_seconds, state=row.state,
            counts=RunCounts(feeds_polled=row.feeds_polled, entries_seen=row.entries_seen,
                             articles_stored=row.articles_stored, duplicates=row.duplicates,
                             near_duplicates=row.near_duplicates, filtered=row.filtered,
                             failures=row.failures),
            failures_by_kind=by_kind[row.id]) for row in rows]

    def failure_totals(self) -> dict[str, int]:
        with self._transaction() as conn:
            return {row.kind: row.n for row in conn.execute(
                select(failures.c.kind, func.count().label("n")).group_by(failures.c.kind))}


def _entry_params(record: EntryRecord, failure_kind: str | None,
                  now: datetime) -> dict[str, Any]:
    return {"p_feed": record.feed, "p_key": record.key[:512], "p_url": record.url,
            "p_status": record.status, "p_failure_kind": failure_kind,
            "p_sequence": record.sequence, "p_now": now}


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        name=row.name, url=row.url, etag=row.etag, last_modified=row.last_modified,
        last_poll_at=as_utc(row.last_poll_at), last_success_at=as_utc(row.last_success_at),
        next_poll_at=as_utc(row.next_poll_at) or utcnow(),
        consecutive_failures=row.consecutive_failures, last_error_kind=row.last_error_kind,
        last_error=row.last_error, suspended=bool(row.suspended),
        articles_stored=row.articles_stored)


def _article_row(row: Any) -> ArticleRow:
    return ArticleRow(sequence=row.sequence, content_hash=row.content_hash, url=row.url,
                      feed=row.feed, title=row.title, published=row.published,
                      fetched_at=as_utc(row.fetched_at) or utcnow(), file_name=row.file_name,
                      state=row.state, writer=row.writer)
