"""What a run hands the store stage: its storage (with the page archive) and each request."""

from __future__ import annotations

import logging

from config.settings import Settings, StorageSettings
from ingest.extract.version import extractor_version
from ingest.records import FailureKind, FeedEntry, FetchResponse
from ingest.run.store import Storage, StoreRequest
from ingest.run.worker_pool import PageExtraction
from storage.archive import ArchivedEntry, ArchivedPage, ArchiveItem, ArchiveWriter
from storage.database import utcnow
from storage.index import CorpusIndex

log = logging.getLogger("source_ingest.archive")


def open_archive(settings: StorageSettings, writer: str) -> ArchiveWriter | None:
    """This run's archive writer (its file is opened at the first article), None when off."""
    if not settings.archive:
        return None
    return ArchiveWriter(settings.archive_path, writer,
                         max_file_bytes=settings.archive_file_bytes)


def run_storage(settings: Settings, index: CorpusIndex, writer: str,
                run_id: int | None = None) -> Storage:
    """Where and how one run stores articles; its archive is closed when the run ends."""
    dedupe = settings.dedupe
    return Storage(index=index, corpus_dir=settings.storage.corpus_dir, writer=writer,
                   near_duplicates=dedupe.near_duplicates,
                   near_duplicate_threshold=dedupe.near_duplicate_threshold,
                   store_near_duplicates=dedupe.store_near_duplicates,
                   archive=open_archive(settings.storage, writer),
                   extractor_version=extractor_version(), run_id=run_id)


def store_request(settings: Settings, entry: FeedEntry, url: str, extraction: PageExtraction,
                  response: FetchResponse) -> StoreRequest:
    """The extracted article of `entry` to store; with its page when the archive is on."""
    assert extraction.article is not None
    return StoreRequest(feed=entry.feed_name, entry_key=entry.key, entry_url=url,
                        article=extraction.article, signature=extraction.signature,
                        page=archived_page(response) if settings.storage.archive else None,
                        entry=archived_entry(entry))


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


class FailedPageArchive:
    """Archives the pages that gave no text, each synced before the index names its records
    (so a crash leaves only a torn tail that recovery cuts), for `reextract` to try again.

    Its calls run on the run's database lane, the one thread that owns its writer; its file
    is its own (the writer's next unlocked file), apart from the store lane's."""

    def __init__(self, settings: Settings, index: CorpusIndex, writer: str) -> None:
        self._index = index
        self._archive = open_archive(settings.storage, writer)
        self._version = extractor_version()

    def keep(self, entry: FeedEntry, response: FetchResponse,
             failure: tuple[FailureKind, str]) -> None:
        if self._archive is None:
            return
        failure_kind = failure[0].value
        item = ArchiveItem(page=archived_page(response), entry=archived_entry(entry),
                           sequence=None, extractor_version=self._version, method="",
                           failure_kind=failure_kind)
        try:
            location = self._archive.append([item])[0]
        except OSError as exc:  # the entry's failure is still recorded as its own kind
            log.warning("a failed page could not be archived", extra={
                "event": "failed_page_not_archived", "feed": entry.feed_name,
                "url": response.url, "detail": str(exc)})
            return
        self._index.record_failed_page(
            entry.feed_name, entry.key, response.url, failure_kind,
            (location.file_name, location.offset, location.length), utcnow())

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
