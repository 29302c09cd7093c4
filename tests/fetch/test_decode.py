"""How page bytes become text: HTTP charset, BOM, <meta>, detection, fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.fetch.decode import decode_html, resolve_label
from tests.shared_data import SHARED_ARTICLES

FIXTURES = Path(__file__).parent / "fixtures"
# Real pages (copyrighted, not in the repository); see ../shared/data/README.md.

RUSSIAN = "Правительство объявило о новых мерах поддержки"
FRENCH = "Le café du marché a rouvert"
CHINESE = "新华社北京电"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "http_charset", "encoding", "source", "expected_text"),
    [
        ("windows-1251-no-charset-header.html", None, "windows-1251", "meta", RUSSIAN),
        ("windows-1251-no-charset-header.html", "windows-1251", "windows-1251", "http", RUSSIAN),
        # An ISO-8859-1 header is often the server's default; the page's own meta is the author's.
        ("windows-1251-no-charset-header.html", "ISO-8859-1", "windows-1251", "meta", RUSSIAN),
        ("iso-8859-1-meta-after-1024.html", None, "windows-1252", "meta", FRENCH),
        ("utf8-bytes-meta-gb2312.html", None, "utf-8", "detected", CHINESE),
        ("utf8-bytes-meta-gb2312.html", "gb2312", "utf-8", "detected", CHINESE),
        ("utf8-bytes-no-declaration.html", "iso-8859-1", "utf-8", "detected", FRENCH),
        ("utf8-bytes-no-declaration.html", None, "utf-8", "detected", FRENCH),
        ("utf8-bom-no-declaration.html", "windows-1252", "utf-8", "bom", FRENCH),
        ("utf16le-bom.html", None, "utf-16le", "bom", FRENCH),
        ("windows-1251-meta-says-utf8.html", "windows-1251", "windows-1251", "http", RUSSIAN),
        ("windows-1251-meta-says-utf8.html", None, "windows-1251", "detected", RUSSIAN),
        ("windows-1251-no-declaration.html", None, "windows-1251", "detected", RUSSIAN),
        ("unknown-meta-label-then-detection.html", None, "utf-8", "detected", FRENCH),
        ("unknown-meta-label-then-detection.html", "x-bogus", "utf-8", "detected", FRENCH),
        ("utf-7-meta-label-ignored.html", None, "utf-8", "detected", "+ADw-script+AD4-"),
        ("xml-declaration-koi8-r.xhtml", None, "koi8-r", "meta", RUSSIAN),
        ("ascii-only-meta-iso-8859-1.html", None, "windows-1252", "meta", "Plain ASCII"),
    ],
)
def test_fixture_decodes_with_expected_encoding(
    name: str, http_charset: str | None, encoding: str, source: str, expected_text: str
) -> None:
    decoded = decode_html(fixture(name), http_charset)

    assert (decoded.encoding, decoded.source) == (encoding, source)
    assert expected_text in decoded.text
    assert "\ufffd" not in decoded.text


@pytest.mark.parametrize("label", ["latin1", "ISO-8859-1", "us-ascii", "\"iso-8859-1\"", "l1"])
def test_latin1_and_ascii_labels_mean_windows_1252(label: str) -> None:
    decoded = decode_html(b"<p>Price: \x80 5, \x93quoted\x94</p>", label)

    assert decoded.encoding == "windows-1252"
    assert decoded.text == "<p>Price: € 5, “quoted”</p>"


def test_bom_is_not_part_of_the_text() -> None:
    decoded = decode_html(fixture("utf8-bom-no-declaration.html"), None)

    assert decoded.text.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xfe\xfd", b"\x80" * 50, b"<meta charset=utf-8>\xc3\x28\xa0\xa1", b"\x00" * 10,
     bytes(range(256)) * 4],
)
@pytest.mark.parametrize("http_charset", [None, "utf-8", "utf-16", "shift_jis", "bogus"])
def test_bad_bytes_never_raise(body: bytes, http_charset: str | None) -> None:
    decoded = decode_html(body, http_charset)

    assert isinstance(decoded.text, str)


def test_utf8_page_with_a_few_bad_bytes_keeps_its_utf8_declaration() -> None:
    body = "<meta charset=utf-8><p>Grüße aus Köln</p>".encode() + b"\xff"

    decoded = decode_html(body, None)

    assert (decoded.encoding, decoded.source) == ("utf-8", "meta")
    assert decoded.text.endswith("Köln</p>\ufffd")


def test_utf16_label_on_an_ascii_looking_body_is_ignored() -> None:
    decoded = decode_html(b"<html><meta charset=utf-16><p>hello</p></html>", "utf-16")

    assert decoded.text == "<html><meta charset=utf-16><p>hello</p></html>"


@pytest.mark.parametrize(
    ("name", "encoding", "snippet"),
    [
        ("dragnet-R17", "windows-1252", None),
        ("dragnet-R826", "windows-1252", None),
        ("dragnet-T156", "windows-1251", None),
        ("fundus-cn-People_2024_04_24", "utf-8", "新华社北京4月24日电"),
    ],
)
@pytest.mark.parametrize("http_charset", [None, "iso-8859-1"])
def test_real_pages_decode_like_their_ground_truth(
    name: str, encoding: str, snippet: str | None, http_charset: str | None
) -> None:
    page = SHARED_ARTICLES / f"{name}.html"
    if not page.exists():
        pytest.skip(f"shared sample {page} not available")
    truth = (SHARED_ARTICLES / f"{name}.txt").read_text(encoding="utf-8")
    # The longest ground-truth line without markup-sensitive characters must appear verbatim.
    lines = [line for line in truth.splitlines() if not set(line) & set("&<>\"'’“”")]
    expected = snippet or max(lines, key=len)[:60]

    decoded = decode_html(page.read_bytes(), http_charset)

    assert decoded.encoding == encoding
    assert expected in " ".join(decoded.text.split())


@pytest.mark.parametrize(("label", "encoding"), [
    ("iso88592", "iso-8859-2"), ("csiso88596i", "iso-8859-6"), ("sun_eu_greek", "iso-8859-7"),
    ("logical", "iso-8859-8-i"), ("koi8-ru", "koi8-u"), ("csmacintosh", "macintosh"),
    ("x-cp1256", "windows-1256"), ("iso88591", "windows-1252"), ("gb_2312-80", "gbk"),
    ("cn-big5", "big5"), ("cseuckr", "euc-kr"), ("ks_c_5601-1989", "euc-kr"),
    ("windows-949", "euc-kr"), ("unicodefffe", "utf-16be"), ("ucs-2", "utf-16le"),
])
def test_every_whatwg_label_names_its_encoding(label: str, encoding: str) -> None:
    # Labels of the Encoding Standard that Python spells otherwise (or not at all).
    assert resolve_label(label) == encoding
    assert resolve_label(f' "{label.upper()}" ') == encoding


@pytest.mark.parametrize("label", ["utf-7", "base64", "rot13", "hex", "zlib", "iso-2022-kr",
                                   "idna", "punycode", "unicode_escape"])
def test_labels_outside_the_standard_are_ignored(label: str) -> None:
    # Python-only codecs (and the "replacement" ones) never decode what a server sends.
    assert resolve_label(label) is None
    page = b"<html><head><meta charset='" + label.encode() + b"'></head><p>caf\xc3\xa9</p>"
    assert decode_html(page, label).text.endswith("café</p>")
