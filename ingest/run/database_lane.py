"""The database lane: index calls made from async code run on a thread of their own.

A locked or slow database (another process holding SQLite's write lock, a PostgreSQL lock or
failover) then delays only database work: fetches in flight keep their deadlines and the HTTP
status API keeps answering, where a call on the event loop froze both for as long as the
database took (up to the 60 s busy timeout).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseLane:
    """One thread for a run's index calls: in order, as they were on the loop, so a feed's
    writes never race each other; the store lane has its own thread for articles."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="index")

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args, **kwargs)` on the lane. A caller cancelled meanwhile does not stop
        the call: a database write in progress is finished, never cut in half."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          functools.partial(function, *args, **kwargs))

    def close(self) -> None:
        """Wait for the calls already handed over, then end the thread."""
        self._executor.shutdown(wait=True)
