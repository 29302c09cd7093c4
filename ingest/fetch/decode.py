"""Turn the bytes of an HTML page into text, finding the encoding the way a browser would.

Order: byte-order mark, HTTP charset, `<meta>` / XML declaration in the first bytes, detection,
then UTF-8 with replacement characters. Labels resolve as the WHATWG Encoding Standard says
(https://encoding.spec.whatwg.org/#names-and-labels): ISO-8859-1, latin1 and ASCII mean
windows-1252, GB2312 means GB18030, and so on; labels outside that standard (UTF-7, base64, ...)
are ignored, as a browser ignores them.

Deliberate departures from "HTTP first": the BOM is checked before the HTTP charset, as browsers
do (it is part of the bytes, the header is often a server-wide default); an HTTP ISO-8859-1 or
ASCII label yields to the page's own declaration; and bytes that are valid UTF-8 with non-ASCII
characters decode as UTF-8 whatever a legacy label says.
"""

from __future__ import annotations

import codecs
import re

from ingest.records import DecodedText

# Browsers look for <meta charset> in the first 1024 bytes; real pages put long scripts and
# comments before it (a fixture has it after byte 1024), so look further.
_PRESCAN_BYTES = 4096

# WHATWG encoding name -> Python codec that decodes it.
_CODECS: dict[str, str] = {
    "utf-8": "utf-8",
    "ibm866": "cp866",
    "iso-8859-2": "iso8859-2",
    "iso-8859-3": "iso8859-3",
    "iso-8859-4": "iso8859-4",
    "iso-8859-5": "iso8859-5",
    "iso-8859-6": "iso8859-6",
    "iso-8859-7": "iso8859-7",
    "iso-8859-8": "iso8859-8",
    "iso-8859-10": "iso8859-10",
    "iso-8859-13": "iso8859-13",
    "iso-8859-14": "iso8859-14",
    "iso-8859-15": "iso8859-15",
    "iso-8859-16": "iso8859-16",
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
    "macintosh": "mac-roman",
    "windows-874": "cp874",
    "windows-1250": "cp1250",
    "windows-1251": "cp1251",
    "windows-1252": "cp1252",
    "windows-1253": "cp1253",
    "windows-1254": "cp1254",
    "windows-1255": "cp1255",
    "windows-1256": "cp1256",
    "windows-1257": "cp1257",
    "windows-1258": "cp1258",
    "x-mac-cyrillic": "mac-cyrillic",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "euc-jp": "euc_jp",
    "iso-2022-jp": "iso2022_jp",
    "shift_jis": "cp932",
    "euc-kr": "cp949",
    "utf-16be": "utf-16-be",
    "utf-16le": "utf-16-le",
}

# Python codec name (codecs.lookup(label).name) -> WHATWG encoding, where they differ.
_FROM_PYTHON: dict[str, str] = {
    **{python: whatwg for whatwg, python in _CODECS.items()},
    "iso8859-1": "windows-1252",
    "ascii": "windows-1252",
    "iso8859-9": "windows-1254",
    "iso8859-11": "windows-874",
    "tis-620": "windows-874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5",
    "shift_jis": "shift_jis",
    "euc_kr": "euc-kr",
    "utf-16": "utf-16le",
}

# WHATWG labels Python does not know under that spelling.
_LABELS: dict[str, str] = {
    "windows-31j": "shift_jis",
    "x-sjis": "shift_jis",
    "x-gbk": "gb18030",
    "x-cp1250": "windows-1250",
    "x-cp1251": "windows-1251",
    "x-cp1252": "windows-1252",
    "x-euc-jp": "euc-jp",
    "iso-8859-8-i": "iso-8859-8",
    "logical": "iso-8859-8",
    "visual": "iso-8859-8",
    "x-mac-cyrillic": "x-mac-cyrillic",
    "x-mac-ukrainian": "x-mac-cyrillic",
    "x-mac-roman": "macintosh",
    "dos-874": "windows-874",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "x-user-defined": "windows-1252",
}

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)

_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9_.:+-]+)", re.I)
_XML_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']\s*([a-z0-9_.:+-]+)", re.I)


def decode_html(body: bytes, http_charset: str | None) -> DecodedText:
    """Decode an HTML page; never raises, undecodable bytes become U+FFFD."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return _decoded(body[len(bom):], encoding, "bom")

    http = _resolve_label(http_charset)
    if http is not None and http.startswith("utf-16") and b"\x00" not in body[:1024]:
        http = None  # an ASCII-looking body labelled UTF-16 is not UTF-16
    meta = _document_encoding(body[:_PRESCAN_BYTES])
    declarations = [(http, "http"), (meta, "meta")]
    # Old servers send ISO-8859-1 as a default for every page; the page's own declaration
    # (a windows-1251 <meta>, say) is then the one its author chose.
    if meta is not None and _is_server_default(http_charset):
        declarations.reverse()
    for declared, source in declarations:
        if declared is not None and _is_plausible(body, declared):
            return _declared(body, declared, source)

    if _is_utf8(body):
        return _decoded(body, "utf-8", "detected")
    detected = _detect(body)
    if detected is not None:
        return _decoded(body, detected, "detected")
    return _decoded(body, "utf-8", "fallback")


def _declared(body: bytes, declared: str, source: str) -> DecodedText:
    # Valid UTF-8 with non-ASCII bytes is almost never a legacy encoding by accident, while
    # wrong declarations are common: server-wide ISO-8859-1 defaults, and pages re-encoded as
    # UTF-8 that keep their old <meta charset=gb2312> (People's Daily fixture).
    if declared != "utf-8" and not body.isascii() and _is_utf8(body):
        return _decoded(body, "utf-8", "detected")
    return _decoded(body, declared, source)


def _is_plausible(body: bytes, declared: str) -> bool:
    """False when a UTF-8 declaration is plainly wrong: every non-ASCII byte is invalid UTF-8."""
    if declared != "utf-8" or body.isascii():
        return True
    if _is_utf8(body):
        return True
    # Whole-string operations: a character loop in Python cost 2 ms on a typical page.
    return not body.decode("utf-8", errors="replace").replace("\ufffd", "").isascii()


def _document_encoding(head: bytes) -> str | None:
    """The first encoding named by an XML declaration or <meta> that browsers would know."""
    labels = [match.group(1) for match in _XML_ENCODING.finditer(head)]
    labels += [match.group(1) for match in _META_CHARSET.finditer(head)]
    for label in labels:
        declared = _resolve_label(label.decode("ascii"))
        if declared is not None:
            # The label was found in ASCII bytes, so the page cannot be UTF-16 (WHATWG).
            return "utf-8" if declared.startswith("utf-16") else declared
    return None


def _is_server_default(label: str | None) -> bool:
    if not label:
        return False
    try:
        return codecs.lookup(label.strip().strip("\"'").strip()).name in {"iso8859-1", "ascii"}
    except LookupError:
        return False


def _resolve_label(label: str | None) -> str | None:
    """The WHATWG encoding a label names, or None when browsers would not know it."""
    if not label:
        return None
    label = label.strip().strip("\"'").strip().lower()
    if label in _CODECS:
        return label
    if label in _LABELS:
        return _LABELS[label]
    try:
        python_name = codecs.lookup(label).name
    except LookupError:
        return None
    return _FROM_PYTHON.get(python_name)


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes  # only for pages that declare nothing usable

    for guess in from_bytes(body):
        encoding = _resolve_label(guess.encoding)
        if encoding is not None:
            return encoding
    return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decoded(body: bytes, encoding: str, source: str) -> DecodedText:
    return DecodedText(
        text=body.decode(_CODECS[encoding], errors="replace"), encoding=encoding, source=source
    )
