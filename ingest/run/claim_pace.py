"""How often a scheduled run claims more due feeds once it has caught up with the schedule.

A run claims again as its polls finish. While feeds are overdue every claim fills the batch;
once the run has caught up, feeds fall due one by one (100,000 feeds at a 10-minute interval
is 167 a second), and a claim at every finished poll took about one feed each: a claim
statement per poll. So after a claim that came back short, the next waits `pause` seconds
(a feed then waits about that long past its slot), woken by a timer if no poll finishes:
so a run whose other polls are slow still takes the feeds that fall due meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

CLAIM_PAUSE_SECONDS = 0.5


class ClaimPace:
    def __init__(self, wake: Callable[[], None], pause: float = CLAIM_PAUSE_SECONDS) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = wake  # makes the run look at the pace again (a no-op item in its queue)
        self._pause = pause
        self._not_before = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def ready(self, pending: int) -> bool:
        """Whether to claim now. With polls still pending the timer set by `claimed` wakes
        the run when it may; with none left it waits out the pause here (ending instead would
        leave feeds that fall due meanwhile to the next check)."""
        wait = self._not_before - self._loop.time()
        if wait <= 0:
            return True
        if not pending:
            await asyncio.sleep(wait)
            return True
        return False

    def claimed(self, asked: int, got: int) -> None:
        """After a claim: one that came back short makes the next wait for the pause, and
        its own timer then wakes the run even if none of its polls has finished. (An earlier
        timer may still be due: the pause can end before its timer has run.)"""
        self.close()
        if got >= asked:
            self._not_before = 0.0
            return
        self._not_before = self._loop.time() + self._pause
        self._timer = self._loop.call_at(self._not_before, self._woken)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _woken(self) -> None:
        self._timer = None
        self._not_before = 0.0  # the pause is over, even if the timer ran a hair early
        self._wake()
