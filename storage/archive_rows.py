"""The index's view of the page archive: where each article's records are."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, bindparam, func, select

from ingest.records import ArticleState
from storage.database import Database, in_chunks
from storage.schema import articles, failed_pages

_ARCHIVE_ENDS = select(
    articles.c.archive_file,
    func.max(articles.c.archive_offset + articles.c.archive_length).label("end")).where(
    articles.c.archive_file.in_(bindparam("p_files", expanding=True)),
    articles.c.state == ArticleState.STORED).group_by(articles.c.archive_file)
# Failed pages' records count too: they are synced before their rows are written.
_FAILED_ENDS = select(
    failed_pages.c.archive_file,
    func.max(failed_pages.c.archive_offset + failed_pages.c.archive_length).label("end")).where(
    failed_pages.c.archive_file.in_(bindparam("p_files", expanding=True))).group_by(
    failed_pages.c.archive_file)


@dataclass(frozen=True)
class ArchivedArticleRow:
    """A stored article with its archived page: what re-extraction reads."""

    sequence: int
    feed: str
    url: str
    title: str
    published: date | None
    content_hash: str
    file_name: str
    archive_file: str
    archive_offset: int
    archive_length: int


class ArchiveRows(Database):
    def archive_ends(self, file_names: Sequence[str]) -> dict[str, int]:
        """For each archive file, where its last stored article's or failed page's records
        end."""
        ends: dict[str, int] = {}
        with self._transaction() as conn:
            for chunk in in_chunks(list(file_names)):
                for statement in (_ARCHIVE_ENDS, _FAILED_ENDS):
                    for row in conn.execute(statement, {"p_files": chunk}):
                        ends[row.archive_file] = max(ends.get(row.archive_file, 0),
                                                     int(row.end))
        return ends

    def archived_articles(self, feeds: Sequence[str] = (), since: date | None = None,
                          after_sequence: int = -1,
                          limit: int = 500) -> list[ArchivedArticleRow]:
        """Stored articles with an archived page, in sequence order from `after_sequence`;
        only these feeds' when given, only those fetched on or after `since`."""
        conditions = [articles.c.state == ArticleState.STORED,
                      articles.c.archive_file.is_not(None),
                      articles.c.sequence > after_sequence]
        if feeds:
            conditions.append(articles.c.feed.in_(list(feeds)))
        if since is not None:
            conditions.append(articles.c.fetched_at >= since)
        statement = select(
            articles.c.sequence, articles.c.feed, articles.c.url, articles.c.title,
            articles.c.published, articles.c.content_hash, articles.c.file_name,
            articles.c.archive_file, articles.c.archive_offset, articles.c.archive_length,
        ).where(and_(*conditions)).order_by(articles.c.sequence).limit(limit)
        with self._transaction() as conn:
            return [ArchivedArticleRow(**row._mapping) for row in conn.execute(statement)]

    def iter_archived_articles(self, feeds: Sequence[str] = (),
                               since: date | None = None) -> Iterator[ArchivedArticleRow]:
        after = -1
        while True:
            batch = self.archived_articles(feeds, since, after)
            yield from batch
            if len(batch) < 500:
                return
            after = batch[-1].sequence
