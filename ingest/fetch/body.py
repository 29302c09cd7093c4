"""Read a response body as a stream: decompressed within the size cap, and refused when a
compressed stream ends before its end (a truncated gzip body is not a shorter article)."""

from __future__ import annotations

import zlib

import httpx

from ingest.fetch.failures import shown_url
from ingest.records import FailureKind, IngestFailure

_ZLIB_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class _BodyTooLarge(Exception):
    pass


class _BoundedDecoder:
    """Undo gzip/deflate without ever producing more than `limit` bytes in total.

    httpx's own decoders inflate each network chunk in full: a 64 KiB chunk of a gzip bomb
    becomes ~64 MB before anyone can count it. zlib's max_length stops at the cap instead.
    """

    def __init__(self, coding: str | None, limit: int) -> None:
        self._coding = coding
        self._limit = limit
        self._produced = 0
        self._received = 0
        self._inflate = None if coding is None else zlib.decompressobj(zlib.MAX_WBITS | 32)

    def decode(self, data: bytes) -> bytes:
        room = self._limit - self._produced
        self._received += len(data)
        if self._inflate is None:
            out = data
        else:
            try:
                out = self._inflate.decompress(data, room + 1)
            except zlib.error:
                if self._coding != "deflate" or self._produced:
                    raise
                # Some servers send raw deflate without the zlib header RFC 9110 asks for.
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._inflate.decompress(data, room + 1)
        self._produced += len(out)
        if self._produced > self._limit:
            raise _BodyTooLarge
        return out

    @property
    def complete(self) -> bool:
        """Whether the compressed stream reached its end (or there was none): zlib keeps
        waiting for more when the connection closes early, and says so only here."""
        return self._inflate is None or self._inflate.eof or self._received == 0

    def flush(self) -> bytes:
        if self._inflate is None:
            return b""
        out = self._inflate.flush()
        self._produced += len(out)
        if self._produced > self._limit:
            raise _BodyTooLarge
        return out


async def read_body(response: httpx.Response, cap: int) -> bytes:
    codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1 or (codings and codings[0] not in _ZLIB_CODINGS):
        # We only ask for gzip/deflate; stacked codings multiply a bomb's ratio.
        raise IngestFailure(FailureKind.UNSUPPORTED_CONTENT_TYPE,
                            f"{shown_url(response.url)}: unsupported Content-Encoding "
                            f"{', '.join(codings)}")
    if response.is_stream_consumed:
        # In-memory responses (httpx.MockTransport, respx) arrive already read and decoded;
        # there is nothing left to bound, only to measure.
        if len(response.content) > cap:
            raise IngestFailure(FailureKind.RESPONSE_TOO_LARGE,
                                f"{shown_url(response.url)}: body over the {cap}-byte cap")
        return response.content
    decoder = _BoundedDecoder(codings[0] if codings else None, cap)
    parts: list[bytes] = []
    try:
        async for chunk in response.aiter_raw():
            parts.append(decoder.decode(chunk))
        parts.append(decoder.flush())
    except _BodyTooLarge:
        raise IngestFailure(
            FailureKind.RESPONSE_TOO_LARGE,
            f"{shown_url(response.url)}: body over the {cap}-byte cap (after decompression)",
        ) from None
    except zlib.error as exc:
        raise IngestFailure(FailureKind.HTTP_SERVER_ERROR,
                            f"{shown_url(response.url)}: corrupt {codings[0]} body: {exc}") from exc
    if not decoder.complete:
        raise IngestFailure(FailureKind.TRUNCATED_RESPONSE,
                            f"{shown_url(response.url)}: the {codings[0]} body ends before "
                            "its end")
    return b"".join(parts)


