"""The index's view of archived failed pages: entries whose page gave no text, kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, insert, select

from ingest.records import EntryOutcome
from storage.database import Database
from storage.entries import stored_entry_key
from storage.schema import entries, failed_pages


@dataclass(frozen=True)
class FailedPageRow:
    """An entry still failed whose page is archived: what re-extraction tries again."""

    feed: str
    entry_key: str
    entry_url: str | None  # the entry's normalised link, as the entry is recorded
    url: str
    failure_kind: str
    archive_file: str
    archive_offset: int
    archive_length: int


class FailedPageRows(Database):
    def record_failed_page(self, feed: str, key: str, url: str, failure_kind: str,
                           location: tuple[str, int, int], now: datetime) -> None:
        """Where an entry's failed page is archived (the newest try's records)."""
        entry_key = stored_entry_key(key)
        file_name, offset, length = location
        with self._transaction() as conn:
            conn.execute(delete(failed_pages).where(failed_pages.c.feed == feed,
                                                    failed_pages.c.entry_key == entry_key))
            conn.execute(insert(failed_pages).values(
                feed=feed, entry_key=entry_key, url=url, failure_kind=failure_kind,
                archive_file=file_name, archive_offset=offset, archive_length=length, at=now))

    def failed_archived_pages(self, feeds: Sequence[str] = (),
                              since: date | None = None) -> list[FailedPageRow]:
        """Archived pages of entries that are failed still, oldest first."""
        conditions = [entries.c.status == EntryOutcome.FAILED]
        if feeds:
            conditions.append(failed_pages.c.feed.in_(list(feeds)))
        if since is not None:
            conditions.append(failed_pages.c.at >= since)
        statement = select(
            failed_pages.c.feed, failed_pages.c.entry_key, entries.c.url.label("entry_url"),
            failed_pages.c.url,
            failed_pages.c.failure_kind, failed_pages.c.archive_file,
            failed_pages.c.archive_offset, failed_pages.c.archive_length,
        ).join(entries, and_(entries.c.feed == failed_pages.c.feed,
                             entries.c.entry_key == failed_pages.c.entry_key)
               ).where(and_(*conditions)).order_by(failed_pages.c.at, failed_pages.c.feed,
                                                   failed_pages.c.entry_key)
        with self._transaction() as conn:
            return [FailedPageRow(**row._mapping) for row in conn.execute(statement)]
