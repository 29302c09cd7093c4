"""The index's side of extraction health: each feed's recent signals and its verdict."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update

from ingest.records import EntryOutcome, FailureKind
from storage.database import Database
from storage.schema import articles, entries, feeds


@dataclass(frozen=True)
class SignalRow:
    """One settled entry of a feed: its stored article's signals, or no article text."""

    stored: bool
    text_length: int | None  # None for an article stored before signals were kept
    method: str | None
    summary_found: bool | None


class HealthRows(Database):
    def recent_signals(self, feed: str, limit: int) -> list[SignalRow]:
        """The feed's last `limit` entries that were stored or gave no article text, newest
        first (duplicates and filtered entries say nothing of extraction)."""
        statement = select(articles.c.sequence, articles.c.text_length, articles.c.method,
                           articles.c.summary_found).select_from(
            entries.outerjoin(articles, articles.c.sequence == entries.c.article_sequence)
        ).where(and_(entries.c.feed == feed, or_(
            entries.c.status == EntryOutcome.STORED,
            entries.c.failure_kind == FailureKind.NO_ARTICLE_TEXT))).order_by(
            entries.c.updated_at.desc()).limit(limit)
        with self._transaction() as conn:
            return [SignalRow(stored=row.sequence is not None, text_length=row.text_length,
                              method=row.method, summary_found=row.summary_found)
                    for row in conn.execute(statement)]

    def set_extraction_degraded(self, feed: str, reason: str | None) -> str | None:
        """Record the feed's verdict; returns the one it replaced."""
        with self._transaction() as conn:
            before = conn.execute(select(feeds.c.extraction_degraded)
                                  .where(feeds.c.name == feed)).scalar()
            if before != reason:
                conn.execute(update(feeds).where(feeds.c.name == feed)
                             .values(extraction_degraded=reason))
            return before
