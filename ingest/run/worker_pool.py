"""The extract stage in worker processes: decode, extract, normalise and sign each page.

Extraction is CPU-bound, so a run hands pages to one worker process per core and awaits the
result; everything that crosses the process boundary is a frozen, picklable record.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

from config.settings import FeedSettings
from ingest.dedupe.normalize import normalize_text
from ingest.records import (
    Article,
    ExtractionHints,
    FailureKind,
    FeedEntry,
    IngestFailure,
    content_hash,
    storable_text,
)

if TYPE_CHECKING:
    from ingest.dedupe.near_duplicates import TextSignature


@dataclass(frozen=True)
class PageExtraction:
    """A page's article and its near-duplicate signature, or why there is no article."""

    article: Article | None
    signature: TextSignature | None
    failure: tuple[FailureKind, str] | None


def extract_page(feed: FeedSettings, entry: FeedEntry, body: bytes, charset: str | None,
                 page_url: str, near_duplicates: bool) -> PageExtraction:
    """Decode, extract, normalise and sign one page (pure and CPU-bound: runs in a worker)."""
    from ingest.fetch.decode import decode_html

    try:
        article = build_article(feed, entry, decode_html(body, charset).text, page_url)
    except IngestFailure as failure:
        # IngestFailure does not survive pickling (its args are not its __init__'s), so it
        # crosses the process boundary as data.
        return PageExtraction(article=None, signature=None,
                              failure=(failure.kind, failure.detail))
    if not near_duplicates:
        return PageExtraction(article=article, signature=None, failure=None)
    from ingest.dedupe.near_duplicates import text_signature

    signature = text_signature(article.text)
    return PageExtraction(article=article, signature=signature, failure=None)


class ExtractionPool:
    """Worker processes for `extract_page`: started at the first page, shut down with the run.

    Extraction is CPU-bound (about 6 ms a page); on the event loop it held up fetching and
    storing. In one worker per core it overlaps the loop's I/O and database work (bench/
    throughput.py). Workers are forked from a fork server that has imported the extractor,
    the feed parser and numpy once (`_WORKER_MODULES`), so a worker starts in milliseconds.

    Each worker has its own pipe: a page goes to an idle worker (or waits in the pipe of a busy
    one, when small enough not to block the send), and the loop reads each result when the
    pipe turns readable. concurrent.futures' process pool did the same through two
    helper threads and a shared queue, about 0.8 CPU seconds per 720 pages in the fetch
    process (bench/throughput.py). A worker that dies fails only the page it held; a new one
    is forked in its place.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._size = workers or cpu_cores()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._waiting: collections.deque[tuple[_Task, asyncio.Future[Any]]] = \
            collections.deque()

    async def extract(self, feed: FeedSettings, entry: FeedEntry, body: bytes,
                      charset: str | None, page_url: str,
                      near_duplicates: bool) -> PageExtraction:
        result: PageExtraction = await self.run(
            extract_page, feed, entry, body, charset, page_url, near_duplicates)
        return result

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)` in a worker: a pure, CPU-bound, module-level function
        (it is sent by name) such as `extract_page` or `ingest.sources.feed.parse_feed`. An
        IngestFailure it raises is raised here."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            for _ in range(self._size):
                self._start_worker()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append(((function, args, kwargs), future))
        self._dispatch()
        return await future

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
            _, future = self._waiting.popleft()
            future.cancel()
        self._loop = None

    def _start_worker(self) -> None:
        """Start a worker in a thread: the first start waits for the fork server to import
        the extractor (a few hundred ms), which must not hold up the event loop."""
        assert self._loop is not None
        starting = self._loop.create_task(self._add_worker())
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)

    async def _add_worker(self) -> None:
        process, connection = await asyncio.to_thread(_started_worker)
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
        for future in worker.futures:
            future.cancel()
        worker.futures.clear()

    def _dispatch(self) -> None:
        while self._waiting:
            task, future = self._waiting[0]
            if future.done():
                self._waiting.popleft()  # its waiter was cancelled (a stop) meanwhile
                continue
            worker = self._worker_for(_payload_bytes(task))
            if worker is None:
                return
            self._waiting.popleft()
            try:
                payload = ForkingPickler.dumps(task)
            except Exception as exc:  # a function or value that cannot be sent: a bug
                future.set_exception(RuntimeError(f"cannot hand to a worker: {exc}"))
                continue
            worker.futures.append(future)
            try:
                worker.connection.send_bytes(payload)
            except (OSError, ValueError):
                self._worker_died(worker)

    def _worker_for(self, size: int) -> _Worker | None:
        """An idle worker; else one busy with a single page, for a page small enough to wait
        in its pipe (a send never blocks the loop), so it starts the next page at once."""
        least = min(self._workers, key=lambda worker: len(worker.futures), default=None)
        if least is None or len(least.futures) >= _PAGES_PER_WORKER:
            return None
        if least.futures and size > _QUEUED_PAGE_BYTES:
            return None
        return least

    def _result_ready(self, worker: _Worker) -> None:
        try:
            outcome = worker.connection.recv()
        except (EOFError, OSError):
            self._worker_died(worker)
            return
        future = worker.futures.popleft() if worker.futures else None
        if future is not None and not future.done():
            if isinstance(outcome, _Crash):
                future.set_exception(RuntimeError(outcome.detail))
            elif isinstance(outcome, _Failed):
                future.set_exception(IngestFailure(outcome.kind, outcome.detail))
            else:
                future.set_result(outcome)
        self._dispatch()

    def _worker_died(self, worker: _Worker) -> None:
        futures = list(worker.futures)
        worker.futures.clear()
        self._stop_worker(worker)
        self._workers.remove(worker)
        worker.process.join(timeout=1)
        for future in futures:
            if not future.done():
                # Killed, or a crash in the HTML parser: its pages fail, the others go on.
                future.set_exception(IngestFailure(FailureKind.INTERNAL_ERROR,
                                                   "the extraction worker process died"))
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


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: multiprocessing.connection.Connection
    # Pages sent and not yet answered, in the order the worker answers them.
    futures: collections.deque[asyncio.Future[Any]] = field(
        default_factory=collections.deque)


@dataclass(frozen=True)
class _Failed:
    """An IngestFailure raised in a worker (it does not survive pickling as an exception)."""

    kind: FailureKind
    detail: str


@dataclass(frozen=True)
class _Crash:
    """An exception `extract_page` raised in a worker (a bug: it returns failures as data)."""

    detail: str


def _started_worker() -> tuple[multiprocessing.process.BaseProcess,
                              multiprocessing.connection.Connection]:
    """A new worker process and the service's end of its pipe (blocking: run in a thread)."""
    parent_end, child_end = multiprocessing.Pipe()
    process = _worker_context().Process(  # type: ignore[attr-defined]
        target=_serve, args=(child_end,), name="extraction", daemon=True)
    process.start()
    child_end.close()
    return process, parent_end


def _serve(connection: multiprocessing.connection.Connection) -> None:
    """A worker's life: extract the pages that come down the pipe until it closes."""
    _exit_with_parent(os.getppid())
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
        except Exception as exc:
            outcome = _Crash(f"{type(exc).__name__}: {exc}")
        connection.send(outcome)


def build_article(feed: FeedSettings, entry: FeedEntry, html: str, page_url: str) -> Article:
    """Extract and normalise the article of one page (pure: no I/O)."""
    hints = ExtractionHints(title=entry.title, summary=_plain_summary(entry.summary_html),
                            content_html=entry.content_html, published=entry.published)
    from ingest.extract.article import extract_article

    extracted = extract_article(html, page_url, hints, feed.rules)
    # The last point before the text is hashed and stored: a NUL or lone surrogate that came
    # through the page or its JSON-LD is dropped here, for this article alone.
    text = storable_text(normalize_text(extracted.paragraphs))
    if not text:
        raise IngestFailure(FailureKind.NO_ARTICLE_TEXT, f"nothing extracted from {page_url}")
    published: date | None = entry.published or extracted.published
    return Article(feed_name=feed.name, url=page_url,
                   title=storable_text(entry.title or extracted.title),
                   text=text, published=published, content_hash=content_hash(text),
                   method=extracted.method)


def _plain_summary(summary_html: str) -> str:
    if "<" not in summary_html:
        return summary_html
    from bs4 import BeautifulSoup

    return BeautifulSoup(summary_html, "html.parser").get_text(" ", strip=True)


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# What every worker needs, imported once in the fork server and inherited by each worker it
# forks; a run whose feeds all answer 304 starts no worker and loads none of it. Not numpy:
# importing it starts an OpenBLAS thread, and the fork server must stay single-threaded to
# fork safely; each worker imports it at its first signature (40 ms).
_WORKER_MODULES = ["ingest.run.worker_pool", "ingest.fetch.decode", "ingest.extract.article",
                   "ingest.sources.feed", "bs4"]


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
