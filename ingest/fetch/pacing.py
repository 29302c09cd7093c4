"""Per-host pacing: a minimum interval between requests to one host, and host-wide holds.

Two steps, because a run holds a bounded number of pages in hand: `wait_turn` hands out
turns in order before the caller takes a place (1,000 articles of one host then wait here,
not in the places every other host needs), and `before_request`, called with the host's
concurrency slot held, enforces the interval between the requests actually sent, so no
contention after the turn can bunch two requests together.

A 429 or 503 with Retry-After `hold`s the whole host: every request to it waits, whichever
feed or article it is for.
"""

from __future__ import annotations

import asyncio

# Hosts whose last turn ended this long ago are forgotten: a long run visits many hosts.
_FORGET_AFTER_SECONDS = 3600.0
_PRUNE_ABOVE = 4096


class HostPacer:
    """Turns and holds per host, for one fetcher; times are the event loop's clock."""

    def __init__(self) -> None:
        self._next_turn: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._held_until: dict[str, float] = {}

    async def wait_turn(self, host: str, interval: float) -> None:
        """Wait for this request's turn at `host`: turns are `interval` seconds apart."""
        if interval <= 0:
            await self._wait_hold(host)
            return
        now = _now()
        turn = max(now, self._next_turn.get(host, now))
        self._next_turn[host] = turn + interval
        self._prune(now)
        if turn > now:
            await asyncio.sleep(turn - now)
        await self._wait_hold(host)

    async def before_request(self, host: str, interval: float, *,
                             honour_hold: bool = True) -> float:
        """Wait until `interval` has passed since the last request sent to `host` (and any
        hold is over, unless the caller has just waited it out); the seconds waited.
        `mark_sent` then counts the request as sent."""
        waited = 0.0
        while True:
            now = _now()
            ready = max(self._held_until.get(host, 0.0) if honour_hold else 0.0,
                        self._last_start.get(host, -interval) + interval if interval > 0
                        else 0.0)
            if ready <= now:
                return waited
            await asyncio.sleep(ready - now)
            waited += _now() - now

    def mark_sent(self, host: str, interval: float) -> None:
        if interval > 0:
            self._last_start[host] = _now()

    def hold(self, host: str, seconds: float) -> None:
        """No request to `host` before `seconds` from now (the server's Retry-After)."""
        until = _now() + seconds
        if until > self._held_until.get(host, 0.0):
            self._held_until[host] = until

    def held_for(self, host: str) -> float:
        """Seconds left of the host's hold (0 when none)."""
        return max(0.0, self._held_until.get(host, 0.0) - _now())

    async def _wait_hold(self, host: str) -> None:
        while (left := self.held_for(host)) > 0:
            await asyncio.sleep(left)

    def _prune(self, now: float) -> None:
        for table in (self._next_turn, self._last_start, self._held_until):
            if len(table) > _PRUNE_ABOVE:
                for host in [h for h, at in table.items() if at < now - _FORGET_AFTER_SECONDS]:
                    del table[host]


def _now() -> float:
    return asyncio.get_running_loop().time()
