"""The due-feed check and lease bookkeeping at scale: their cost follows the feeds due, not the
feeds configured (issue 16: 100,000 sources on one replica)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from config.settings import FeedSettings
from storage.database import create_database_engine, utcnow
from storage.index import CorpusIndex, open_index


def _feeds(count: int) -> list[FeedSettings]:
    return [FeedSettings(name=f"f{i:05d}", url=f"https://site{i % 7}.example/{i}.xml",
                         interval_seconds=900) for i in range(count)]


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    open_index(database_url).close()  # migrated
    opened = CorpusIndex(create_database_engine(database_url))
    yield opened
    opened.close()


class Statements:
    """The SQL statements an index sends while counting."""

    def __init__(self, index: CorpusIndex) -> None:
        self.sent: list[tuple[str, Any]] = []
        event.listen(index._engine, "before_cursor_execute", self._sent)

    def _sent(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
              _many: bool) -> None:
        self.sent.append((statement, parameters))

    def __enter__(self) -> Statements:
        self.sent.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_scheduled_claim_takes_a_batch_of_due_feeds_in_one_statement(
        index: CorpusIndex) -> None:
    now = utcnow()
    feeds = _feeds(3000)
    index.sync_feeds(feeds, now, lambda feed: now - timedelta(seconds=int(feed.name[1:])))
    with Statements(index) as statements:
        claimed = index.claim_feeds("w", now, 60, limit=16)
    assert len(statements.sent) == 1
    # The most overdue first, whatever order they were added in.
    assert [state.name for state in claimed] == [f"f{i:05d}" for i in range(2999, 2983, -1)]


def test_the_due_feed_check_reads_the_next_poll_index(sqlite_url: str) -> None:
    open_index(sqlite_url).close()
    index = CorpusIndex(create_database_engine(sqlite_url))
    index.sync_feeds(_feeds(50), utcnow())
    statements = Statements(index)
    index.claim_feeds("w", utcnow(), 60, limit=16)
    (sql, parameters), = statements.sent
    with index._engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", parameters))
    index.close()
    assert "ix_feeds_due" in plan


def test_a_scheduled_claim_skips_feeds_the_same_process_is_polling(
        index: CorpusIndex) -> None:
    now = utcnow()
    index.sync_feeds(_feeds(20), now)
    first = index.claim_feeds("w", now, 60, limit=16)
    second = index.claim_feeds("w", now, 60, limit=16)
    assert len(first) == 16 and len(second) == 4
    assert not {s.name for s in first} & {s.name for s in second}
    assert index.claim_feeds("w", now, 60, limit=16) == []


def test_feeds_leave_the_schedule_with_the_configuration_and_come_back(
        index: CorpusIndex) -> None:
    now = utcnow()
    kept, dropped = _feeds(2)
    index.sync_feeds([kept, dropped], now)
    index.sync_feeds([kept], now)
    assert [s.name for s in index.claim_feeds("w", now, 60)] == [kept.name]
    index.sync_feeds([kept, dropped], now)
    assert [s.name for s in index.claim_feeds("w", now, 60)] == [dropped.name]


def test_syncing_an_unchanged_configuration_is_one_read(index: CorpusIndex) -> None:
    feeds = _feeds(3000)
    index.sync_feeds(feeds, utcnow())
    with Statements(index) as statements:
        index.sync_feeds(feeds, utcnow())
    assert len(statements.sent) == 1 and statements.sent[0][0].lstrip().startswith("SELECT")


def test_released_feeds_are_free_at_once_and_renewal_keeps_the_others(
        index: CorpusIndex) -> None:
    now = utcnow()
    index.sync_feeds(_feeds(3), now)
    held = [s.name for s in index.claim_feeds("w", now, 60)]
    index.release_feeds(held[:1], "w")
    index.renew_leases("w", held[1:], now + timedelta(seconds=600))
    later = now + timedelta(seconds=120)  # the first lease would have run out by now
    assert [s.name for s in index.claim_feeds("other", later, 60)] == held[:1]
    with index._engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT name, lease_owner FROM feeds")).all())
    assert owners == {held[0]: "other", held[1]: "w", held[2]: "w"}
