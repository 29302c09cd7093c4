"""The extract stage in worker processes: each page's work (`ingest.run.page_work`) and each
feed's parse, in a pool of workers.

Extraction is CPU-bound, so a run hands pages to one worker process per core and awaits the
result; everything that crosses the process boundary is a frozen, picklable record.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

from config.settings import FeedSettings, LimitSettings
from ingest.extract.language import detect_language, warm_up_language_model
from ingest.records import FailureKind, FeedEntry, IngestFailure
from ingest.run.cpus import usable_cpus
from ingest.run.page_work import PageExtraction, extract_page

if TYPE_CHECKING:
    from ingest.sources.feed import ParsedFeed


class ExtractionPool:
    """Worker processes for `extract_page`: started at the first page, shut down with the run.

    Extraction is CPU-bound (about 6 ms a page); on the event loop it held up fetching and
    storing. In one worker per usable CPU (`ingest.run.cpus`; `[limits] extraction_workers`
    overrides it) it overlaps the loop's I/O and database work (bench/
    throughput.py). Workers are forked from a fork server that has imported the extractor,
    and the feed parser once (`_WORKER_MODULES`), so a worker starts in milliseconds.

    Each worker has its own pipe: a page goes to an idle worker (or waits in the pipe of a busy
    one, when small enough not to block the send), and the loop reads each result when the
    pipe turns readable. concurrent.futures' process pool did the same through two
    helper threads and a shared queue, about 0.8 CPU seconds per 720 pages in the fetch
    process (bench/throughput.py).

    Untrusted input cannot hold a worker: each task has a deadline from the moment its worker
    starts it (`limits`); a worker past it is killed and replaced, the task fails as
    EXTRACTION_TIMEOUT or PARSE_TIMEOUT, and the tasks queued behind it go to other workers.
    A worker that dies fails only the task it was working on, likewise. Each worker's address
    space is capped (`worker_memory_mb`): a page that needs more fails as PAGE_TOO_COMPLEX.
    """

    def __init__(self, workers: int | None = None,
                 limits: LimitSettings = LimitSettings()) -> None:  # noqa: B008 - frozen
        self._size = workers or limits.extraction_workers or usable_cpus()
        self._limits = limits
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._waiting: collections.deque[_Job] = collections.deque()
        self._pages_seen = False

    @property
    def size(self) -> int:
        """How many worker processes it runs (once started)."""
        return self._size

    async def extract(self, feed: FeedSettings, entry: FeedEntry, body: bytes,
                      charset: str | None, page_url: str,
                      near_duplicates: bool) -> PageExtraction:
        if not self._pages_seen:
            # The language model loads once per process (about 0.11 CPU s and 26 MB), in a
            # thread while the first page is extracted: a run that only polls feeds (all
            # 304, or feeds with nothing new) never loads it.
            self._pages_seen = True
            warm_up_language_model()
        result: PageExtraction = await self._submit(
            (extract_page, (feed, entry, body, charset, page_url, near_duplicates,
                            self._limits.max_page_tags), {}),
            self._limits.extraction_seconds, FailureKind.EXTRACTION_TIMEOUT)
        if result.article is None:
            return result
        # The language the source declares (a news sitemap's), else the stored text's,
        # detected in about a millisecond, in a thread.
        language = entry.language or await asyncio.to_thread(detect_language,
                                                             result.article.text)
        return dataclasses.replace(
            result, article=dataclasses.replace(result.article, language=language))

    async def parse_feed(self, body: bytes, *, feed_name: str, feed_url: str,
                         content_type: str | None) -> ParsedFeed:
        """`ingest.sources.feed.parse_feed` in a worker, within the feed-parse deadline."""
        from ingest.sources.feed import parse_feed

        result: ParsedFeed = await self._submit(
            (parse_feed, (body,), {"feed_name": feed_name, "feed_url": feed_url,
                                   "content_type": content_type}),
            self._limits.feed_parse_seconds, FailureKind.PARSE_TIMEOUT)
        return result

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)` in a worker: a pure, CPU-bound, module-level function
        (it is sent by name), within the extraction deadline. An IngestFailure it raises is
        raised here."""
        return await self._submit((function, args, kwargs), self._limits.extraction_seconds,
                                  FailureKind.EXTRACTION_TIMEOUT)

    async def _submit(self, task: _Task, seconds: float, overdue: FailureKind) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            for _ in range(self._size):
                self._start_worker()
        job = _Job(task=task, future=loop.create_future(), seconds=seconds, overdue=overdue)
        self._waiting.append(job)
        self._dispatch()
        return await job.future

    def close(self) -> None:
        for starting in self._starting:
            starting.cancel()
        for worker in list(self._workers):
            self._stop_worker(worker)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers.clear()
        while self._waiting:
            self._waiting.popleft().future.cancel()
        self._loop = None

    def _start_worker(self) -> None:
        """Start a worker in a thread: the first start waits for the fork server to import
        the extractor (a few hundred ms), which must not hold up the event loop."""
        assert self._loop is not None
        starting = self._loop.create_task(self._add_worker())
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)

    async def _add_worker(self) -> None:
        process, connection = await asyncio.to_thread(
            _started_worker, self._limits.worker_memory_mb)
        if self._loop is None:  # closed meanwhile
            connection.close()
            return
        worker = _Worker(process=process, connection=connection)
        self._workers.append(worker)
        self._loop.add_reader(connection.fileno(), self._result_ready, worker)
        self._dispatch()

    def _stop_worker(self, worker: _Worker) -> None:
        if self._loop is not None and not worker.connection.closed:
            self._loop.remove_reader(worker.connection.fileno())
        worker.connection.close()  # the worker reads end-of-file and leaves
        if worker.timer is not None:
            worker.timer.cancel()
        for job in worker.jobs:
            job.future.cancel()
        worker.jobs.clear()

    def _dispatch(self) -> None:
        while self._waiting:
            job = self._waiting[0]
            if job.future.done():
                self._waiting.popleft()  # its waiter was cancelled (a stop) meanwhile
                continue
            worker = self._worker_for(_payload_bytes(job.task))
            if worker is None:
                return
            self._waiting.popleft()
            try:
                payload = ForkingPickler.dumps(job.task)
            except Exception as exc:  # a function or value that cannot be sent: a bug
                job.future.set_exception(RuntimeError(f"cannot hand to a worker: {exc}"))
                continue
            worker.jobs.append(job)
            if len(worker.jobs) == 1:
                self._start_clock(worker)
            try:
                worker.connection.send_bytes(payload)
            except (OSError, ValueError):
                self._worker_died(worker)

    def _start_clock(self, worker: _Worker) -> None:
        """The deadline of the job the worker is working on (the first it has)."""
        assert self._loop is not None
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        if worker.jobs:
            job = worker.jobs[0]
            worker.timer = self._loop.call_later(job.seconds, self._overdue, worker, job)

    def _worker_for(self, size: int) -> _Worker | None:
        """An idle worker; else one busy with a single page, for a page small enough to wait
        in its pipe (a send never blocks the loop), so it starts the next page at once."""
        least = min(self._workers, key=lambda worker: len(worker.jobs), default=None)
        if least is None or len(least.jobs) >= _PAGES_PER_WORKER:
            return None
        if least.jobs and size > _QUEUED_PAGE_BYTES:
            return None
        return least

    def _result_ready(self, worker: _Worker) -> None:
        try:
            outcome = worker.connection.recv()
        except (EOFError, OSError):
            self._worker_died(worker)
            return
        job = worker.jobs.popleft() if worker.jobs else None
        self._start_clock(worker)
        if job is not None and not job.future.done():
            if isinstance(outcome, _Crash):
                job.future.set_exception(RuntimeError(outcome.detail))
            elif isinstance(outcome, _Failed):
                job.future.set_exception(IngestFailure(outcome.kind, outcome.detail))
            else:
                job.future.set_result(outcome)
        if isinstance(outcome, _Failed) and outcome.worker_leaves:
            self._replace(worker, None)  # its queued jobs were never started: all go on
            return
        self._dispatch()

    def _overdue(self, worker: _Worker, job: _Job) -> None:
        if worker not in self._workers or not worker.jobs or worker.jobs[0] is not job:
            return
        worker.timer = None
        worker.process.kill()  # SIGKILL: a regular expression or parser never yields
        self._replace(worker, IngestFailure(
            job.overdue, f"took more than {job.seconds:g} s; its worker was replaced"))

    def _worker_died(self, worker: _Worker) -> None:
        # Killed, or a crash in the HTML parser: the job it was on fails, the others go on.
        self._replace(worker, IngestFailure(FailureKind.INTERNAL_ERROR,
                                            "the extraction worker process died"))

    def _replace(self, worker: _Worker, failure: IngestFailure | None) -> None:
        """Fail the job `worker` was on with `failure` (None: it was on none), hand the jobs
        queued behind it to the others, and start a new worker in its place."""
        jobs = list(worker.jobs)
        worker.jobs.clear()
        self._stop_worker(worker)
        if worker in self._workers:
            self._workers.remove(worker)
        if failure is not None and jobs:
            first = jobs.pop(0)
            if not first.future.done():
                first.future.set_exception(failure)
        self._waiting.extendleft(reversed(jobs))
        # Reaped in a thread: join() on the loop would wait for the process to exit.
        assert self._loop is not None
        reaping = self._loop.create_task(asyncio.to_thread(worker.process.join, 5))
        self._starting.add(reaping)
        reaping.add_done_callback(self._starting.discard)
        self._start_worker()
        self._dispatch()


# A worker gets a second page while it works on one (as concurrent.futures' pool queued one
# ahead), so it never waits for the loop between pages; the second waits in the pipe, whose
# buffer (about 200 KB for a socket pair on Linux) must hold it for the send not to block.
_PAGES_PER_WORKER = 2
_QUEUED_PAGE_BYTES = 128 * 1024  # of page body, leaving room for the rest of the task

_Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _payload_bytes(task: _Task) -> int:
    """The bytes a task sends, nearly all of them: those of its page or feed."""
    _, args, kwargs = task
    return sum(len(value) for value in (*args, *kwargs.values()) if isinstance(value, bytes))


@dataclass(frozen=True)
class _Job:
    """A task for a worker, the future of its result, and its deadline once started."""

    task: _Task
    future: asyncio.Future[Any]
    seconds: float
    overdue: FailureKind  # the failure kind when the deadline passes


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: multiprocessing.connection.Connection
    # Jobs sent and not yet answered, in the order the worker answers them.
    jobs: collections.deque[_Job] = field(default_factory=collections.deque)
    timer: asyncio.TimerHandle | None = None  # the deadline of jobs[0]


@dataclass(frozen=True)
class _Failed:
    """An IngestFailure raised in a worker (it does not survive pickling as an exception)."""

    kind: FailureKind
    detail: str
    worker_leaves: bool = False  # the worker exits after this answer (out of memory)


@dataclass(frozen=True)
class _Crash:
    """An exception `extract_page` raised in a worker (a bug: it returns failures as data)."""

    detail: str


def _started_worker(memory_mb: int) -> tuple[multiprocessing.process.BaseProcess,
                                             multiprocessing.connection.Connection]:
    """A new worker process and the service's end of its pipe (blocking: run in a thread)."""
    parent_end, child_end = multiprocessing.Pipe()
    process = _worker_context().Process(  # type: ignore[attr-defined]
        target=_serve, args=(child_end, memory_mb), name="extraction", daemon=True)
    process.start()
    child_end.close()
    return process, parent_end


def _serve(connection: multiprocessing.connection.Connection, memory_mb: int) -> None:
    """A worker's life: extract the pages that come down the pipe until it closes."""
    _exit_with_parent(os.getppid())
    _cap_memory(memory_mb)
    # What the fork server imported is shared with it and the other workers until written:
    # frozen, the collector neither scans those objects again nor writes to their headers.
    gc.freeze()
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        function, args, kwargs = task
        try:
            outcome = function(*args, **kwargs)
        except IngestFailure as failure:
            outcome = _Failed(failure.kind, failure.detail)
        except MemoryError:
            # Over the address-space cap. Answered, then this worker leaves: a fresh one
            # replaces it rather than one whose heap the page left fragmented.
            del args, kwargs, task
            connection.send(_Failed(FailureKind.PAGE_TOO_COMPLEX,
                                    f"needed more than the {memory_mb} MB one page may use",
                                    worker_leaves=True))
            return
        except Exception as exc:
            outcome = _Crash(f"{type(exc).__name__}: {exc}")
        try:
            connection.send(outcome)
        except OSError:  # the service closed its end (stopped or interrupted): nobody to answer
            return


def _cap_memory(memory_mb: int) -> None:
    """Cap the worker's address space at what it holds at start plus `memory_mb`: a page that
    needs more gets MemoryError instead of taking the host's memory (a million tiny
    paragraphs peaked at 1.6 GB, an ordinary page at 52 MB: bench/hostile.py)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except OSError:  # not Linux: no cap (the tag bound and the deadline still hold)
        return
    limit = pages * os.sysconf("SC_PAGE_SIZE") + memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


# What every worker needs, imported once in the fork server and inherited by each worker it
# forks; a run whose feeds all answer 304 starts no worker and loads none of it. Not numpy:
# importing it starts an OpenBLAS thread, and the fork server must stay single-threaded to
# fork safely; each worker imports it at its first signature (40 ms).
_WORKER_MODULES = ["ingest.run.worker_pool", "ingest.run.page_work", "ingest.fetch.decode",
                   "ingest.extract.article", "ingest.sources.feed", "bs4"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server: forking the service itself would copy a process that
    runs threads (the resolver's, the store lane's, the database lane's), which Python 3.12
    warns about and 3.14 no longer does by default."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # not on Linux: slower, as safe
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_WORKER_MODULES)
    return context


def _exit_with_parent(parent: int) -> None:
    """In each worker: leave when the service dies, even in the middle of a page.

    A service killed by SIGKILL (or the OOM killer) leaves workers behind unless they notice:
    orphans after every crash, found by tests/end_to_end/test_crash_safety.py. End-of-file on
    the pipe tells a waiting worker; re-parenting tells a busy one (its parent, the fork
    server, leaves when the service's end of its own pipe closes).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
