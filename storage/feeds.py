"""Feeds' rows: poll state (validators, next poll, failures in a row, suspension) and leases."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
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
            for chunk in in_chunks(candidates):
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



def _feed_state(row: Any) -> FeedState:
    return FeedState(
        name=row.name, url=row.url, etag=row.etag, last_modified=row.last_modified,
        last_poll_at=as_utc(row.last_poll_at), last_success_at=as_utc(row.last_success_at),
        next_poll_at=as_utc(row.next_poll_at) or utcnow(),
        consecutive_failures=row.consecutive_failures, last_error_kind=row.last_error_kind,
        last_error=row.last_error, suspended=bool(row.suspended),
        articles_stored=row.articles_stored)

