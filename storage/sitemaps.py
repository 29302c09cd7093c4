"""Sitemap files' rows: what a sitemap source's last poll read of each of its files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, insert, select

from storage.database import Database, in_chunks
from storage.entries import stored_entry_key
from storage.schema import sitemap_files, sitemap_urls


@dataclass(frozen=True)
class SitemapFile:
    url: str
    parent: str  # "" for the source's own URL
    lastmod: str | None  # as the parent lists it
    etag: str | None
    last_modified: str | None
    is_index: bool


class SitemapRows(Database):
    def sitemap_files(self, feed: str) -> dict[str, SitemapFile]:
        with self._transaction() as conn:
            rows = conn.execute(select(sitemap_files).where(sitemap_files.c.feed == feed))
            return {row.url: SitemapFile(url=row.url, parent=row.parent, lastmod=row.lastmod,
                                         etag=row.etag, last_modified=row.last_modified,
                                         is_index=row.is_index) for row in rows}

    def record_sitemap_files(self, feed: str, files: Sequence[SitemapFile],
                             now: datetime) -> None:
        """Replace these files' rows (one transaction: all of them or none)."""
        if not files:
            return
        with self._transaction() as conn:
            for chunk in in_chunks([file.url for file in files]):
                conn.execute(delete(sitemap_files).where(and_(
                    sitemap_files.c.feed == feed, sitemap_files.c.url.in_(chunk))))
            conn.execute(insert(sitemap_files), [
                {"feed": feed, "url": file.url[:2048], "parent": file.parent[:2048],
                 "lastmod": (file.lastmod or None) and file.lastmod[:64], "etag": file.etag,
                 "last_modified": file.last_modified, "is_index": file.is_index,
                 "checked_at": now} for file in files])

    def record_sitemap_urls(self, feed: str, urls: Sequence[tuple[str, date | None]],
                            now: datetime) -> None:
        """Replace these URLs' rows: (entry key, lastmod) of each listed article URL."""
        if not urls:
            return
        latest = {stored_entry_key(key): lastmod for key, lastmod in urls}
        with self._transaction() as conn:
            for chunk in in_chunks(sorted(latest)):
                conn.execute(delete(sitemap_urls).where(and_(
                    sitemap_urls.c.feed == feed, sitemap_urls.c.entry_key.in_(chunk))))
            conn.execute(insert(sitemap_urls), [
                {"feed": feed, "entry_key": key, "lastmod": lastmod, "seen_at": now}
                for key, lastmod in latest.items()])

    def sitemap_url_lastmods(self, feed: str) -> dict[str, date | None]:
        with self._transaction() as conn:
            return {row.entry_key: row.lastmod for row in conn.execute(
                select(sitemap_urls.c.entry_key, sitemap_urls.c.lastmod)
                .where(sitemap_urls.c.feed == feed))}

