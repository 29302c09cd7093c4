"""Index rows made from corpus files (`source-ingest reindex`): the files are the truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select, update

from ingest.records import ArticleState
from storage.articles import ARTICLE_SEQUENCE
from storage.database import Database
from storage.schema import articles, counters, feeds, signature_bands
from storage.search import SearchText, insert_search_texts

REINDEX_WRITER = "reindex"
UNKNOWN_FEED = "(reindexed)"  # the feed of a file whose origin only an archive could tell


@dataclass(frozen=True)
class AdoptedArticle:
    sequence: int
    content_hash: str
    file_name: str
    published: date | None
    fetched_at: datetime  # the file's modification time
    title: str
    text: str
    signature: bytes | None
    bands: tuple[str, ...]
    language: str | None = None
    url: str = ""
    feed: str = UNKNOWN_FEED


@dataclass(frozen=True)
class IndexedFile:
    sequence: int
    content_hash: str
    file_name: str


class AdoptRows(Database):
    def indexed_files(self) -> list[IndexedFile]:
        with self._transaction() as conn:
            return [IndexedFile(row.sequence, row.content_hash, row.file_name)
                    for row in conn.execute(select(articles.c.sequence, articles.c.content_hash,
                                                   articles.c.file_name))]

    def adopt_articles(self, adopted: Sequence[AdoptedArticle]) -> None:
        """Add rows for these files, searchable, and move the sequence counter past them, in
        one transaction: an interrupted reindex leaves whole batches, and a rerun skips
        them."""
        if not adopted:
            return
        with self._transaction() as conn:
            conn.execute(insert(articles), [{
                "sequence": item.sequence, "content_hash": item.content_hash, "url": item.url,
                "feed": item.feed, "title": item.title[:1000], "published": item.published,
                "fetched_at": item.fetched_at, "file_name": item.file_name,
                "state": ArticleState.STORED, "writer": REINDEX_WRITER,
                "signature": item.signature, "language": item.language} for item in adopted])
            bands = [{"band": band, "sequence": item.sequence}
                     for item in adopted for band in item.bands]
            if bands:
                conn.execute(insert(signature_bands), bands)
            insert_search_texts(conn, self.dialect, [
                SearchText(item.sequence, item.title, item.text) for item in adopted])
            highest = max(item.sequence for item in adopted)
            conn.execute(update(counters).where(counters.c.name == ARTICLE_SEQUENCE,
                                                counters.c.value < highest)
                         .values(value=highest))
            per_feed: dict[str, int] = {}
            for item in adopted:
                per_feed[item.feed] = per_feed.get(item.feed, 0) + 1
            for name, count in sorted(per_feed.items()):
                conn.execute(update(feeds).where(feeds.c.name == name).values(
                    articles_stored=feeds.c.articles_stored + count))
