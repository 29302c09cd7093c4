"""Article pages being fetched in this run, by normalised URL: an entry linking a page that
another entry (of this feed or another) is already fetching waits for that one instead of
fetching it again. A feed whose 1,000 entries all linked one page made 1,000 requests to it
in one poll; now it makes one, and the other 999 are settled as its duplicates. The outcomes
of the last `_REMEMBERED` pages stay known for the rest of the run: an entry that comes
after its page's fetch ended (a fast failure) follows it too."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ingest.records import EntryOutcome, IngestFailure

_REMEMBERED = 4096  # URLs (about 1 MB at most)

# (feed, entry key) -> the article sequence recorded for that entry, if any.
SequenceLookup = Callable[[str, str], Awaitable[int | None]]


@dataclass(frozen=True)
class LeadingEntry:
    """The entry fetching a page, and the outcome its followers wait for."""

    feed: str
    key: str
    outcome: asyncio.Future[EntryOutcome]


class PagesInFlight:
    """Owned by one run; every call is on its event loop (no lock needed)."""

    def __init__(self) -> None:
        self._pages: dict[str, LeadingEntry] = {}
        self._finished: OrderedDict[str, LeadingEntry] = OrderedDict()

    async def follow(self, url: str, feed: str, sequence_of: SequenceLookup,
                     ) -> tuple[EntryOutcome, int | None] | None:
        """`followed_outcome` of the entry fetching `url`; None when none is (or when this
        entry must fetch it after all)."""
        leader = self._pages.get(url) or self._finished.get(url)
        return None if leader is None else await followed_outcome(leader, feed, sequence_of)

    async def lead(self, url: str, feed: str, key: str,
                   work: Awaitable[EntryOutcome]) -> EntryOutcome:
        """Await `work` (the fetch and store of `url`) as the entry others follow."""
        leading = LeadingEntry(feed, key, asyncio.get_running_loop().create_future())
        self._pages[url] = leading
        try:
            outcome = await work
        except BaseException as exc:
            self._finish(url, leading, exc)
            raise
        self._finish(url, leading, outcome)
        return outcome

    def _finish(self, url: str, leading: LeadingEntry,
               result: EntryOutcome | BaseException) -> None:
        """The leader is done: its followers, and entries of this run that come later, get
        `result` (a cancelled or crashed leader's are left to fetch for themselves)."""
        if self._pages.get(url) is leading:
            del self._pages[url]
            self._finished[url] = leading
            if len(self._finished) > _REMEMBERED:
                self._finished.popitem(last=False)
        if leading.outcome.done():
            return
        if isinstance(result, EntryOutcome):
            leading.outcome.set_result(result)
        elif isinstance(result, asyncio.CancelledError):
            leading.outcome.cancel()
        else:
            leading.outcome.set_exception(result)
        # Retrieved here so an outcome nobody waited for is not reported as never retrieved.
        if not leading.outcome.cancelled():
            leading.outcome.exception()


async def followed_outcome(leader: LeadingEntry, feed: str, sequence_of: SequenceLookup,
                           ) -> tuple[EntryOutcome, int | None] | None:
    """What an entry whose page `leader` was fetching comes to: the leader's failure (raised
    as this entry's own), or a duplicate of what it stored, with the sequence to record; None
    when this entry must fetch the page itself."""
    try:
        outcome = await asyncio.shield(leader.outcome)
    except IngestFailure as failure:
        raise IngestFailure(failure.kind, failure.detail) from None
    except asyncio.CancelledError:
        if not leader.outcome.cancelled():
            raise  # this entry itself is being cancelled (a stop)
        return None
    except Exception:
        return None  # the leader crashed (a bug): this entry tries on its own
    if outcome is EntryOutcome.FILTERED:
        # Filters are per feed: the same page may pass this feed's.
        return (outcome, None) if leader.feed == feed else None
    if outcome not in (EntryOutcome.STORED, EntryOutcome.DUPLICATE,
                       EntryOutcome.NEAR_DUPLICATE):
        return None
    sequence = await sequence_of(leader.feed, leader.key)
    if outcome is EntryOutcome.NEAR_DUPLICATE:
        return EntryOutcome.NEAR_DUPLICATE, sequence
    return EntryOutcome.DUPLICATE, sequence
