"""Entries' rows: what became of each feed entry seen (stored, duplicate, failed, ...)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from ingest.records import EntryOutcome
from storage.database import Database, in_chunks, utcnow
from storage.schema import entries

TERMINAL_ENTRY_STATES = frozenset(EntryOutcome) - {EntryOutcome.RETRY}
_LONGEST_KEY = 512  # entries.entry_key


def stored_entry_key(key: str) -> str:
    """The entry key as the index holds it: a key longer than the column is stored as its
    SHA-256, so the lookup of the same key finds it. Cut to 512 characters, it never matched
    again: the entry was fetched at every poll and `max_entry_attempts` was never reached."""
    if len(key) <= _LONGEST_KEY:
        return key
    return "sha256-key:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

_ENTRY_STATES = select(entries.c.entry_key, entries.c.status, entries.c.attempts).where(
    entries.c.feed == bindparam("p_feed"),
    entries.c.entry_key.in_(bindparam("p_keys", expanding=True)))
_STORED_FROM_URLS = select(entries.c.url, entries.c.article_sequence).where(
    entries.c.url.in_(bindparam("p_urls", expanding=True)), entries.c.status == EntryOutcome.STORED)


def _entry_upsert(dialect_insert: Any) -> Any:
    """Record an entry's outcome, counting attempts, in one statement (both dialects spell
    INSERT ... ON CONFLICT DO UPDATE alike).

    An entry recorded as stored stays so: its article was stored through it. A later record
    of it comes from a poll that read the entry before the store was recorded (two replicas
    on one feed, as after a lease that ran out mid-poll) and finds that article, as a
    duplicate, or fails;
    written over, the stored article would have no stored entry and the entry would be
    fetched again."""
    statement = dialect_insert(entries).values(
        feed=bindparam("p_feed"), entry_key=bindparam("p_key"), url=bindparam("p_url"),
        status=bindparam("p_status"), attempts=1, failure_kind=bindparam("p_failure_kind"),
        article_sequence=bindparam("p_sequence"), updated_at=bindparam("p_now"),
        run_id=bindparam("p_run_id"), failure_detail=bindparam("p_detail"))
    return statement.on_conflict_do_update(
        index_elements=[entries.c.feed, entries.c.entry_key],
        set_={"url": statement.excluded.url, "status": statement.excluded.status,
              "attempts": entries.c.attempts + 1,
              "failure_kind": statement.excluded.failure_kind,
              "article_sequence": statement.excluded.article_sequence,
              "updated_at": statement.excluded.updated_at,
              "run_id": statement.excluded.run_id,
              "failure_detail": statement.excluded.failure_detail},
        where=entries.c.status != EntryOutcome.STORED)


def _record_entry_statement(dialect: str) -> Any:
    # The dialect's module is imported when an index opens: the PostgreSQL one (and its
    # drivers' modules) cost 45 ms of every SQLite command's start.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return _entry_upsert(postgresql.insert)
    from sqlalchemy.dialects import sqlite

    return _entry_upsert(sqlite.insert)



@dataclass(frozen=True)
class EntryRecord:
    """An entry's outcome, to record."""

    feed: str
    key: str
    url: str | None
    status: EntryOutcome
    sequence: int | None = None
    run_id: int | None = None  # the run that settled it



class EntryRows(Database):
    @functools.cached_property
    def _record_entry(self) -> Any:
        return _record_entry_statement(self.dialect)

    def settled_entry_keys(self, feed: str, keys: Sequence[str], max_attempts: int) -> set[str]:
        """Keys of this feed's entries that need no more work (done, or out of attempts)."""
        settled: set[str] = set()
        if not keys:
            return settled  # a feed that answered 304: no transaction at all
        stored_keys = {stored_entry_key(key): key for key in keys}
        with self._transaction() as conn:
            for chunk in in_chunks(list(stored_keys)):
                rows = conn.execute(_ENTRY_STATES, {"p_feed": feed, "p_keys": chunk})
                settled.update(stored_keys[row.entry_key] for row in rows
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
            for chunk in in_chunks(unique):
                for row in conn.execute(_STORED_FROM_URLS, {"p_urls": chunk}):
                    found.setdefault(row.url, row.article_sequence)
        return found

    def entry_sequence(self, feed: str, key: str) -> int | None:
        """The article an entry was stored as or found a duplicate of, if any."""
        with self._transaction() as conn:
            return conn.execute(
                select(entries.c.article_sequence).where(
                    entries.c.feed == feed, entries.c.entry_key == stored_entry_key(key)),
            ).scalar()

    def record_entry(self, feed: str, key: str, url: str | None, status: EntryOutcome,
                     failure_kind: str | None = None, sequence: int | None = None,
                     now: datetime | None = None, run_id: int | None = None,
                     failure_detail: str | None = None) -> None:
        with self._transaction() as conn:
            conn.execute(self._record_entry, entry_params(
                EntryRecord(feed, key, url, status, sequence, run_id), failure_kind,
                now or utcnow(), failure_detail))



def entry_params(record: EntryRecord, failure_kind: str | None, now: datetime,
                 failure_detail: str | None = None) -> dict[str, Any]:
    return {"p_feed": record.feed, "p_key": stored_entry_key(record.key), "p_url": record.url,
            "p_status": record.status, "p_failure_kind": failure_kind,
            "p_sequence": record.sequence, "p_now": now, "p_run_id": record.run_id,
            "p_detail": failure_detail[:500] if failure_detail else None}

