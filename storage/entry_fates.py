"""What became of each feed entry, read back: per-feed article counts for health, and the
entries listing of `source-ingest articles` and `GET /api/entries`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from ingest.records import ArticleState, EntryOutcome
from storage.database import Database, as_utc, in_chunks, utcnow
from storage.schema import articles, entries

# Entry states as listed: the stored outcomes, plus a transient failure split into one still
# retried and one out of attempts ("gave up").
LISTED_STATES = ("stored", "duplicate", "near_duplicate", "filtered", "failed", "retrying",
                 "gave_up")


@dataclass(frozen=True)
class ArticleCounts:
    """A feed's articles in a window: how many were stored and failed, failures by kind."""

    stored: int = 0
    failed: int = 0
    failures_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def dominant_failure(self) -> str | None:
        if not self.failures_by_kind:
            return None
        return max(sorted(self.failures_by_kind), key=self.failures_by_kind.__getitem__)

    @property
    def mostly_failing(self) -> bool:
        return self.failed > 0 and self.failed > self.stored


@dataclass(frozen=True)
class FeedArticleHealth:
    last_run: ArticleCounts
    last_day: ArticleCounts


@dataclass(frozen=True)
class EntryFate:
    feed: str
    url: str | None
    state: str  # one of LISTED_STATES
    failure_kind: str | None
    failure_detail: str | None
    attempts: int
    sequence: int | None
    title: str | None
    file_name: str | None
    updated_at: datetime
    run_id: int | None
    # A stored article's extraction signals: its language, the method that found the text,
    # its length (None for other entries, or before they were recorded).
    language: str | None = None
    method: str | None = None
    text_length: int | None = None


@dataclass(frozen=True)
class EntryQuery:
    feeds: tuple[str, ...] = ()
    state: str | None = None  # one of LISTED_STATES; "failed" also takes retrying and gave_up
    since: datetime | None = None
    sequences: tuple[int, ...] | None = None  # these stored articles (a search's, ranked)
    offset: int = 0
    limit: int = 100


def _fold(rows: Any) -> dict[str, ArticleCounts]:
    stored: dict[str, int] = {}
    kinds: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.status == EntryOutcome.STORED:
            stored[row.feed] = stored.get(row.feed, 0) + row.n
        elif row.failure_kind:
            per_kind = kinds.setdefault(row.feed, {})
            per_kind[row.failure_kind] = per_kind.get(row.failure_kind, 0) + row.n
    return {name: ArticleCounts(stored=stored.get(name, 0),
                                failed=sum(kinds.get(name, {}).values()),
                                failures_by_kind=kinds.get(name, {}))
            for name in set(stored) | set(kinds)}


_COUNTED = (entries.c.feed, entries.c.status, entries.c.failure_kind)
_SETTLED = or_(entries.c.status == EntryOutcome.STORED, entries.c.failure_kind.is_not(None))


class EntryFateRows(Database):
    def feed_article_health(self, now: datetime | None = None,
                            feeds: Sequence[str] | None = None) -> dict[str, FeedArticleHealth]:
        """Each feed's articles stored and failed in its last run and in the last 24 hours;
        only `feeds`' when given (a status page of 100 feeds reads theirs, not 100,000)."""
        since = (now or utcnow()) - timedelta(hours=24)
        chunks: list[list[str] | None] = [None] if feeds is None else list(in_chunks(feeds))
        day: dict[str, ArticleCounts] = {}
        last: dict[str, ArticleCounts] = {}
        with self._transaction() as conn:
            for chunk in chunks:
                among = () if chunk is None else (entries.c.feed.in_(chunk),)
                day.update(_fold(conn.execute(
                    select(*_COUNTED, func.count().label("n"))
                    .where(and_(entries.c.updated_at >= since, _SETTLED, *among))
                    .group_by(*_COUNTED))))
                last.update(_fold(conn.execute(
                    select(*_COUNTED, func.count().label("n"))
                    .select_from(_last_run_entries(*among))
                    .where(_SETTLED).group_by(*_COUNTED))))
        return {name: FeedArticleHealth(last.get(name, ArticleCounts()),
                                        day.get(name, ArticleCounts()))
                for name in set(day) | set(last)}

    def last_run_failures(self) -> dict[str, ArticleCounts]:
        """The feeds with a failed article in their last run, each with its last run's stored
        and failed counts (`failures_by_kind` is not read): all a feed's health needs of its
        articles, for every feed at once, in one pass over their last runs' entries."""
        failed = and_(entries.c.status != EntryOutcome.STORED,
                      entries.c.failure_kind.is_not(None))
        failed_count = func.sum(case((failed, 1), else_=0))
        stored_count = func.sum(case((entries.c.status == EntryOutcome.STORED, 1), else_=0))
        with self._transaction() as conn:
            return {row.feed: ArticleCounts(stored=row.stored, failed=row.failed)
                    for row in conn.execute(
                        select(entries.c.feed, stored_count.label("stored"),
                               failed_count.label("failed"))
                        .select_from(_last_run_entries()).where(_SETTLED)
                        .group_by(entries.c.feed).having(failed_count > 0))}

    def entry_fates(self, query: EntryQuery, max_attempts: int) -> list[EntryFate]:
        """Entries, the most recently settled first, `query.limit` from `query.offset`."""
        if query.sequences is not None:
            return self._found_articles(query)
        conditions: list[Any] = []
        if query.feeds:
            conditions.append(entries.c.feed.in_(list(query.feeds)))
        if query.since is not None:
            conditions.append(entries.c.updated_at >= query.since)
        conditions.extend(_state_conditions(query.state, max_attempts))
        statement = (select(entries, articles.c.title, articles.c.file_name,
                            articles.c.language, articles.c.method, articles.c.text_length)
                     .outerjoin(articles, and_(articles.c.sequence == entries.c.article_sequence,
                                               entries.c.status == EntryOutcome.STORED))
                     .where(and_(*conditions))
                     .order_by(entries.c.updated_at.desc(), entries.c.feed, entries.c.entry_key)
                     .offset(query.offset).limit(query.limit))
        with self._transaction() as conn:
            return [_fate(row, max_attempts) for row in conn.execute(statement)]


    def _found_articles(self, query: EntryQuery) -> list[EntryFate]:
        """The stored articles of a full-text search, in its order (best first); articles
        `reindex` adopted have no entry, so these are read from the articles themselves."""
        if query.state not in (None, "stored"):
            return []
        ranked = list(query.sequences or ())
        conditions: list[Any] = [articles.c.state == ArticleState.STORED]
        if query.feeds:
            conditions.append(articles.c.feed.in_(list(query.feeds)))
        if query.since is not None:
            conditions.append(articles.c.fetched_at >= query.since)
        found: dict[int, EntryFate] = {}
        with self._transaction() as conn:
            for chunk in in_chunks(ranked):
                for row in conn.execute(select(articles).where(
                        and_(articles.c.sequence.in_(chunk), *conditions))):
                    found[row.sequence] = EntryFate(
                        feed=row.feed, url=row.url or None, state="stored", failure_kind=None,
                        failure_detail=None, attempts=1, sequence=row.sequence,
                        title=row.title, file_name=row.file_name, language=row.language,
                        method=row.method, text_length=row.text_length,
                        updated_at=as_utc(row.fetched_at) or utcnow(), run_id=None)
        ordered = [found[sequence] for sequence in ranked if sequence in found]
        return ordered[query.offset:query.offset + query.limit]


def _last_run_entries(*conditions: Any) -> Any:
    """Entries of each feed's last run (the highest run id of its entries)."""
    last = select(entries.c.feed, func.max(entries.c.run_id).label("run_id")) \
        .where(*conditions).group_by(entries.c.feed).subquery()
    return entries.join(last, and_(last.c.feed == entries.c.feed,
                                   last.c.run_id == entries.c.run_id))


def _state_conditions(state: str | None, max_attempts: int) -> Sequence[Any]:
    if state is None:
        return ()
    retry = entries.c.status == EntryOutcome.RETRY
    if state == "failed":
        return (entries.c.status.in_([EntryOutcome.FAILED, EntryOutcome.RETRY]),)
    if state == "retrying":
        return (retry, entries.c.attempts < max_attempts)
    if state == "gave_up":
        return (retry, entries.c.attempts >= max_attempts)
    return (entries.c.status == state,)


def _fate(row: Any, max_attempts: int) -> EntryFate:
    state = row.status
    if state == EntryOutcome.RETRY:
        state = "gave_up" if row.attempts >= max_attempts else "retrying"
    return EntryFate(feed=row.feed, url=row.url, state=state, failure_kind=row.failure_kind,
                     failure_detail=row.failure_detail, attempts=row.attempts,
                     sequence=row.article_sequence, title=row.title, file_name=row.file_name,
                     language=row.language, method=row.method, text_length=row.text_length,
                     updated_at=as_utc(row.updated_at) or utcnow(), run_id=row.run_id)
