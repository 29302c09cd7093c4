"""What a failed exchange means: the failure kind of an HTTP status or a transport error,
whether another attempt may succeed, and URLs and messages made fit for the status log."""

from __future__ import annotations

import email.utils
import re
import socket
import ssl
import time
from datetime import UTC
from typing import TypeVar

import httpx

from ingest.fetch.unresolved import UnresolvedHost
from ingest.records import FailureKind, IngestFailure

# Bounded: a URL's user information is short, and a message is cut before it is searched.
_USERINFO = re.compile(r"(?<=//)[^/?#@\s]{0,512}@")
_LONGEST_MESSAGE = 2000

_E = TypeVar("_E", bound=BaseException)


class RetryableFailure(Exception):
    """A failure worth another attempt, with the server's Retry-After in seconds if it sent one."""

    def __init__(self, failure: IngestFailure, retry_after: float | None = None) -> None:
        super().__init__(failure.detail)
        self.failure = failure
        self.retry_after = retry_after


def status_failure(response: httpx.Response, shown: str) -> IngestFailure | RetryableFailure:
    status = response.status_code
    detail = f"{shown}: HTTP {status}"
    if status in (401, 403):
        return IngestFailure(FailureKind.HTTP_UNAUTHORIZED, detail)
    if status in (404, 410):
        return IngestFailure(FailureKind.HTTP_NOT_FOUND, detail)
    if status == 429:
        kind = FailureKind.HTTP_TOO_MANY_REQUESTS
    elif status >= 500:
        kind = FailureKind.HTTP_SERVER_ERROR
    elif 300 <= status < 400:
        return IngestFailure(FailureKind.HTTP_SERVER_ERROR, f"{detail}, not a redirect to follow")
    else:
        return IngestFailure(FailureKind.HTTP_CLIENT_ERROR, detail)
    retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
    return RetryableFailure(IngestFailure(kind, detail), retry_after)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def failure_from_error(exc: httpx.HTTPError, url: httpx.URL) -> IngestFailure:
    shown = shown_url(url)
    reason = one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return IngestFailure(FailureKind.TIMEOUT, f"{shown}: {type(exc).__name__}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return IngestFailure(FailureKind.INVALID_URL, f"{shown}: {reason}")
    gaierror = _cause(exc, socket.gaierror)
    if gaierror is not None:
        if gaierror.errno == socket.EAI_AGAIN:  # a resolver's hiccup: not the host's fault
            return IngestFailure(FailureKind.DNS_ERROR, f"{shown}: {reason}")
        return UnresolvedHost(url.host, f"{shown}: {reason}")
    if _cause(exc, ssl.SSLError) is not None:
        return IngestFailure(FailureKind.TLS_ERROR, f"{shown}: {reason}")
    return IngestFailure(FailureKind.CONNECTION_ERROR, f"{shown}: {reason}")


def is_worth_retrying(exc: httpx.HTTPError) -> bool:
    if isinstance(exc, httpx.TimeoutException):
        return True
    if not isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return False
    gaierror = _cause(exc, socket.gaierror)
    if gaierror is not None:
        # "Temporary failure in name resolution" clears up; "Name or service not known" won't.
        return gaierror.errno == socket.EAI_AGAIN
    return _cause(exc, ssl.SSLError) is None


def _cause(exc: BaseException, kind: type[_E]) -> _E | None:
    # __context__ as well as __cause__: httpcore's pool re-raises with `raise exc from None`,
    # which drops the explicit cause (the socket.gaierror) but keeps the context.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def shown_url(url: str | httpx.URL) -> str:
    """A URL fit for logs: no user name or password."""
    return one_line(str(url))


def one_line(text: str) -> str:
    """A message on one line of at most 300 characters, without URL credentials."""
    text = _USERINFO.sub("", text[:_LONGEST_MESSAGE])
    return " ".join(text.split())[:300]
