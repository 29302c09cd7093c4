"""Hostile feeds: characters that cannot be stored, codecs browsers do not know, impossible
dates, credentials in links and a sniffer that must not backtrack (issue 15)."""

from __future__ import annotations

import time
from datetime import date

import pytest

from ingest.records import FailureKind, IngestFailure
from ingest.sources.feed import parse_feed
from ingest.sources.feed_encoding import feed_bytes_for_parser

FEED_URL = "https://example.com/feed.xml"


def rss(items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (f'{declaration}<rss version="2.0"><channel><title>t</title>{items}'
            "</channel></rss>").encode()


def item(title: str, link: str = "https://example.com/a", extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>"


def parse(body: bytes, content_type: str | None = None):  # type: ignore[no-untyped-def]
    return parse_feed(body, feed_name="f", feed_url=FEED_URL, content_type=content_type)


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@pytest.mark.parametrize("reference", ["&#xD800;", "&#xdfff;", "&#55296;", "&#x0;", "&#1;",
                                       "&#xFFFE;", "&#x110000;", "&#99999999;"])
def test_a_reference_to_a_forbidden_character_costs_that_character_only(reference: str) -> None:
    body = rss(item(f"Bad {reference} title") + item("Good neighbour", "https://example.com/b"))

    parsed = parse(body)

    titles = [entry.title for entry in parsed.entries]
    assert len(titles) == 2 and "Good neighbour" in titles
    assert all(storable(entry.title) and storable(entry.key) for entry in parsed.entries)


def test_surrogates_and_nul_in_guid_summary_and_content_are_made_storable() -> None:
    body = rss("<item><title>x</title><guid>id&#xD800;1</guid>"
               "<description>sum &amp;#xD800; &#xDC00; mary</description>"
               "<link>https://example.com/a&#xD800;</link></item>")

    entry = parse(body).entries[0]

    for value in (entry.key, entry.summary_html, entry.content_html, entry.url or ""):
        assert storable(value)


@pytest.mark.parametrize("label", ["rot13", "base64", "utf-7", "hex", "bz2_codec", "idna",
                                   "unicode_escape", "undefined", "punycode"])
def test_a_python_only_codec_in_the_http_charset_is_ignored(label: str) -> None:
    body = rss(item("Caf\u00e9 r\u00e9sum\u00e9"))

    parsed = parse(body, content_type=f"application/rss+xml; charset={label}")

    assert [entry.title for entry in parsed.entries] == ["Caf\u00e9 r\u00e9sum\u00e9"]


@pytest.mark.parametrize("label", ["rot13", "base64", "utf-7", "hex", "bz2_codec",
                                   "unicode_escape", "undefined"])
def test_a_python_only_codec_in_the_xml_declaration_is_not_used(label: str) -> None:
    body = rss(item("Caf\u00e9 +AGEAYgBj-"), f'<?xml version="1.0" encoding="{label}"?>')

    parsed = parse(body)

    assert [entry.title for entry in parsed.entries] == ["Caf\u00e9 +AGEAYgBj-"]


def test_a_whatwg_label_in_the_declaration_still_decodes() -> None:
    body = rss(item("Caf\u00e9"), '<?xml version="1.0" encoding="latin1"?>').replace(
        "Caf\u00e9".encode(), "Caf\u00e9".encode("cp1252"))
    assert [entry.title for entry in parse(body).entries] == ["Caf\u00e9"]
    assert b'encoding="cp1252"' in feed_bytes_for_parser(body)


@pytest.mark.parametrize("written", ["2024-02-32", "2024-13-01", "0000-01-01", "-001-01-01",
                                     "2024-02-30T10:00:00Z", "2024-00-10", "2024-06-00",
                                     "Thu, 32 Feb 2024 10:00:00 GMT", "Mon, 30 Feb 2024 10:00 GMT"])
def test_an_impossible_date_gives_no_date(written: str) -> None:
    body = rss(item("Dated", extra=f"<pubDate>{written}</pubDate>")
               + item("Neighbour", "https://example.com/b"))

    entries = {entry.title: entry for entry in parse(body).entries}

    assert entries["Dated"].published is None
    assert "Neighbour" in entries


def test_a_real_date_is_still_read() -> None:
    body = rss(item("Dated", extra="<pubDate>Thu, 29 Feb 2024 10:00:00 GMT</pubDate>"))
    assert parse(body).entries[0].published == date(2024, 2, 29)


@pytest.mark.parametrize("link", ["https://user:secret@example.com/a",
                                  "https://secret@example.com/a",
                                  "https://user:p%40ss@example.com:8443/a?x=1"])
def test_credentials_in_an_entry_link_or_guid_are_stripped(link: str) -> None:
    body = rss(f"<item><title>x</title><link>{link}</link><guid>{link}</guid></item>")

    entry = parse(body).entries[0]

    assert "secret" not in (entry.url or "") and "p%40ss" not in (entry.url or "")
    assert "secret" not in entry.key and "@" not in entry.key
    assert (entry.url or "").startswith("https://example.com")


@pytest.mark.parametrize("head", [b"<!--" * 86 + b"x", b"<!-- " * 400 + b"-->" * 10,
                                  b"<?xml " * 300, b" " * 2000 + b"<!--",
                                  b"<!---->" * 290 + b"<p>"])
def test_the_html_sniffer_is_linear_on_nested_comment_openings(head: bytes) -> None:
    started = time.process_time()
    with pytest.raises(IngestFailure) as info:
        parse(head)
    assert info.value.kind is FailureKind.NOT_A_FEED
    # Seconds before the fix (exponential backtracking); milliseconds after.
    assert time.process_time() - started < 2.0


def test_an_html_page_after_comments_is_still_recognised() -> None:
    with pytest.raises(IngestFailure) as info:
        parse(b"<!-- a --><?xml version='1.0'?>\n<!DOCTYPE html><html><body>x</body></html>")
    assert "HTML page" in info.value.detail
