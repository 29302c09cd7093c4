"""One fetch run: claim feeds, poll them, fetch new entries' pages, extract, dedupe, store.

The stages are plain calls on frozen records; this module only sequences them, counts what
happened, and turns every `IngestFailure` into a recorded failure of one feed or one article.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from config.settings import FeedSettings, Settings
from ingest.fetch.client import Observe, PageFetcher
from ingest.fetch.polite import PoliteFetcher, RobotsCache
from ingest.records import (
    EntryOutcome,
    FailureKind,
    FeedEntry,
    FeedHealth,
    IngestFailure,
    RunState,
    RunTrigger,
)
from ingest.run.archiving import FailedPageArchive, run_storage, store_request
from ingest.run.claim_pace import ClaimPace
from ingest.run.database_lane import DatabaseLane
from ingest.run.extraction_health import health_may_change, refresh_extraction_health
from ingest.run.in_flight import PagesInFlight
from ingest.run.observer import RunObserver, SilentObserver
from ingest.run.poll_recorder import PollRecorder
from ingest.run.run_tally import RunTally
from ingest.run.schedule_plan import SchedulePlan, claim_batch
from ingest.run.source_read import Backfill, read_source, validators_to_keep
from ingest.run.store import StoreRequest, store_batch
from ingest.run.store_lane import StoreLane
from ingest.run.topic_filter import rejection_reason
from ingest.run.unclaimed import enabled_only, why_not_polled
from ingest.run.worker_pool import ExtractionPool
from ingest.urls import detail_without_url, normalize_url
from storage.database import DatabaseError, utcnow
from storage.feeds import FeedState
from storage.index import CorpusIndex
from storage.recovery import WriterIdentity, recover_interrupted_writes
from storage.runs import RunCounts

log = logging.getLogger("source_ingest.pipeline")

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class RunRequest:
    trigger: RunTrigger
    feed_names: tuple[str, ...] | None = None  # None: every configured feed
    due_only: bool = True  # scheduled runs poll due feeds; a manual fetch polls them now
    # Bring the index's feeds in line with the configuration first: the service does it in
    # its first run only (its configuration does not change while it runs).
    sync_feeds: bool = True
    backfill: Backfill | None = None  # with trigger BACKFILL: every sitemap of the sources


@dataclass(frozen=True)
class RunSummary:
    run_id: int | None
    trigger: RunTrigger
    state: RunState
    counts: RunCounts
    failures_by_kind: dict[str, int]
    busy_feeds: tuple[str, ...]
    duration_seconds: float
    # Feeds asked for by name and not polled, and why: disabled, suspended or busy.
    not_polled: dict[str, FeedHealth] = field(default_factory=dict)


@dataclass(frozen=True)
class _RunContext:
    settings: Settings
    index: CorpusIndex
    database: DatabaseLane  # every index call from here goes through it, off the event loop
    fetcher: PageFetcher
    polite: PoliteFetcher  # the same fetcher behind robots.txt and per-host pacing
    writer: WriterIdentity
    observer: RunObserver
    tally: RunTally
    policy: SchedulePlan
    extraction: ExtractionPool
    stores: StoreLane[StoreRequest]
    failed_pages: FailedPageArchive  # pages that gave no text, kept for `reextract`
    polls: PollRecorder
    in_flight: PagesInFlight  # article pages being fetched, by normalised URL
    # Pages fetched but not yet stored, at most: when extraction or storing is the bottleneck,
    # fetching waits instead of holding every page of the run in memory.
    pages_in_hand: asyncio.Semaphore
    backfill: Backfill | None


async def run_fetch(settings: Settings, index: CorpusIndex, request: RunRequest,
                    writer: WriterIdentity, *, policy: SchedulePlan,
                    observer: RunObserver | None = None,
                    stop: asyncio.Event | None = None,
                    transport: httpx.AsyncBaseTransport | None = None,
                    observe_fetch: Observe | None = None,
                    robots: RobotsCache | None = None) -> RunSummary | None:
    """Run one fetch. Returns None for a scheduled run that found no feed due.

    `policy` decides when each polled feed is due again (`scheduler.policy.SchedulePolicy`);
    `robots` keeps robots.txt across runs (the service's), else the run has its own."""
    database = DatabaseLane()
    try:
        return await _run(settings, index, database, request, writer, policy=policy,
                          observer=observer or SilentObserver(), stop=stop, transport=transport,
                          observe_fetch=observe_fetch, robots=robots)
    finally:
        database.close()


async def _run(settings: Settings, index: CorpusIndex, database: DatabaseLane,
               request: RunRequest, writer: WriterIdentity, *, policy: SchedulePlan,
               observer: RunObserver,
               stop: asyncio.Event | None, transport: httpx.AsyncBaseTransport | None,
               observe_fetch: Observe | None, robots: RobotsCache | None) -> RunSummary | None:
    started = time.monotonic()
    now = utcnow()
    await database.call(recover_interrupted_writes, index, settings.storage.corpus_dir, writer,
                        now, settings.schedule.lease_seconds, settings.storage.archive_path)
    if request.sync_feeds:
        await database.call(index.sync_feeds, [feed for feed in settings.feeds if feed.enabled],
                            now, functools.partial(policy.first_poll_at, now=now))
    # A scheduled run without names takes the index's scheduled feeds (kept by sync_feeds).
    names = request.feed_names
    if names is None and not request.due_only:
        names = tuple(feed.name for feed in settings.feeds if feed.enabled)
    # A disabled feed asked for by name is not polled: it is reported as disabled.
    claimable = None if names is None else enabled_only(settings, names)
    claimed = await database.call(
        index.claim_feeds, writer.tag, now, settings.schedule.lease_seconds, names=claimable,
        due_only=request.due_only, limit=claim_batch(settings) if request.due_only else None)
    claimed_names = {state.name for state in claimed}
    unclaimed = tuple(name for name in names or () if name not in claimed_names) \
        if not request.due_only else ()
    not_polled = await database.call(why_not_polled, index, settings, unclaimed)
    busy = tuple(name for name, why in not_polled.items() if why is FeedHealth.BUSY)
    if not claimed and request.trigger is RunTrigger.SCHEDULE:
        return None
    run_id = await database.call(index.start_run, request.trigger, writer.tag, now)
    tally = RunTally(run_id=run_id)
    log.info("run started", extra={"event": "run_started", "run_id": run_id,
                                   "trigger": request.trigger, "feeds": len(claimed),
                                   "busy_feeds": list(busy)})
    observer.feeds_claimed(run_id, [state.name for state in claimed])
    # Feeds leased and not yet recorded: what lease renewal renews and a stop releases (a
    # recorded poll releases its own lease, so this is the feeds in flight, not all polled).
    in_hand: set[str] = set()
    state = RunState.INTERRUPTED
    extraction = ExtractionPool(limits=settings.limits)
    storage = run_storage(settings, index, writer.tag, run_id)
    stores: StoreLane[StoreRequest] = StoreLane(functools.partial(store_batch, storage))
    failed_pages = FailedPageArchive(settings, index, writer.tag)
    # A scheduled run claims again when half its batch is done, and a poll is done once
    # recorded: so its recorder writes as soon as half a batch waits, not after a 50 ms wait.
    polls = PollRecorder(functools.partial(database.call, index.record_poll_successes,
                                           owner=writer.tag),
                         max_batch=claim_batch(settings) // 2 if request.due_only else 64)
    try:
        async with PageFetcher(settings.fetch, transport=transport,
                               observe=observe_fetch) as fetcher:
            context = _RunContext(settings=settings, index=index, database=database,
                                  fetcher=fetcher, writer=writer, observer=observer,
                                  polite=PoliteFetcher(fetcher, settings.fetch, robots),
                                  tally=tally, policy=policy,
                                  extraction=extraction, stores=stores, polls=polls,
                                  failed_pages=failed_pages,
                                  in_flight=PagesInFlight(),
                                  pages_in_hand=asyncio.Semaphore(
                                      settings.fetch.max_concurrency + 2 * extraction.size),
                                  backfill=request.backfill)
            work = asyncio.ensure_future(
                _poll_claimed_feeds(context, request, claimed, in_hand))
            state = await _until_stopped(work, stop, context, in_hand)
    except DatabaseError:
        state = RunState.FAILED
        raise
    finally:
        try:
            await stores.drain()
        finally:
            stores.close()
            extraction.close()
            storage.close()
            await database.call(failed_pages.close)  # after its last append on the lane
        # Best effort: when the database failed these may too, and the leases then expire.
        with contextlib.suppress(DatabaseError):
            await polls.flush()  # feeds polled before a stop
        with contextlib.suppress(DatabaseError):
            if state is not RunState.FINISHED and in_hand:
                await database.call(index.release_feeds, sorted(in_hand), writer.tag)
            await database.call(index.finish_run, run_id, tally.counts(), state, utcnow())
    summary = RunSummary(run_id=run_id, trigger=request.trigger, state=state,
                         counts=tally.counts(), failures_by_kind=dict(tally.failure_kinds),
                         busy_feeds=busy, duration_seconds=time.monotonic() - started,
                         not_polled=not_polled)
    log.info("run finished", extra={"event": "run_finished", "run_id": run_id, "state": state,
                                    **tally.counts().__dict__,
                                    "failures_by_kind": dict(tally.failure_kinds),
                                    "seconds": round(summary.duration_seconds, 3)})
    return summary


async def _until_stopped(work: asyncio.Future[None], stop: asyncio.Event | None,
                         context: _RunContext, names: set[str]) -> RunState:
    """Wait for the run, renewing leases; on stop, cancel what is in flight."""
    renewer = asyncio.create_task(_renew_leases(context, names))
    stopper = asyncio.create_task(stop.wait()) if stop is not None else None
    try:
        waiters: set[asyncio.Future[object]] = {work}  # type: ignore[arg-type]
        if stopper is not None:
            waiters.add(stopper)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            work.result()
            return RunState.FINISHED
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return RunState.INTERRUPTED
    finally:
        if not work.done():
            work.cancel()
        renewer.cancel()
        if stopper is not None:
            stopper.cancel()


async def _poll_claimed_feeds(context: _RunContext, request: RunRequest,
                              claimed: Sequence[FeedState], in_hand: set[str]) -> None:
    """Poll the claimed feeds. A scheduled run claims more due feeds as earlier ones finish:
    replicas share the work in small batches, and no due feed waits for the next check.
    It claims again when half its batch is done, each claim O(feeds claimed)
    (storage/feeds.py `claim_feeds`), and paced once it has caught up (claim_pace.py)."""
    batch = claim_batch(context.settings)
    pending: set[asyncio.Future[None]] = set()
    # Each poll reports here when it ends (None: the pace's wake-up); asyncio.wait(pending)
    # would register a callback on every pending poll at each one that ends (quadratic).
    finished: asyncio.Queue[asyncio.Future[None] | None] = asyncio.Queue()
    pace = ClaimPace(functools.partial(finished.put_nowait, None))
    if request.due_only:
        pace.claimed(batch, len(claimed))
    await _start_polls(context, claimed, pending, in_hand, finished)
    try:
        while pending:
            task = await finished.get()
            if task is not None:
                pending.discard(task)
                task.result()
            if (not request.due_only or len(pending) > batch // 2
                    or not await pace.ready(len(pending))):
                continue
            asked = batch - len(pending)
            more = await context.database.call(
                context.index.claim_feeds, context.writer.tag, utcnow(),
                context.settings.schedule.lease_seconds, names=request.feed_names,
                due_only=True, limit=asked)
            pace.claimed(asked, len(more))
            await _start_polls(context, more, pending, in_hand, finished)
    finally:
        pace.close()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _start_polls(context: _RunContext, claimed: Sequence[FeedState],
                       pending: set[asyncio.Future[None]], in_hand: set[str],
                       finished: asyncio.Queue[asyncio.Future[None] | None]) -> None:
    unknown = []
    for state in claimed:
        try:
            feed = context.settings.feed(state.name)
        except KeyError:
            # In the index's schedule but not in this process's configuration: another
            # replica runs a newer or older one. Leave the feed to the processes that know it.
            unknown.append(state.name)
            continue
        in_hand.add(state.name)
        task = asyncio.ensure_future(_process_feed(context, feed, state))
        task.add_done_callback(functools.partial(_poll_done, in_hand, state.name))
        task.add_done_callback(finished.put_nowait)
        pending.add(task)
    if unknown:
        log.warning("feeds not in this configuration", extra={
            "event": "unknown_feeds_claimed", "feeds": unknown[:20], "count": len(unknown)})
        await context.database.call(context.index.release_feeds, unknown, context.writer.tag)


def _poll_done(in_hand: set[str], name: str, task: asyncio.Future[None]) -> None:
    # A finished poll's recording released its lease; a cancelled one (a stop) still holds
    # it, and the run releases what is in hand when it ends.
    if not task.cancelled() and task.exception() is None:
        in_hand.discard(name)


async def _renew_leases(context: _RunContext, names: set[str]) -> None:
    lease = context.settings.schedule.lease_seconds
    while True:
        await asyncio.sleep(lease / 3)
        until = utcnow() + timedelta(seconds=lease)
        await context.database.call(context.index.renew_leases, context.writer.tag,
                                    sorted(names), until)


async def _process_feed(context: _RunContext, feed: FeedSettings, state: FeedState) -> None:
    tally = context.tally
    tally.feeds_polled += 1
    try:
        read = await read_source(context.polite, context.extraction, context.database,
                                 context.index, context.settings.fetch, feed, state,
                                 context.backfill)
    except IngestFailure as failure:
        await _record_feed_failure(context, feed, failure)
        return
    except DatabaseError:
        raise
    except Exception as exc:
        log.exception("feed crashed", extra={"event": "feed_internal_error", "feed": feed.name})
        await _record_feed_failure(context, feed, IngestFailure(
            FailureKind.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"))
        return
    entries = read.entries
    for url, failure in read.sitemaps.failures if read.sitemaps is not None else ():
        await _record_sitemap_failure(context, feed, url, failure)
    tally.entries_seen += len(entries)
    new_entries: list[FeedEntry] = []
    stored: dict[str, int] = {}
    if entries:  # a feed that answered 304: no database work at all
        settled = await context.database.call(
            context.index.settled_entry_keys, feed.name, [entry.key for entry in entries],
            context.settings.schedule.max_entry_attempts)
        new_entries = [entry for entry in entries if entry.key not in settled]
        new_entries = new_entries[:context.backfill.limit] if context.backfill else new_entries
        if new_entries:
            # One query for the feed instead of one per entry.
            stored = await context.database.call(
                context.index.stored_sequences_for_urls,
                [_normal(entry.url) or "" for entry in new_entries if entry.url])
    context.observer.entries_found(feed.name, len(new_entries))
    outcomes = await asyncio.gather(*(_process_entry(context, feed, entry, stored)
                                      for entry in new_entries))
    etag, last_modified = await validators_to_keep(
        context.database, context.index, feed, state, read,
        settled=EntryOutcome.RETRY not in outcomes, backfill=context.backfill is not None)
    if health_may_change(outcomes):  # not after a 304: no trip to the database lane
        await context.database.call(refresh_extraction_health, context.index, feed.name,
                                    context.settings.extraction_health)
    await context.polls.record(context.policy.poll_success(
        feed, utcnow(), etag=etag, last_modified=last_modified))
    # A poll that found nothing new is the common case: at INFO it drowned what happened.
    log.log(logging.INFO if new_entries else logging.DEBUG, "feed polled",
            extra={"event": "feed_polled", "feed": feed.name,
                   "not_modified": read.not_modified, "entries": len(entries),
                   "new_entries": len(new_entries)})
    context.observer.feed_done(feed.name, None)


async def _record_sitemap_failure(context: _RunContext, feed: FeedSettings, url: str,
                                  failure: IngestFailure) -> None:
    context.tally.failure_kinds[failure.kind.value] += 1
    await context.database.call(context.index.record_failure, context.tally.run_id, feed.name,
                                url, failure.kind.value, failure.detail, utcnow())
    log.warning("sitemap failed", extra={"event": "sitemap_failed", "feed": feed.name, "url": url,
                                         "kind": failure.kind.value, "detail": failure.detail})


async def _record_feed_failure(context: _RunContext, feed: FeedSettings,
                               failure: IngestFailure) -> None:
    now = utcnow()
    index = context.index
    context.tally.failure_kinds[failure.kind.value] += 1
    await context.database.call(index.record_failure, context.tally.run_id, feed.name,
                                feed.url, failure.kind.value, failure.detail, now)
    state = await context.database.call(
        index.record_poll_failure, feed.name, context.writer.tag, now, failure.kind.value,
        failure.detail, context.policy.after_failure(feed, now))
    log.warning("feed failed", extra={
        "event": "feed_failed", "feed": feed.name, "kind": failure.kind.value,
        "detail": failure.detail, "consecutive_failures": state.consecutive_failures,
        "suspended": state.suspended})
    if state.suspended:
        log.error("feed suspended", extra={
            "event": "feed_suspended", "feed": feed.name,
            "consecutive_failures": state.consecutive_failures,
            "resume": f"source-ingest feeds resume {feed.name}"})
    context.observer.feed_done(feed.name, failure.kind)


async def _process_entry(context: _RunContext, feed: FeedSettings, entry: FeedEntry,
                         stored_urls: dict[str, int]) -> EntryOutcome:
    try:
        outcome = await _ingest_entry(context, feed, entry, stored_urls)
    except IngestFailure as failure:
        outcome = await _record_entry_failure(context, feed, entry, failure)
    except DatabaseError:
        raise  # the database is gone: the run cannot record anything more
    except Exception as exc:
        # A bug must cost one article, not the run: record it with its traceback.
        log.exception("article crashed", extra={"event": "article_internal_error",
                                                "feed": feed.name, "url": entry.url})
        failure = IngestFailure(FailureKind.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        outcome = await _record_entry_failure(context, feed, entry, failure)
    _count_outcome(context, feed, outcome)
    return outcome


def _count_outcome(context: _RunContext, feed: FeedSettings, outcome: EntryOutcome) -> None:
    context.tally.outcomes[outcome] += 1
    context.observer.entry_done(feed.name, outcome)


async def _record_entry_failure(context: _RunContext, feed: FeedSettings, entry: FeedEntry,
                                failure: IngestFailure) -> EntryOutcome:
    outcome = EntryOutcome.RETRY if failure.kind.is_transient else EntryOutcome.FAILED
    context.tally.failure_kinds[failure.kind.value] += 1
    detail = detail_without_url(failure.detail, entry.url)
    index = context.index
    await context.database.call(index.record_failure, context.tally.run_id, feed.name,
                                entry.url, failure.kind.value, failure.detail, utcnow())
    await context.database.call(index.record_entry, feed.name, entry.key, _normal(entry.url),
                                outcome, failure_kind=failure.kind.value,
                                run_id=context.tally.run_id, failure_detail=detail)
    log.warning("article failed", extra={"event": "article_failed", "feed": feed.name,
                                         "url": entry.url, "kind": failure.kind.value,
                                         "detail": detail})
    return outcome


def _normal(url: str | None) -> str | None:
    return normalize_url(url) if url else None


async def _ingest_entry(context: _RunContext, feed: FeedSettings, entry: FeedEntry,
                        stored_urls: dict[str, int]) -> EntryOutcome:
    """`stored_urls`: the entries' URLs already stored when the feed was read."""
    if entry.url is None:
        raise IngestFailure(FailureKind.ENTRY_WITHOUT_LINK, f"entry {entry.key[:80]!r}")
    url = normalize_url(entry.url)
    if url in stored_urls:
        return await _settle(context, feed, entry, EntryOutcome.DUPLICATE, stored_urls[url])
    followed = await context.in_flight.follow(url, feed.name, functools.partial(
        context.database.call, context.index.entry_sequence))
    if followed is not None:
        return await _settle(context, feed, entry, *followed)
    return await context.in_flight.lead(url, feed.name, entry.key,
                                        _fetch_and_store(context, feed, entry, entry.url, url))


async def _fetch_and_store(context: _RunContext, feed: FeedSettings, entry: FeedEntry,
                           link: str, url: str) -> EntryOutcome:
    pace = await context.polite.admit(link, respect_robots=feed.obeys_robots(
        context.settings.fetch), access=feed.private_access)
    async with context.pages_in_hand:
        response = await context.fetcher.fetch(link, allowed_types=PAGE_TYPES,
                                               access=feed.private_access, pace=pace)
        if not response.body.strip():
            raise IngestFailure(FailureKind.EMPTY_RESPONSE, "page body is empty")
        extraction = await context.extraction.extract(
            feed, entry, response.body, response.charset, response.url,
            context.settings.dedupe.near_duplicates)
        if extraction.failure is not None:
            await context.database.call(context.failed_pages.keep, entry, response,
                                        extraction.failure)
            raise IngestFailure(*extraction.failure)
        article = extraction.article
        assert article is not None
        reason = rejection_reason((context.settings.filters, feed.filters), article.title,
                                  article.text, article.language)
        if reason is not None:
            log.info("article filtered out", extra={"event": "article_filtered",
                     "feed": feed.name, "url": entry.url, "reason": reason})
            return await _settle(context, feed, entry, EntryOutcome.FILTERED)
        request = store_request(context.settings, entry, url, extraction, response)
        return await context.stores.store(request, late=functools.partial(_count_outcome,
                                                                          context, feed))


async def _settle(context: _RunContext, feed: FeedSettings, entry: FeedEntry,
                  outcome: EntryOutcome, sequence: int | None = None) -> EntryOutcome:
    await context.database.call(context.index.record_entry, feed.name, entry.key,
                                _normal(entry.url), outcome, sequence=sequence,
                                run_id=context.tally.run_id)
    log.info(f"article {outcome}", extra={"event": f"article_{outcome}", "feed": feed.name,
                                         "url": entry.url, "of": sequence})
    return outcome
