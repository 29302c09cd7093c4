"""The background service.

APScheduler (3.x, asyncio) runs a check every `schedule.check_every_seconds`; each check claims
the feeds that are due (their next poll time lives in the index, with interval, jitter and
backoff) and polls them in one run. Keeping the schedule in the database rather than in
per-feed jobs lets a manual fetch and other replicas share the same feeds through leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from config.settings import Settings
from ingest.fetch.polite import new_robots_cache
from ingest.fetch.robots import RobotsCache
from ingest.records import RunTrigger
from ingest.run.observer import RunObserver
from ingest.run.pipeline import RunRequest, RunSummary, run_fetch
from scheduler.policy import SchedulePolicy
from scheduler.service_metrics import ServiceMetrics
from storage.index import CorpusIndex
from storage.recovery import WriterIdentity

log = logging.getLogger("source_ingest.service")

STOP_GRACE_SECONDS = 8.0


@dataclass
class ServiceState:
    """What the running service knows about itself (for health checks and manual runs)."""

    settings: Settings
    index: CorpusIndex
    writer: WriterIdentity
    transport: httpx.AsyncBaseTransport | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = field(default_factory=time.monotonic)
    last_check: float | None = None
    runs_in_flight: set[asyncio.Task[RunSummary | None]] = field(default_factory=set)
    scheduled_run: asyncio.Task[RunSummary | None] | None = None
    feeds_synced: bool = False  # the index's feeds match the configuration (first run)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # robots.txt rules outlive a run: read once a TTL per host, not at every run.
    robots: RobotsCache | None = None

    def __post_init__(self) -> None:
        if self.robots is None:
            self.robots = new_robots_cache(self.settings.fetch)

    def scheduler_alive(self) -> bool:
        """Alive when a check ran within three check intervals (or the service just started)."""
        limit = 3 * self.settings.schedule.check_every_seconds + 30
        reference = self.last_check if self.last_check is not None else self.started_at
        return time.monotonic() - reference < limit

    def start_run(self, request: RunRequest,
                  observer: RunObserver | None = None) -> asyncio.Task[RunSummary | None]:
        task = asyncio.get_running_loop().create_task(
            run_fetch(self.settings, self.index, request, self.writer,
                      policy=SchedulePolicy(self.settings.schedule), observer=observer,
                      stop=self.stop, transport=self.transport,
                      observe_fetch=self.metrics.fetch_latency.observe, robots=self.robots))
        self.runs_in_flight.add(task)
        task.add_done_callback(self._run_done)
        task.add_done_callback(functools.partial(self.metrics.run_done, request.trigger))
        return task

    def _run_done(self, task: asyncio.Task[RunSummary | None]) -> None:
        self.runs_in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("run failed", extra={"event": "run_error", "error": repr(error)})


async def _scheduled_check(state: ServiceState) -> None:
    """Start a scheduled run unless one is still going; return at once either way, so that
    the check keeps its rhythm (and /healthz stays green) through a long run."""
    state.last_check = time.monotonic()
    if state.stop.is_set():
        return
    if state.scheduled_run is not None and not state.scheduled_run.done():
        return
    request = RunRequest(trigger=RunTrigger.SCHEDULE, sync_feeds=not state.feeds_synced)
    state.scheduled_run = state.start_run(request)
    if request.sync_feeds:
        state.scheduled_run.add_done_callback(functools.partial(_synced, state))


def _synced(state: ServiceState, task: asyncio.Task[RunSummary | None]) -> None:
    """The configuration is read once, at start: after one run has brought the index in line
    with it, later runs skip that step (a read of every feed, 100,000 of them)."""
    if not task.cancelled() and task.exception() is None:
        state.feeds_synced = True


async def serve(state: ServiceState,
                extra: Callable[[ServiceState], Awaitable[None]] | None = None) -> None:
    """Run until SIGTERM/SIGINT; in-flight work is finished or left for the next run."""
    loop = asyncio.get_running_loop()
    # Called before anything starts: the HTTP server refuses an unsafe bind by raising here.
    extra_work = extra(state) if extra is not None else None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, state.stop.set)
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    scheduler.add_job(_scheduled_check, "interval", args=[state], id="check-due-feeds",
                      seconds=state.settings.schedule.check_every_seconds,
                      next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    scheduler.start()
    log.info("service started", extra={
        "event": "service_started", "feeds": len(state.settings.feeds),
        "check_every_seconds": state.settings.schedule.check_every_seconds,
        "writer": state.writer.tag})
    extra_task = loop.create_task(extra_work) if extra_work is not None else None
    try:
        await state.stop.wait()
    finally:
        log.info("service stopping", extra={"event": "service_stopping",
                                            "runs_in_flight": len(state.runs_in_flight)})
        scheduler.shutdown(wait=False)
        if state.runs_in_flight:
            _, pending = await asyncio.wait(set(state.runs_in_flight),
                                            timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if extra_task is not None:
            extra_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await extra_task
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("service stopped", extra={"event": "service_stopped"})
