"""What one untrusted page or feed may cost an extraction worker (issue 15, classes 1 and 2):
a deadline per task (the worker past it is replaced), a memory cap per worker, a tag bound
per page; the other tasks go on."""

from __future__ import annotations

import asyncio
import time

import pytest

from config.settings import FeedSettings, LimitSettings
from ingest.records import FailureKind, FeedEntry, IngestFailure
from ingest.run.page_work import extract_page
from ingest.run.worker_pool import ExtractionPool

FEED = FeedSettings(name="news", url="https://news.example/feed.xml", interval_seconds=900.0)
PROSE = ("The council approved the budget after a long debate about roads, schools and the "
         "new library, and the mayor said the money would reach the districts this year. ")
GOOD_PAGE = f"<html><body><article><p>{PROSE * 3}</p><p>{PROSE}</p></article></body></html>"
RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
       + b"".join(b"<item><title>t%d</title><link>https://news.example/%d</link></item>"
                  % (i, i) for i in range(300)) + b"</channel></rss>")


def _entry(url: str) -> FeedEntry:
    return FeedEntry(feed_name="news", key=url, url=url, title="", summary_html="",
                     content_html="", published=None)


def spin_forever() -> None:
    """As a backtracking regular expression does: never yields, never ends."""
    while True:
        pass


def take_memory(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def good_page() -> object:
    url = "https://news.example/good"
    return extract_page(FEED, _entry(url), GOOD_PAGE.encode(), "utf-8", url, False)


@pytest.mark.timeout(120)
def test_a_task_past_its_deadline_fails_by_name_and_its_worker_is_replaced() -> None:
    # Long enough for a real page on a loaded machine, short for a test.
    limits = LimitSettings(extraction_seconds=4.0)

    async def scenario() -> list[object]:
        pool = ExtractionPool(workers=2, limits=limits)
        try:
            started = time.monotonic()
            results = await asyncio.gather(
                pool.run(spin_forever), pool.run(spin_forever), pool.run(good_page),
                pool.run(good_page), return_exceptions=True)
            after = await pool.run(good_page)
            return [*results, after, time.monotonic() - started]
        finally:
            pool.close()

    *results, after, took = asyncio.run(scenario())
    for hung in results[:2]:
        assert isinstance(hung, IngestFailure) and hung.kind is FailureKind.EXTRACTION_TIMEOUT
    assert all(getattr(result, "article", None) is not None for result in results[2:])
    assert after.article is not None  # type: ignore[attr-defined]
    assert took < 60


@pytest.mark.timeout(120)
def test_a_feed_parse_past_its_deadline_is_parse_timeout() -> None:
    async def scenario() -> object:
        pool = ExtractionPool(workers=1, limits=LimitSettings(feed_parse_seconds=0.001))
        try:
            return await pool.parse_feed(RSS * 20, feed_name="news",
                                         feed_url="https://news.example/feed.xml",
                                         content_type="application/rss+xml")
        finally:
            pool.close()

    with pytest.raises(IngestFailure) as info:
        asyncio.run(scenario())
    assert info.value.kind is FailureKind.PARSE_TIMEOUT


@pytest.mark.timeout(120)
@pytest.mark.parametrize("megabytes", [400, 2000, 8000])
def test_a_task_over_the_memory_cap_is_page_too_complex_and_the_next_one_runs(
        megabytes: int) -> None:
    async def scenario() -> list[object]:
        pool = ExtractionPool(workers=1, limits=LimitSettings(worker_memory_mb=256))
        try:
            return list(await asyncio.gather(pool.run(take_memory, megabytes),
                                             pool.run(good_page), pool.run(take_memory, 50),
                                             return_exceptions=True))
        finally:
            pool.close()

    too_much, after, small = asyncio.run(scenario())
    assert isinstance(too_much, IngestFailure)
    assert too_much.kind is FailureKind.PAGE_TOO_COMPLEX
    assert after.article is not None  # type: ignore[union-attr]
    assert small == 50 * 1024 * 1024


@pytest.mark.parametrize("body", [
    b"<html><body>" + b"<p>a</p>" * 1_000_000 + b"</body></html>",
    b"<html><body>" + b"<div>" * 100_000 + b"x" + b"</div>" * 100_000 + b"</body></html>",
    b"<html><body>" + b"<b>" * 60_000 + b"</body></html>",
    b"<html><body><div " + b" ".join(b"a%d=1" % i for i in range(300_000)) + b">x</div>",
    b"<html><body><div " + b" ".join(b"a%d" % i for i in range(30_000)) + b">x</div>",
    b"<html><body><svg " + b" ".join(b'a%d="1 2"' % i for i in range(25_000)) + b"></svg>",
])
def test_a_page_of_too_many_tags_or_attributes_is_refused_before_it_is_parsed(
        body: bytes) -> None:
    started = time.process_time()
    result = extract_page(FEED, _entry("https://news.example/big"), body, "utf-8",
                          "https://news.example/big", True, max_tags=50_000)
    assert result.failure is not None and result.failure[0] is FailureKind.PAGE_TOO_COMPLEX
    assert time.process_time() - started < 1.0  # before the fix: 18 s and 1.6 GB


def test_long_quoted_attribute_values_are_not_counted_as_attributes() -> None:
    path = " ".join(f"L {n} {n + 1}" for n in range(20_000))
    body = (f'<html><body><svg><path d="{path}"/></svg><article><p>{PROSE * 3}</p>'
            f"<p>{PROSE}</p></article></body></html>").encode()
    result = extract_page(FEED, _entry("https://news.example/svg"), body, "utf-8",
                          "https://news.example/svg", False)
    assert result.article is not None


def _failure_kind(body: bytes) -> FailureKind | None:
    url = "https://news.example/tag"
    result = extract_page(FEED, _entry(url), body, "utf-8", url, False)
    return result.failure[0] if result.failure else None


def test_a_tag_runs_from_its_lt_to_the_next_lt_or_gt_or_the_end_of_the_page() -> None:
    article = f"<article><p>{PROSE * 3}</p><p>{PROSE}</p></article>".encode()
    names = [b"a%d" % i for i in range(25_000)]
    # An unclosed tag at the very end of the page still counts.
    unclosed = b"<html><body>" + article + b"<div " + b" ".join(names)
    assert _failure_kind(unclosed) is FailureKind.PAGE_TOO_COMPLEX
    # Words after a ">" are text, not attributes.
    text = b"<html><body>" + article + b"<p>" + b" ".join(names) + b"</p></body></html>"
    assert _failure_kind(text) is not FailureKind.PAGE_TOO_COMPLEX
    # A "<" ends the tag before it: two halves, each under the bound.
    halves = (b"<html><body><div " + b" ".join(names[:12_500]) + b"<div "
              + b" ".join(names[12_500:]) + b">x</div>" + article + b"</body></html>")
    assert _failure_kind(halves) is not FailureKind.PAGE_TOO_COMPLEX


@pytest.mark.timeout(180)
@pytest.mark.parametrize("body", [
    # Under the tag bound, and quadratic in lexbor's parse: 20 s or more.
    b"<html><body>" + b"<div>" * 120_000 + b"x" + b"</div>" * 120_000,
    b"<html><body>" + b"<section><div>" * 60_000 + b"x" + b"</div></section>" * 60_000,
])
def test_a_page_that_parses_for_minutes_is_extraction_timeout(body: bytes) -> None:
    async def scenario() -> list[object]:
        pool = ExtractionPool(workers=1, limits=LimitSettings(extraction_seconds=5.0))
        url = "https://news.example/slow"
        try:
            return list(await asyncio.gather(
                pool.extract(FEED, _entry(url), body, "utf-8", url, True),
                pool.run(good_page), return_exceptions=True))
        finally:
            pool.close()

    slow, after = asyncio.run(scenario())
    assert isinstance(slow, IngestFailure) and slow.kind is FailureKind.EXTRACTION_TIMEOUT
    assert after.article is not None  # type: ignore[union-attr]
