"""Stored articles in sequence order, a page at a time: what `export` streams. Keyset paging
(sequence > last seen) keeps each read short however large the corpus."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import and_, select

from ingest.records import ArticleState
from storage.articles import ArticleRow, article_row
from storage.database import Database
from storage.schema import articles

PAGE = 500


class ArticleStreamRows(Database):
    def stored_articles_after(self, after: int, *, feeds: Sequence[str] = (),
                              since: datetime | None = None) -> Iterator[ArticleRow]:
        """Stored articles with a sequence above `after`, in sequence order."""
        last = after
        while True:
            conditions = [articles.c.state == ArticleState.STORED, articles.c.sequence > last]
            if feeds:
                conditions.append(articles.c.feed.in_(list(feeds)))
            if since is not None:
                conditions.append(articles.c.fetched_at >= since)
            with self._transaction() as conn:
                rows = [article_row(row) for row in conn.execute(
                    select(articles).where(and_(*conditions))
                    .order_by(articles.c.sequence).limit(PAGE))]
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1].sequence
