"""The store lane: a run's store requests, in batches, on one thread off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from ingest.records import EntryOutcome

log = logging.getLogger("source_ingest.pipeline")

Request = TypeVar("Request")
# A request's result: its outcome, or the exception to raise for it.
Result = EntryOutcome | Exception
_STOP = object()


class StoreLane(Generic[Request]):
    """One thread that stores what the run hands it, a batch at a time, off the event loop.

    `store_batch` takes every request waiting (at most `max_batch`; after the first, it waits
    up to `gather_seconds` for company) and returns one result per request: a batch pays for
    its transactions and its directory fsync once (bench/throughput.py). A batch has no await
    inside, so a stop cannot split it and leave a reserved row in a live process; one thread,
    so batches never wait on each other's SQLite write lock. A stop cancels only the coroutines
    waiting for results: the batch runs to completion, each outcome is still counted (`late`),
    and `drain` waits for every request before the run is recorded.
    """

    def __init__(self, store_batch: Callable[[list[Request]], list[Result]], *,
                 max_batch: int = 64, gather_seconds: float = 0.05) -> None:
        self._store_batch = store_batch
        self._max_batch = max_batch
        self._gather_seconds = gather_seconds
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending: set[asyncio.Future[Result]] = set()

    async def store(self, request: Request,
                    late: Callable[[EntryOutcome], None]) -> EntryOutcome:
        """The request's outcome; raises what storing it raised."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="store")
            self._thread.start()
        done: concurrent.futures.Future[Result] = concurrent.futures.Future()
        self._queue.put((request, done))
        future = asyncio.wrap_future(done)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(functools.partial(_late_outcome, late))
            raise
        if isinstance(result, Exception):
            raise result
        return result

    async def drain(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._gather_seconds
            while len(batch) < self._max_batch:
                try:
                    waiting = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
                if waiting is _STOP:
                    stopping = True
                    break
                batch.append(waiting)
            self._run(batch)  # type: ignore[arg-type]

    def _run(self, batch: list[tuple[Request, concurrent.futures.Future[Result]]]) -> None:
        try:
            results: list[Result] = self._store_batch([request for request, _ in batch])
        except Exception as exc:  # the whole batch failed (the database is gone, say)
            results = [exc] * len(batch)
        for (_, done), result in zip(batch, results, strict=True):
            done.set_result(result)


def _late_outcome(late: Callable[[EntryOutcome], None],
                  future: asyncio.Future[Result]) -> None:
    if future.cancelled():
        return
    result = future.result()
    if isinstance(result, EntryOutcome):
        late(result)
    else:
        log.error("store failed after the run was stopped",
                  extra={"event": "article_store_error", "error": repr(result)})
