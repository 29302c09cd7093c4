"""Successful polls, recorded a batch per transaction (on the database lane)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from storage.feeds import PollSuccess


class PollRecorder:
    """Writes the run's successful polls together: the first waits up to `gather_seconds`
    for company (at most `max_batch`), then one transaction records them all.

    A poll of 1,000 feeds that all answer 304 spent a tenth of its CPU time on a transaction
    per feed (bench/throughput.py not-modified). `record` returns once its poll is written,
    so a feed is done only when its poll is; a write that fails raises for every poll in it.
    A caller cancelled while waiting leaves its poll to be written anyway: the feed was polled,
    and `flush` at the end of a run writes whatever is still waiting.
    """

    def __init__(self, write: Callable[[Sequence[PollSuccess]], Awaitable[None]], *,
                 max_batch: int = 64, gather_seconds: float = 0.05) -> None:
        self._write = write
        self._max_batch = max_batch
        self._gather_seconds = gather_seconds
        self._waiting: list[tuple[PollSuccess, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[Exception | None]] = set()

    async def record(self, poll: PollSuccess) -> None:
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._waiting.append((poll, written))
        if len(self._waiting) >= self._max_batch:
            self._start_write()
        elif self._timer is None:
            self._timer = loop.call_later(self._gather_seconds, self._start_write)
        await asyncio.shield(written)

    async def flush(self) -> None:
        """Write every poll waiting, now, and wait for the writes under way; raises what the
        last failed write raised."""
        self._start_write()
        results = await asyncio.gather(*self._writes) if self._writes else []
        failures = [result for result in results if result is not None]
        if failures:
            raise failures[-1]

    def _start_write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._write_batch(batch))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_batch(self, batch: list[tuple[PollSuccess, asyncio.Future[None]]]
                           ) -> Exception | None:
        try:
            await self._write([poll for poll, _ in batch])
        except Exception as exc:
            for _, written in batch:
                if not written.done():
                    written.set_exception(exc)
                    # A caller cancelled meanwhile never reads it: no "never retrieved" noise.
                    written.exception()
            return exc
        for _, written in batch:
            if not written.done():
                written.set_result(None)
        return None
