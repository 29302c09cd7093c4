"""What the pipeline hands the page archive: the fetched page and its feed entry."""

from __future__ import annotations

from config.settings import StorageSettings
from ingest.records import FeedEntry, FetchResponse
from storage.archive import ArchivedEntry, ArchivedPage, ArchiveWriter


def open_archive(settings: StorageSettings, writer: str) -> ArchiveWriter | None:
    """This run's archive writer (its file is opened at the first article), None when off."""
    if not settings.archive:
        return None
    return ArchiveWriter(settings.archive_path, writer,
                         max_file_bytes=settings.archive_file_bytes)


def archived_page(response: FetchResponse) -> ArchivedPage:
    headers = response.headers
    if not headers and response.content_type:  # a response made without its headers
        content_type = response.content_type
        if response.charset:
            content_type += f"; charset={response.charset}"
        headers = (("Content-Type", content_type),)
    return ArchivedPage(url=response.url, status=response.status, headers=headers,
                        body=response.body)


def archived_entry(entry: FeedEntry) -> ArchivedEntry:
    return ArchivedEntry(feed=entry.feed_name, entry_key=entry.key, title=entry.title,
                         summary_html=entry.summary_html, content_html=entry.content_html,
                         published=entry.published)
