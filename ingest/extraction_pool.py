"""The extract stage in worker processes: decode, extract, normalise and sign each page.

Extraction is CPU-bound, so a run hands pages to one forked worker per core and awaits the
result; everything that crosses the process boundary is a frozen, picklable record.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from config.settings import FeedSettings
from ingest.failures import FailureKind, IngestFailure
from ingest.records import Article, ExtractionHints, FeedEntry
from ingest.textnorm import content_hash, normalize_text

if TYPE_CHECKING:
    from ingest.neardup import TextSignature


@dataclass(frozen=True)
class PageExtraction:
    """A page's article and its near-duplicate signature, or why there is no article."""

    article: Article | None
    signature: TextSignature | None
    failure: tuple[FailureKind, str] | None


def extract_page(feed: FeedSettings, entry: FeedEntry, body: bytes, charset: str | None,
                 page_url: str, near_duplicates: bool) -> PageExtraction:
    """Decode, extract, normalise and sign one page (pure and CPU-bound: runs in a worker)."""
    from ingest.decode import decode_html

    try:
        article = build_article(feed, entry, decode_html(body, charset).text, page_url)
    except IngestFailure as failure:
        # IngestFailure does not survive pickling (its args are not its __init__'s), so it
        # crosses the process boundary as data.
        return PageExtraction(article=None, signature=None,
                              failure=(failure.kind, failure.detail))
    if not near_duplicates:
        return PageExtraction(article=article, signature=None, failure=None)
    from ingest.neardup import text_signature

    signature = text_signature(article.text)
    return PageExtraction(article=article, signature=signature, failure=None)


class ExtractionPool:
    """Worker processes for `extract_page`: started at the first page, shut down with the run.

    Extraction is CPU-bound (about 6 ms a page); on the event loop it held up fetching and
    storing. In one worker per core it overlaps the loop's I/O and database work (bench/
    throughput.py). Workers are forked: they inherit the imported modules instead of
    importing everything again (the extractor and numpy, for every worker).
    """

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None

    async def extract(self, feed: FeedSettings, entry: FeedEntry, body: bytes,
                      charset: str | None, page_url: str,
                      near_duplicates: bool) -> PageExtraction:
        if self._executor is None:
            # Imported before the fork so that every worker inherits them; a run whose feeds
            # all answer 304 never loads the extractor.
            import ingest.decode
            import ingest.extract
            import ingest.neardup  # noqa: F401

            self._executor = ProcessPoolExecutor(
                cpu_cores(), mp_context=_worker_context(), initializer=_exit_with_parent,
                initargs=(os.getpid(),))
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, extract_page, feed, entry, body, charset, page_url, near_duplicates)
        except BrokenProcessPool as exc:
            # A worker died (killed, or a crash in the HTML parser): the pages it held fail,
            # and the next page gets a fresh pool.
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise IngestFailure(FailureKind.INTERNAL_ERROR,
                                "the extraction worker process died") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def build_article(feed: FeedSettings, entry: FeedEntry, html: str, page_url: str) -> Article:
    """Extract and normalise the article of one page (pure: no I/O)."""
    hints = ExtractionHints(title=entry.title, summary=_plain_summary(entry.summary_html),
                            content_html=entry.content_html, published=entry.published)
    from ingest.extract import extract_article

    extracted = extract_article(html, page_url, hints, feed.rules)
    text = normalize_text(extracted.paragraphs)
    if not text:
        raise IngestFailure(FailureKind.NO_ARTICLE_TEXT, f"nothing extracted from {page_url}")
    published: date | None = entry.published or extracted.published
    return Article(feed_name=feed.name, url=page_url, title=entry.title or extracted.title,
                   text=text, published=published, content_hash=content_hash(text))


def _plain_summary(summary_html: str) -> str:
    if "<" not in summary_html:
        return summary_html
    from bs4 import BeautifulSoup

    return BeautifulSoup(summary_html, "html.parser").get_text(" ", strip=True)


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the service dies.

    A service killed by SIGKILL (or the OOM killer) cannot shut its pool down, and its workers
    wait on the call queue forever (each holds the pipe's other end too): two orphans per
    crash, found by tests/test_crash_safety.py. Re-parenting tells them the service is gone.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
