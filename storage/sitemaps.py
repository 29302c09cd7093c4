"""Sitemap files' rows: what a sitemap source's last poll read of each of its files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, select

from storage.database import Database, in_chunks
from storage.schema import sitemap_files


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
