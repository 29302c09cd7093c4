"""The bytes of a feed made safe for feedparser: WHATWG encoding labels only, and no
character reference to a character XML forbids.

feedparser decodes with whatever Python codec a label names (`charset=utf-7`, an XML
declaration saying `rot13`), which browsers never would; and a `&#xD800;` reference became a
lone surrogate that feedparser itself then failed to encode, ending the whole feed's poll.
"""

from __future__ import annotations

import re

from ingest.fetch.decode import python_codec_name

# Bounded repetitions only: each is tried at one position, so the scan is linear.
_XML_DECLARATION_ENCODING = re.compile(
    rb"^(\xef\xbb\xbf)?(\s{0,64}<\?xml\b[^>]{0,200}?\bencoding\s{0,8}=\s{0,8}[\"'])"
    rb"([^\"'>]{0,64})([\"'])")
_CHARACTER_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_REPLACEMENT_REFERENCE = b"&#xFFFD;"


def feed_codec(http_charset: str | None) -> str | None:
    """The Python codec for a feed's HTTP charset; None when browsers would not know it."""
    return python_codec_name(http_charset)


def feed_bytes_for_parser(body: bytes) -> bytes:
    """`body` with its XML declaration naming a codec feedparser may use, and every
    character reference to a forbidden character replaced by one to U+FFFD."""
    body = _declared_encoding_fixed(body)
    if b"&#" in body:
        body = _CHARACTER_REFERENCE.sub(_checked_reference, body)
    return body


def _declared_encoding_fixed(body: bytes) -> bytes:
    match = _XML_DECLARATION_ENCODING.match(body)
    if match is None:
        return body
    label = match.group(3).decode("ascii", errors="replace")
    codec = python_codec_name(label)
    # Found in ASCII bytes, the declaration cannot be UTF-16's own (WHATWG says the same).
    if codec is None or codec.startswith("utf-16"):
        codec = "utf-8"
    if codec == label.strip().lower():
        return body
    return b"".join((match.group(1) or b"", match.group(2), codec.encode("ascii"),
                     match.group(4), body[match.end():]))


def _checked_reference(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal_digits = match.group(1), match.group(2)
    code = int(hex_digits, 16) if hex_digits else int(decimal_digits)
    return match.group() if _is_xml_character(code) else _REPLACEMENT_REFERENCE


def _is_xml_character(code: int) -> bool:
    # XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)
