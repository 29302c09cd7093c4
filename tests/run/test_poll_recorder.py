"""The poll recorder: a run's successful polls written a batch per transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ingest.run.poll_recorder import PollRecorder
from storage.database import DatabaseError
from storage.feeds import PollSuccess

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _poll(name: str) -> PollSuccess:
    return PollSuccess(feed=name, polled_at=NOW, next_poll_at=NOW, etag=None,
                       last_modified=None)


class _Writes:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def __call__(self, polls: Sequence[PollSuccess]) -> None:
        await asyncio.sleep(0)  # written elsewhere (the database lane), as in a run
        if self.fail:
            raise DatabaseError("disk I/O error")
        self.batches.append([poll.feed for poll in polls])


def test_polls_finishing_together_are_written_in_one_batch_before_record_returns() -> None:
    writes = _Writes()

    async def main() -> None:
        recorder = PollRecorder(writes, gather_seconds=0.05)
        await asyncio.gather(*(recorder.record(_poll(f"feed-{i}")) for i in range(5)))
        assert writes.batches == [[f"feed-{i}" for i in range(5)]]

    asyncio.run(main())


def test_a_full_batch_is_written_at_once_without_waiting_for_the_gather_time() -> None:
    writes = _Writes()

    async def main() -> None:
        recorder = PollRecorder(writes, max_batch=3, gather_seconds=30)
        await asyncio.wait_for(asyncio.gather(*(recorder.record(_poll(f"f{i}"))
                                                for i in range(3))), timeout=5)
        assert writes.batches == [["f0", "f1", "f2"]]

    asyncio.run(main())


def test_a_failed_write_raises_for_every_poll_in_it() -> None:
    writes = _Writes(fail=True)

    async def main() -> None:
        recorder = PollRecorder(writes, gather_seconds=0.01)
        results = await asyncio.gather(*(recorder.record(_poll(f"f{i}")) for i in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(result, DatabaseError) for result in results)

    asyncio.run(main())


def test_a_poll_whose_caller_was_cancelled_is_still_written_by_flush() -> None:
    writes = _Writes()

    async def main() -> None:
        recorder = PollRecorder(writes, gather_seconds=30)
        waiting = asyncio.ensure_future(recorder.record(_poll("stopped")))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert writes.batches == []
        await recorder.flush()
        assert writes.batches == [["stopped"]]
        await recorder.flush()  # nothing left: no empty transaction
        assert writes.batches == [["stopped"]]

    asyncio.run(main())


def test_flush_raises_what_the_write_raised() -> None:
    writes = _Writes(fail=True)

    async def main() -> None:
        recorder = PollRecorder(writes, gather_seconds=30)
        waiting = asyncio.ensure_future(recorder.record(_poll("f")))
        await asyncio.sleep(0)
        with pytest.raises(DatabaseError):
            await recorder.flush()
        with pytest.raises(DatabaseError):
            await waiting

    asyncio.run(main())
