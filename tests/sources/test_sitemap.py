"""Sitemaps and news sitemaps read as sources: children, URLs, news fields, hostile bodies."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from ingest.records import FailureKind, IngestFailure
from ingest.sources.sitemap import parse_sitemap
from tests.newsfixtures import FakeStory
from tests.sitesources import sitemap_index, urlset

BASE = "https://news.example/sitemap.xml"


def parse(body: bytes, news_only: bool = False, max_bytes: int = 1_000_000):  # type: ignore[no-untyped-def]
    return parse_sitemap(body, feed_name="daily", sitemap_url=BASE, news_only=news_only,
                         max_bytes=max_bytes)


def test_an_index_lists_its_children_with_their_lastmod() -> None:
    parsed = parse(sitemap_index([("https://news.example/a.xml.gz", "2025-01-02"),
                                  ("https://news.example/b.xml", "2025-06-01T10:00:00Z")]).encode())
    assert parsed.is_index
    assert [(c.url, c.lastmod) for c in parsed.sitemaps] == [
        ("https://news.example/a.xml.gz", "2025-01-02"),
        ("https://news.example/b.xml", "2025-06-01T10:00:00Z")]


def test_a_gzip_urlset_gives_entries_keyed_by_url_once_each() -> None:
    body = gzip.compress(urlset([("https://news.example/1.html", "2025-01-02"),
                                 ("https://news.example/1.html", None),
                                 ("https://news.example/2.html", None)]).encode())
    parsed = parse(body)
    assert [u.entry.url for u in parsed.urls] == ["https://news.example/1.html",
                                                  "https://news.example/2.html"]
    assert parsed.urls[0].lastmod == date(2025, 1, 2) and parsed.urls[0].entry.published is None


def test_a_news_sitemap_gives_title_date_and_language_and_skips_other_urls() -> None:
    story = FakeStory(slug="s", title="Minister resigns &amp; more", paragraphs=(),
                      published=date(2025, 9, 3))
    body = urlset([("https://news.example/s.html", None), ("https://news.example/politics", None)],
                  {"https://news.example/s.html": story}).encode()
    parsed = parse(body, news_only=True)
    assert len(parsed.urls) == 1
    listed = parsed.urls[0]
    assert listed.entry.title == "Minister resigns &amp; more"
    assert listed.entry.published == date(2025, 9, 3) and listed.language == "en"
    assert listed.entry.language == "en"  # what the stored article's language will be


def test_an_html_page_is_not_a_sitemap() -> None:
    with pytest.raises(IngestFailure) as info:
        parse(b"<!DOCTYPE html><html><body>hi</body></html>")
    assert info.value.kind is FailureKind.NOT_A_SITEMAP


def test_a_gzip_bomb_stops_at_the_cap() -> None:
    with pytest.raises(IngestFailure) as info:
        parse(gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>"), max_bytes=100_000)
    assert info.value.kind is FailureKind.RESPONSE_TOO_LARGE


def test_entities_are_not_expanded() -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<urlset><url><loc>https://news.example/&x;</loc></url></urlset>')
    assert all("root:" not in u.entry.url for u in parse(body).urls)  # type: ignore[operator]
