"""Feeds' rows: poll state (validators, next poll, failures in a row, suspension) and leases."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Boolean, and_, bindparam, case, or_, select, type_coerce, update
from sqlalchemy.sql.elements import BindParameter

from config.settings import FeedSettings
from storage.database import Database, as_utc, in_chunks, utcnow
from storage.schema import feeds

# Most feeds one scheduled claim takes (the fetcher's default concurrency: a run gains
# nothing from holding more). Without a cap the first replica to check after a start, or
# after a quiet spell, leases every due feed and the others stand idle.
SCHEDULED_CLAIM_BATCH = 16


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
    # The one-line reason while the feed's extraction is degraded (extraction health), else None.
    extraction_degraded: str | None = None
    lease_owner: str | None = None  # the process polling it now, while lease_until is ahead
    lease_until: datetime | None = None

    def health_facts(self) -> FeedHealthFacts:
        return FeedHealthFacts(self.name, self.suspended, self.consecutive_failures,
                               self.extraction_degraded, self.last_success_at is not None)


class FeedHealthFacts(NamedTuple):
    """What a feed's health is decided from, besides its articles and its lease
    (ingest/console/feed_health.py): read for every feed at once by a status read, which at
    100,000 feeds spent 1.5 s making a FeedState of each (bench/status_scale.py)."""

    name: str
    suspended: bool
    consecutive_failures: int
    extraction_degraded: str | None
    ever_succeeded: bool


_HEALTH_FACTS = select(feeds.c.name, feeds.c.suspended, feeds.c.consecutive_failures,
                       feeds.c.extraction_degraded,
                       type_coerce(feeds.c.last_success_at.is_not(None), Boolean))


@dataclass(frozen=True)
class PollSuccess:
    """A feed polled without failure: when, when it is due again, the validators to send."""

    feed: str
    polled_at: datetime
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None



# Failures in a row -> (the next poll, whether the feed is now suspended).
FailurePlan = Callable[[int], tuple[datetime, bool]]


class FeedRows(Database):
    def sync_feeds(self, configured: Sequence[FeedSettings], now: datetime,
                   first_poll: Callable[[FeedSettings], datetime] | None = None) -> None:
        """Add configured feeds; a changed configuration resumes a suspended feed; feeds no
        longer configured (or disabled) leave the schedule. A new or changed feed is due at
        `first_poll(feed)` (the schedule policy's; default `now`).

        A statement per batch, not per feed: one read of every feed's name, fingerprint and
        place in the schedule, then bulk writes of what differs (nothing, at most starts).
        """
        due = first_poll or (lambda _feed: now)
        wanted = {feed.name: feed for feed in configured}
        with self._transaction() as conn:
            existing = {row.name: row for row in conn.execute(select(
                feeds.c.name, feeds.c.url, feeds.c.config_fingerprint, feeds.c.scheduled))}
            added = [feed for name, feed in wanted.items() if name not in existing]
            changed = [feed for name, feed in wanted.items() if name in existing
                       and existing[name].config_fingerprint != feed.config_fingerprint]
            back = [name for name, row in existing.items()
                    if name in wanted and not row.scheduled]
            gone = [name for name, row in existing.items()
                    if name not in wanted and row.scheduled]
            if added:
                # Another process starting with the same configuration may add them first.
                conn.execute(_insert_ignoring_duplicates(self.dialect), [{
                    "name": feed.name, "url": feed.url,
                    "config_fingerprint": feed.config_fingerprint, "next_poll_at": due(feed),
                    "consecutive_failures": 0, "suspended": False, "articles_stored": 0,
                    "scheduled": True} for feed in added])
            for feed in changed:  # a configuration edit: a few feeds, not every start
                same_url = existing[feed.name].url == feed.url
                conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                    url=feed.url, config_fingerprint=feed.config_fingerprint,
                    suspended=False, consecutive_failures=0, next_poll_at=due(feed),
                    scheduled=True,
                    etag=feeds.c.etag if same_url else None,
                    last_modified=feeds.c.last_modified if same_url else None))
            for names, scheduled in ((back, True), (gone, False)):
                for chunk in in_chunks(names):
                    conn.execute(update(feeds).where(feeds.c.name.in_(chunk))
                                 .values(scheduled=scheduled))

    def claim_feeds(self, owner: str, now: datetime, lease_seconds: float,
                    names: Sequence[str] | None = None, due_only: bool = True,
                    limit: int | None = None) -> list[FeedState]:
        """Take a lease on feeds no one else holds: due ones, or the named ones now.

        The conditional UPDATE is the claim, so two processes never both win a feed; on
        PostgreSQL the SELECT also skips rows another transaction has locked. `limit` caps
        the batch (the most overdue first), leaving the rest to other replicas; a scheduled
        claim (`due_only`) takes SCHEDULED_CLAIM_BATCH unless told otherwise.

        A due claim without names takes the scheduled feeds (`sync_feeds`), in one statement
        that reads them from the due-feed index in next-poll order: O(feeds claimed), however
        many are configured. It also skips feeds leased by `owner` itself: those are being
        polled now (by this run, or by a manual fetch of the same process).
        """
        if limit is None and due_only:
            limit = SCHEDULED_CLAIM_BATCH
        until = now + timedelta(seconds=lease_seconds)
        if due_only:
            return self._claim_due(owner, now, until, names, limit)
        # Not even our own lease: a manual fetch in the service while its scheduled run polls
        # the feed would poll it twice at once; it is reported busy instead.
        free = or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now)
        conditions = [free, feeds.c.suspended.is_(False)]
        if names is not None:
            conditions.append(feeds.c.name.in_(list(names)))
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
            for chunk in in_chunks(candidates):
                rows = conn.execute(
                    update(feeds).where(and_(feeds.c.name.in_(chunk),
                                             free))
                    .values(lease_owner=owner, lease_until=until).returning(*feeds.c))
                won.update((row.name, _feed_state(row)) for row in rows)
        return [won[name] for name in candidates if name in won]

    def _claim_due(self, owner: str, now: datetime, until: datetime,
                   names: Sequence[str] | None, limit: int | None) -> list[FeedState]:
        free = or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now)
        conditions = [feeds.c.suspended.is_(False), feeds.c.scheduled.is_(True),
                      feeds.c.next_poll_at <= now, free]
        if names is not None:
            conditions.append(feeds.c.name.in_(list(names)))
        due = select(feeds.c.name).where(and_(*conditions)).order_by(feeds.c.next_poll_at)
        if limit is not None:
            due = due.limit(limit)
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with self._transaction() as conn:
            rows = conn.execute(update(feeds).where(and_(feeds.c.name.in_(due), free))
                                .values(lease_owner=owner, lease_until=until)
                                .returning(*feeds.c))
            won = [_feed_state(row) for row in rows]
        return sorted(won, key=lambda state: (state.next_poll_at, state.name))

    def renew_leases(self, owner: str, names: Iterable[str], until: datetime) -> None:
        with self._transaction() as conn:
            for chunk in in_chunks(list(names)):
                conn.execute(update(feeds).where(and_(feeds.c.lease_owner == owner,
                                                      feeds.c.name.in_(chunk)))
                             .values(lease_until=until))

    def release_feed(self, name: str, owner: str) -> None:
        self.release_feeds([name], owner)

    def release_feeds(self, names: Iterable[str], owner: str) -> None:
        with self._transaction() as conn:
            for chunk in in_chunks(list(names)):
                conn.execute(update(feeds).where(and_(feeds.c.name.in_(chunk),
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

    def record_poll_failure(self, name: str, owner: str, now: datetime, kind: str,
                            detail: str, plan: FailurePlan) -> FeedState:
        """Count the failure; `plan` (the schedule policy) says when to poll again and
        whether the feed is now suspended, from its failures in a row."""
        with self._transaction() as conn:
            current = conn.execute(select(feeds.c.consecutive_failures)
                                   .where(feeds.c.name == name)).scalar_one()
            failures_in_row = current + 1
            next_poll_at, suspended = plan(failures_in_row)
            conn.execute(update(feeds).where(feeds.c.name == name).values(
                last_poll_at=now, consecutive_failures=failures_in_row,
                next_poll_at=next_poll_at, last_error_kind=kind, last_error=detail[:500],
                suspended=suspended, **_release_if_held_by(owner)))
            return _feed_state(conn.execute(select(feeds).where(feeds.c.name == name)).one())

    def resume_feed(self, name: str, now: datetime) -> bool:
        with self._transaction() as conn:
            return bool(conn.execute(update(feeds).where(feeds.c.name == name).values(
                suspended=False, consecutive_failures=0, next_poll_at=now)).rowcount)

    def feed_states(self) -> list[FeedState]:
        with self._transaction() as conn:
            return [_feed_state(row) for row in conn.execute(select(feeds)
                                                              .order_by(feeds.c.name))]

    def feed_states_named(self, names: Sequence[str]) -> dict[str, FeedState]:
        """These feeds' rows (the ones the index knows), by name."""
        found: dict[str, FeedState] = {}
        with self._transaction() as conn:
            for chunk in in_chunks(names):
                found.update((row.name, _feed_state(row)) for row in conn.execute(
                    select(feeds).where(feeds.c.name.in_(chunk))))
        return found

    def feed_health_facts(self) -> list[FeedHealthFacts]:
        """Every feed's FeedHealthFacts, in no particular order."""
        with self._transaction() as conn:
            return list(map(FeedHealthFacts._make, conn.execute(_HEALTH_FACTS)))



def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(feeds).on_conflict_do_nothing(index_elements=[feeds.c.name])


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        name=row.name, url=row.url, etag=row.etag, last_modified=row.last_modified,
        last_poll_at=as_utc(row.last_poll_at), last_success_at=as_utc(row.last_success_at),
        next_poll_at=as_utc(row.next_poll_at) or utcnow(),
        consecutive_failures=row.consecutive_failures, last_error_kind=row.last_error_kind,
        last_error=row.last_error, suspended=bool(row.suspended),
        articles_stored=row.articles_stored,
        extraction_degraded=row.extraction_degraded, lease_owner=row.lease_owner,
        lease_until=as_utc(row.lease_until))

