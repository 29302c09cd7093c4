"""One page linked by many entries is fetched once per run (issue 15, class 5): within a
feed's poll and across feeds in flight; the other entries are its duplicates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from config.settings import FeedSettings, FetchSettings, ScheduleSettings, Settings, StorageSettings
from ingest.records import EntryOutcome
from storage.index import open_index
from storage.verify import verify_corpus
from tests.run.manual_run import manual_run

PARAGRAPH = ("The harbour authority opened the new quay on Monday after three years of work, "
             "and the first container ship berthed there before noon, its crew cheered by "
             "dock workers who had waited a long time for the day. ")
PAGE = f"<html><body><article><p>{PARAGRAPH * 3}</p><p>{PARAGRAPH}</p></article></body></html>"


def _feed(entries: int, link: str, prefix: str) -> bytes:
    items = "".join(f"<item><title>{prefix} {i}</title><link>{link}?utm_source={i}</link>"
                    f"<guid isPermaLink='false'>{prefix}-{i}</guid></item>"
                    for i in range(entries))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{prefix}</title>'
            f"{items}</channel></rss>").encode()


@pytest.mark.parametrize(("per_feed", "feeds", "page_status"),
                         [(1000, 1, 200), (200, 3, 200), (50, 4, 404)])
def test_a_page_linked_by_many_entries_is_fetched_once(
        tmp_path: Path, per_feed: int, feeds: int, page_status: int) -> None:
    database_url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    corpus = tmp_path / "corpus"
    settings = Settings(
        feeds=tuple(FeedSettings(name=f"f{n}", url=f"https://feeds{n}.example/rss.xml",
                                 interval_seconds=900) for n in range(feeds)),
        storage=StorageSettings(database_url=database_url, corpus_dir=corpus),
        fetch=FetchSettings(retries=0), schedule=ScheduleSettings(jitter_seconds=0))
    requests: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":  # read once per host, before its first page
            return httpx.Response(404)
        requests[request.url.host] += 1
        if request.url.host.startswith("feeds"):
            prefix = request.url.host.split(".")[0]
            return httpx.Response(200, headers={"Content-Type": "application/rss+xml"},
                                  content=_feed(per_feed, "https://victim.example/page", prefix))
        return httpx.Response(page_status, headers={"Content-Type": "text/html"},
                              content=PAGE.encode())

    index = open_index(database_url)
    try:
        summary = manual_run(settings, index, httpx.MockTransport(answer))
        assert summary is not None
        assert requests["victim.example"] == 1, (requests, summary)
        counts = summary.counts
        if page_status == 200:
            assert counts.articles_stored == 1
            assert counts.duplicates == per_feed * feeds - 1
            assert verify_corpus(index, corpus).ok
        else:
            assert summary.failures_by_kind == {"http_not_found": per_feed * feeds}
        assert EntryOutcome.RETRY not in summary.failures_by_kind
    finally:
        index.close()
