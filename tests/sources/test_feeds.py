from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ingest.records import FailureKind, FeedEntry, IngestFailure
from ingest.sources.feed import ParsedFeed, parse_feed
from tests.shared_data import SHARED_FEEDS

FIXTURES = Path(__file__).parent / "fixtures"
# Real feeds shared between engineers; never copied into the repository.
FEED_URL = "https://example.com/feeds/main.xml"


def parse_fixture(name: str, *, feed_url: str = FEED_URL,
                  content_type: str | None = None) -> ParsedFeed:
    return parse_feed((FIXTURES / name).read_bytes(), feed_name="example", feed_url=feed_url,
                      content_type=content_type)


def by_title(parsed: ParsedFeed) -> dict[str, FeedEntry]:
    return {entry.title: entry for entry in parsed.entries}


# --- links -----------------------------------------------------------------------------------


def test_atom_relative_links_are_resolved_against_the_feed_url() -> None:
    entries = by_title(parse_fixture("atom-relative-links.atom"))
    assert entries["Site-rooted link"].url == "https://example.com/world/2025/10/09/first"
    assert entries["Document-relative link"].url == "https://example.com/feeds/second.html"


def test_atom_xml_base_takes_precedence_over_the_feed_url() -> None:
    entries = by_title(parse_fixture("atom-relative-links.atom"))
    assert entries["Link relative to xml:base"].url == "https://cdn.example.org/archive/third.html"


def test_non_http_link_gives_entry_without_url() -> None:
    parsed = parse_fixture("atom-relative-links.atom")
    assert by_title(parsed)["Not a web link"].url is None
    assert by_title(parse_fixture("rss-entry-without-link.rss"))["Not a web link"].url is None


def test_entry_without_link_is_kept_with_url_none() -> None:
    entries = by_title(parse_fixture("rss-entry-without-link.rss"))
    no_link = entries["No link, no guid"]
    assert no_link.url is None
    assert no_link.key.startswith("sha256:")
    assert no_link.summary_html == "Only a summary."


def test_plain_guid_is_not_taken_for_an_article_link() -> None:
    # RSS says a guid without isPermaLink="false" is a URL; many feeds ignore that.
    entry = by_title(parse_fixture("rss-entry-without-link.rss"))["Plain id as guid, no link"]
    assert entry.url is None
    assert entry.key == "12345"


def test_permalink_guid_serves_as_the_link_when_there_is_none() -> None:
    entry = by_title(parse_fixture("rss-entry-without-link.rss"))["Permalink guid, no link"]
    assert entry.url == "https://example.com/stories/permalink"
    assert entry.key == "https://example.com/stories/permalink"


def test_guid_key_does_not_depend_on_the_feed_url() -> None:
    first = parse_fixture("rss-entry-without-link.rss", feed_url="https://a.example/feed")
    moved = parse_fixture("rss-entry-without-link.rss", feed_url="https://b.example/rss/")
    assert [e.key for e in first.entries] == [e.key for e in moved.entries]


# --- keys and duplicates ---------------------------------------------------------------------


def test_duplicate_guids_keep_the_first_entry_only() -> None:
    parsed = parse_fixture("rss-duplicate-guids.rss")
    assert [e.title for e in parsed.entries] == [
        "First version", "No guid, tracked link", "Another story"]
    assert parsed.entries[0].url == "https://example.com/a"


def test_entries_without_guid_are_keyed_by_normalised_link() -> None:
    parsed = parse_fixture("rss-duplicate-guids.rss")
    assert parsed.entries[1].key == "https://example.com/b?id=7"
    # The link itself is kept as the feed gives it; only the key is normalised.
    assert parsed.entries[1].url == "https://EXAMPLE.com/b?utm_source=rss&id=7"


# --- dates -----------------------------------------------------------------------------------


def test_publisher_date_is_not_shifted_into_utc() -> None:
    entries = parse_fixture("rss-plus0400-dates-near-midnight.rss").entries
    dates = {e.key: e.published for e in entries}
    assert dates["dubai-1"] == date(2025, 10, 9)  # 01:30 +0400 is 8 October in UTC
    assert dates["dubai-2"] == date(2025, 10, 8)  # 23:45 -0500 is 9 October in UTC


def test_dc_date_is_used_when_there_is_no_pubdate() -> None:
    entries = parse_fixture("rss-plus0400-dates-near-midnight.rss").entries
    assert {e.key: e.published for e in entries}["dubai-3"] == date(2025, 10, 9)


def test_date_only_feedparser_reads_falls_back_to_its_parsed_value() -> None:
    entries = parse_fixture("rss-plus0400-dates-near-midnight.rss").entries
    assert {e.key: e.published for e in entries}["dubai-4"] == date(2025, 10, 9)


def test_placeholder_epoch_date_and_missing_date_give_none() -> None:
    dates = {e.key: e.published for e in parse_fixture(
        "rss-plus0400-dates-near-midnight.rss").entries}
    assert dates["dubai-5"] is None
    assert dates["dubai-6"] is None


# --- text fields -----------------------------------------------------------------------------


def test_full_content_encoded_is_carried_as_content_html() -> None:
    entries = by_title(parse_fixture("rss-content-encoded.rss"))
    full = entries["Whole article inside"]
    assert "First paragraph of the article." in full.content_html
    assert "Second paragraph of the article." in full.content_html
    assert full.summary_html == "<p>Teaser only.</p>"
    assert entries["Teaser only"].content_html == ""


def test_scripts_and_event_handlers_are_removed_from_feed_html() -> None:
    full = by_title(parse_fixture("rss-content-encoded.rss"))["Whole article inside"]
    assert "script" not in full.content_html
    assert "onclick" not in full.content_html


def test_titles_are_plain_text() -> None:
    parsed = parse_fixture("atom-relative-links.atom")
    assert parsed.title == "Example News"
    assert "Plain <div> text and AT&T" in by_title(parsed)


def test_plain_text_summary_is_escaped_into_html() -> None:
    entry = by_title(parse_fixture("atom-relative-links.atom"))["Plain <div> text and AT&T"]
    assert entry.summary_html == "Compare a &lt; b with &lt;script&gt;"


def test_feed_name_is_recorded_on_every_entry() -> None:
    assert {e.feed_name for e in parse_fixture("rss-duplicate-guids.rss").entries} == {"example"}


# --- encodings and content types -------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/html", "text/xml", "application/rss+xml"])
def test_utf8_feed_served_with_any_media_type_parses_without_warnings(
        content_type: str | None) -> None:
    parsed = parse_fixture("rss-utf8-without-declaration.rss", content_type=content_type)
    assert parsed.warnings == ()
    assert parsed.title == "Café société"
    assert parsed.entries[0].title == "Élection à Zürich"


def test_charset_from_http_header_decodes_undeclared_latin1() -> None:
    parsed = parse_fixture("rss-latin1-charset-only-in-http-header.rss",
                           content_type="text/xml; charset=ISO-8859-1")
    assert parsed.title == "Sem declaração"
    assert parsed.entries[0].title == "Notícia"


# --- malformed, empty, not a feed ------------------------------------------------------------


def test_malformed_feed_keeps_recovered_entries() -> None:
    parsed = parse_fixture("rss-truncated-after-two-items.rss")
    assert [e.title for e in parsed.entries][:2] == ["One", "Two"]
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith("not well-formed XML:")
    assert parsed.warnings[0].endswith("(entries recovered)")
    assert "\n" not in parsed.warnings[0]


def test_valid_feed_without_entries_is_not_a_failure() -> None:
    parsed = parse_fixture("rss-valid-without-items.rss")
    assert parsed.entries == ()
    assert parsed.title == "Quiet feed"
    assert parsed.warnings == ()


@pytest.mark.parametrize("name", ["html-page-served-as-feed.html",
                                  "xhtml-page-served-as-feed.xhtml"])
def test_html_page_where_feed_expected_is_not_a_feed(name: str) -> None:
    with pytest.raises(IngestFailure) as caught:
        parse_fixture(name, content_type="text/html; charset=utf-8")
    assert caught.value.kind is FailureKind.NOT_A_FEED
    assert "HTML" in caught.value.detail


def test_xml_that_is_not_rss_or_atom_is_not_a_feed() -> None:
    with pytest.raises(IngestFailure) as caught:
        parse_fixture("xml-not-a-feed.xml")
    assert caught.value.kind is FailureKind.NOT_A_FEED


def test_plain_text_body_is_not_a_feed() -> None:
    with pytest.raises(IngestFailure) as caught:
        parse_feed(b"Service temporarily unavailable", feed_name="x", feed_url=FEED_URL)
    assert caught.value.kind is FailureKind.NOT_A_FEED


@pytest.mark.parametrize("body", [b"", b"  \r\n\t"])
def test_empty_body_is_an_empty_response(body: bytes) -> None:
    with pytest.raises(IngestFailure) as caught:
        parse_feed(body, feed_name="x", feed_url=FEED_URL)
    assert caught.value.kind is FailureKind.EMPTY_RESPONSE


def test_body_that_looks_like_a_file_path_is_parsed_not_opened(tmp_path: Path) -> None:
    # feedparser opens a bytes argument as a file when such a file exists.
    secret = tmp_path / "feed.xml"
    secret.write_bytes((FIXTURES / "rss-duplicate-guids.rss").read_bytes())
    with pytest.raises(IngestFailure) as caught:
        parse_feed(str(secret).encode(), feed_name="x", feed_url=FEED_URL)
    assert caught.value.kind is FailureKind.NOT_A_FEED


# --- real feeds ------------------------------------------------------------------------------


def _shared_feed_records() -> list[dict[str, object]]:
    index = SHARED_FEEDS / "index.json"
    if not index.is_file():
        return []
    return json.loads(index.read_text(encoding="utf-8"))


@pytest.mark.skipif(not SHARED_FEEDS.is_dir(), reason="shared real-feed data not available")
@pytest.mark.parametrize("record", _shared_feed_records(), ids=lambda r: str(r["file"]))
def test_real_feed_gives_its_entries_or_is_not_a_feed(record: dict[str, object]) -> None:
    body = (SHARED_FEEDS / str(record["file"])).read_bytes()
    expected = record["entries_feedparser"]
    try:
        parsed = parse_feed(body, feed_name="real", feed_url="https://example.org/feed")
    except IngestFailure as failure:
        assert failure.kind is FailureKind.NOT_A_FEED
        assert expected == 0
        return
    assert len(parsed.entries) == expected
    assert len({e.key for e in parsed.entries}) == len(parsed.entries)
    assert all(e.url is None or e.url.startswith(("http://", "https://"))
               for e in parsed.entries)
    assert bool(parsed.warnings) == (bool(record["feedparser_bozo"]) and expected != 0)


@pytest.mark.skipif(not SHARED_FEEDS.is_dir(), reason="shared real-feed data not available")
def test_real_feed_with_broken_server_output_is_not_a_feed() -> None:
    body = (SHARED_FEEDS / "reuters-most-read-odd-root.rss").read_bytes()
    with pytest.raises(IngestFailure) as caught:
        parse_feed(body, feed_name="reuters", feed_url="https://www.reuters.com/rss")
    assert caught.value.kind is FailureKind.NOT_A_FEED


@pytest.mark.skipif(not SHARED_FEEDS.is_dir(), reason="shared real-feed data not available")
def test_real_latin1_feed_is_decoded_and_dated() -> None:
    body = (SHARED_FEEDS / "jn-ultimas-iso-8859-1.rss").read_bytes()
    parsed = parse_feed(body, feed_name="jn", feed_url="https://feeds.jn.pt/JN-ULTIMAS")
    assert parsed.title == "Jornal de Notícias - Últimas Notícias"
    assert all(e.published is not None for e in parsed.entries)


def test_an_archived_feed_names_its_previous_archive_document() -> None:
    body = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b'<link rel="prev-archive" href="/archive/2024-11.xml"/>'
            b'<entry><id>a</id><title>A</title><link href="https://news.example/a"/></entry>'
            b'</feed>')
    parsed = parse_feed(body, feed_name="example", feed_url="https://news.example/feed.xml")
    assert parsed.prev_archive == "https://news.example/archive/2024-11.xml"
    assert parse_feed(body.replace(b"prev-archive", b"alternate"), feed_name="example",
                      feed_url="https://news.example/feed.xml").prev_archive is None
