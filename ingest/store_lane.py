"""The store lane: a run's store steps, one at a time, on one thread off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("source_ingest.pipeline")


class StoreLane:
    """One thread that runs the store steps of a run in turn, off the event loop.

    A store step (duplicate lookups, the "writing" row, the file write with its fsync, the
    completion) has no await inside, so a stop cannot split it and leave a reserved row in a
    live process. In a thread its fsync and SQLite time no longer holds up fetching (bench/
    throughput.py); one thread, so stores never wait on each other's SQLite write lock. A stop
    cancels only the coroutine waiting for a step: the step runs to completion, its outcome is
    still counted (`late`), and `drain` waits for every step before the run is recorded.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._pending: set[asyncio.Future[str]] = set()

    async def run(self, step: Callable[[], str], late: Callable[[str], None]) -> str:
        future = asyncio.wrap_future(self._executor.submit(step))
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(functools.partial(_late_outcome, late))
            raise

    async def drain(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending))

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _late_outcome(late: Callable[[str], None], future: asyncio.Future[str]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is None:
        late(future.result())
    else:
        log.error("store failed after the run was stopped",
                  extra={"event": "article_store_error", "error": repr(error)})
