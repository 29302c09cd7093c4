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

import webencodings

from ingest.records import DecodedText

# Browsers look for <meta charset> in the first 1024 bytes; real pages put long scripts and
# comments before it (a fixture has it after byte 1024), so look further.
_PRESCAN_BYTES = 4096

# WHATWG encoding name -> the Python codec that decodes it, where the names differ. The GBK
# decoder is the gb18030 one (WHATWG); "x-user-defined" is webencodings' own codec.
_PYTHON_CODECS: dict[str, str] = {**webencodings.PYTHON_NAMES, "gbk": "gb18030"}


def _python_codec(encoding: str) -> codecs.CodecInfo:
    if encoding == "x-user-defined":
        return webencodings.x_user_defined.codec_info
    return codecs.lookup(_PYTHON_CODECS.get(encoding, encoding))


def python_codec_name(label: str | None) -> str | None:
    """The Python codec that decodes what a WHATWG label names, None for a label browsers
    would not know (or one with no Python codec): for parsers that take a codec name."""
    encoding = resolve_label(label)
    if encoding is None or encoding == "x-user-defined":
        return None
    return _python_codec(encoding).name


def _python_to_whatwg() -> dict[str, str]:
    """Python codec name (as the charset detector reports it) -> WHATWG encoding."""
    names = {_python_codec(name).name: name for name in set(webencodings.LABELS.values())
             if name not in ("replacement", "x-user-defined")}
    # Labels of legacy encodings whose WHATWG decoder is a superset (ISO-8859-1 and ASCII
    # decode as windows-1252, GB2312 as gb18030, and so on).
    for label in ("ascii", "iso8859-1", "iso8859-9", "iso8859-11", "tis-620", "gb2312",
                  "gbk", "big5", "shift_jis", "euc_kr", "utf-16"):
        names[codecs.lookup(label).name] = webencodings.lookup(label.replace("_", "-")).name
    return names


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

    http = resolve_label(http_charset)
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
        declared = resolve_label(label.decode("ascii"))
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


def resolve_label(label: str | None) -> str | None:
    """The WHATWG encoding a label names (all 228 labels of the Encoding Standard, through
    webencodings), or None when browsers would not know it: Python's own codec names
    (rot13, base64, utf-7, ...) are never used to decode what a server sends."""
    if not label:
        return None
    encoding = webencodings.lookup(label.strip().strip("\"'").strip())
    # The "replacement" encodings (ISO-2022-KR, HZ, ...) decode to a single U+FFFD by design
    # (an XSS defence of browsers): no label at all serves a corpus better.
    if encoding is None or encoding.name == "replacement":
        return None
    return str(encoding.name)


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes  # only for pages that declare nothing usable

    from_python = _python_to_whatwg()
    for guess in from_bytes(body):
        try:
            encoding = from_python.get(codecs.lookup(guess.encoding).name)
        except LookupError:
            continue
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
    text, _ = _python_codec(encoding).decode(body, "replace")
    return DecodedText(text=text, encoding=encoding, source=source)
