"""The normal form of a URL used to recognise an entry already seen (`is_http_url`, the
check config/ shares, is in `ingest/records.py`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PREFIXES = ("utm_",)
_TRACKING_NAMES = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid"})


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, default port, fragment and tracking parameters dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    # No user name or password: they are no part of what the page is.
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    query = urlencode(
        [
            (name, value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
            if not name.lower().startswith(_TRACKING_PREFIXES)
            and name.lower() not in _TRACKING_NAMES
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def without_credentials(url: str) -> str:
    """`url` without a user name or password (`https://user:pass@host/` -> `https://host/`):
    what a feed's links carry is stored in the index and shown."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def detail_without_url(detail: str, url: str | None) -> str:
    """A failure's detail without the URL it starts with: the log line and the entry carry
    the URL once, beside it."""
    if url and detail.startswith(f"{url}: "):
        return detail[len(url) + 2:]
    return detail
