"""The closed set of ways a feed or an article can fail, each with a one-line explanation.

Stages raise `IngestFailure` at the edge; the pipeline records its `kind` per feed and per
article so the status log counts failures by kind instead of echoing exception text.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    INVALID_URL = "invalid_url"
    BLOCKED_ADDRESS = "blocked_address"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"
    TLS_ERROR = "tls_error"
    TIMEOUT = "timeout"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    RESPONSE_TOO_LARGE = "response_too_large"
    HTTP_UNAUTHORIZED = "http_unauthorized"
    HTTP_NOT_FOUND = "http_not_found"
    HTTP_TOO_MANY_REQUESTS = "http_too_many_requests"
    HTTP_CLIENT_ERROR = "http_client_error"
    HTTP_SERVER_ERROR = "http_server_error"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    EMPTY_RESPONSE = "empty_response"
    NOT_A_FEED = "not_a_feed"
    ENTRY_WITHOUT_LINK = "entry_without_link"
    NO_ARTICLE_TEXT = "no_article_text"
    STORAGE_ERROR = "storage_error"
    INTERNAL_ERROR = "internal_error"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]

    @property
    def is_transient(self) -> bool:
        """Whether trying the same URL again later may succeed."""
        return self in _TRANSIENT


_EXPLANATIONS: dict[FailureKind, str] = {
    FailureKind.INVALID_URL: "the URL is not an absolute http(s) URL",
    FailureKind.BLOCKED_ADDRESS: "the host resolves to a private, loopback or link-local address",
    FailureKind.DNS_ERROR: "the host name does not resolve",
    FailureKind.CONNECTION_ERROR: "the server refused or dropped the connection",
    FailureKind.TLS_ERROR: "the TLS handshake failed",
    FailureKind.TIMEOUT: "the server did not answer within the configured time",
    FailureKind.TOO_MANY_REDIRECTS: "the server redirected too many times (or in a loop)",
    FailureKind.RESPONSE_TOO_LARGE: "the response is larger than the configured cap",
    FailureKind.HTTP_UNAUTHORIZED: "the server refused access (HTTP 401/403)",
    FailureKind.HTTP_NOT_FOUND: "the server has no such page (HTTP 404/410)",
    FailureKind.HTTP_TOO_MANY_REQUESTS: "the server is rate limiting us (HTTP 429)",
    FailureKind.HTTP_CLIENT_ERROR: "the server rejected the request (HTTP 4xx)",
    FailureKind.HTTP_SERVER_ERROR: "the server failed (HTTP 5xx)",
    FailureKind.UNSUPPORTED_CONTENT_TYPE: "the response is not HTML or a feed (PDF, image, ...)",
    FailureKind.EMPTY_RESPONSE: "the server answered with an empty body",
    FailureKind.NOT_A_FEED: "the response is not an RSS or Atom feed with entries",
    FailureKind.ENTRY_WITHOUT_LINK: "the feed entry has no link to an article page",
    FailureKind.NO_ARTICLE_TEXT: "no article text could be extracted from the page",
    FailureKind.STORAGE_ERROR: "the corpus file or index row could not be written",
    FailureKind.INTERNAL_ERROR: "an unexpected error in source-ingest (a bug: please report it)",
}

_TRANSIENT = frozenset(
    {
        FailureKind.DNS_ERROR,
        FailureKind.CONNECTION_ERROR,
        FailureKind.TLS_ERROR,
        FailureKind.TIMEOUT,
        FailureKind.HTTP_TOO_MANY_REQUESTS,
        FailureKind.HTTP_SERVER_ERROR,
        FailureKind.STORAGE_ERROR,
        FailureKind.INTERNAL_ERROR,
    }
)


class IngestFailure(Exception):
    """A failure of one feed or one article, with its kind and a one-line detail."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
