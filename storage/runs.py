"""Runs' rows and the failures recorded during each run: the job status log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from ingest.records import RunState, RunTrigger
from storage.database import Database, as_utc, utcnow
from storage.schema import failures, runs


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
    trigger: RunTrigger
    owner: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    state: RunState
    counts: RunCounts
    failures_by_kind: dict[str, int]


class RunRows(Database):
    def start_run(self, trigger: RunTrigger, owner: str, now: datetime) -> int:
        with self._transaction() as conn:
            return conn.execute(insert(runs).values(
                trigger=trigger, owner=owner, started_at=now, state=RunState.RUNNING,
                feeds_polled=0, entries_seen=0, articles_stored=0, duplicates=0,
                near_duplicates=0, filtered=0, failures=0).returning(runs.c.id)).scalar_one()

    def finish_run(self, run_id: int, counts: RunCounts, state: RunState,
                   now: datetime) -> None:
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

    def mark_abandoned_runs(self, owner_alive: Callable[[str], bool], now: datetime) -> None:
        """Runs left "running" by a process that died are shown as interrupted."""
        with self._transaction() as conn:
            for row in conn.execute(select(runs.c.id, runs.c.owner)
                                    .where(runs.c.state == RunState.RUNNING)).all():
                if not owner_alive(row.owner):
                    conn.execute(update(runs).where(runs.c.id == row.id)
                                 .values(state=RunState.INTERRUPTED, finished_at=now))

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
            id=row.id, trigger=RunTrigger(row.trigger), owner=row.owner,
            started_at=as_utc(row.started_at) or utcnow(), finished_at=as_utc(row.finished_at),
            duration_seconds=row.duration_seconds, state=RunState(row.state),
            counts=RunCounts(feeds_polled=row.feeds_polled, entries_seen=row.entries_seen,
                             articles_stored=row.articles_stored, duplicates=row.duplicates,
                             near_duplicates=row.near_duplicates, filtered=row.filtered,
                             failures=row.failures),
            failures_by_kind=by_kind[row.id]) for row in rows]

    def failure_totals(self) -> dict[str, int]:
        with self._transaction() as conn:
            return {row.kind: row.n for row in conn.execute(
                select(failures.c.kind, func.count().label("n")).group_by(failures.c.kind))}


