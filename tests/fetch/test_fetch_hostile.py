"""Hostile responses at the fetch edge: truncated compressed bodies, a 304 nobody asked for,
validators that cannot be sent back, credentials in the final URL (issue 15)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterable

import httpx
import pytest

from config.settings import FetchSettings
from ingest.fetch.client import PageFetcher
from ingest.records import FailureKind, FetchResponse, IngestFailure

SETTINGS = FetchSettings(retries=0, backoff_seconds=0.001)
PAGE = b"<html><body>" + b"<p>An article paragraph of some length.</p>" * 400 + b"</body></html>"


class ChunkStream(httpx.AsyncByteStream):
    """A body that arrives in chunks, as from the network (not pre-read)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = list(chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def fetch(handler: httpx.MockTransport, url: str = "https://news.example/a",
          **kwargs: object) -> FetchResponse:
    async def go() -> FetchResponse:
        async with PageFetcher(SETTINGS, transport=handler) as fetcher:
            return await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return asyncio.run(go())


def answering(*responses: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    pending = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return pending.pop(0) if len(pending) > 1 else pending[0]
    return httpx.MockTransport(handle), seen


def _deflated(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(("coding", "compressed"), [
    ("gzip", gzip.compress(PAGE)),
    ("x-gzip", gzip.compress(PAGE)),
    ("deflate", _deflated(PAGE, zlib.MAX_WBITS)),
    ("deflate", _deflated(PAGE, -zlib.MAX_WBITS)),
])
@pytest.mark.parametrize("kept", [0.3, 0.6, 0.95])
def test_a_truncated_compressed_body_is_a_named_failure_not_a_short_article(
        coding: str, compressed: bytes, kept: float) -> None:
    cut = compressed[:int(len(compressed) * kept)]
    transport, _ = answering(httpx.Response(
        200, headers={"Content-Encoding": coding, "Content-Type": "text/html"},
        stream=ChunkStream([cut[:100], cut[100:]])))

    with pytest.raises(IngestFailure) as info:
        fetch(transport)

    assert info.value.kind is FailureKind.TRUNCATED_RESPONSE
    assert info.value.kind.is_transient


def test_a_whole_compressed_body_is_still_read() -> None:
    transport, _ = answering(httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=ChunkStream([gzip.compress(PAGE)])))
    assert fetch(transport).body == PAGE


@pytest.mark.parametrize("headers", [{}, {"ETag": '"v1"'}, {"Last-Modified": "x"}])
def test_a_304_to_a_request_without_validators_is_not_taken_as_unchanged(
        headers: dict[str, str]) -> None:
    transport, seen = answering(httpx.Response(304, headers=headers))

    with pytest.raises(IngestFailure) as info:
        fetch(transport)

    assert info.value.kind is FailureKind.UNEXPECTED_NOT_MODIFIED
    assert "if-none-match" not in seen[0].headers


def test_a_304_to_a_conditional_request_is_still_not_modified() -> None:
    transport, _ = answering(httpx.Response(304))
    assert fetch(transport, etag='"v1"').not_modified
    assert fetch(transport, last_modified="Tue, 01 Oct 2024 10:00:00 GMT").not_modified


@pytest.mark.parametrize("raw", ['"caf\u00e9"'.encode(), '"\u6f22"'.encode(),
                                 b'"v1\x01"', b'"' + b"a" * 5000 + b'"'])
@pytest.mark.parametrize("header", ["ETag", "Last-Modified"])
def test_a_validator_that_cannot_be_sent_back_is_not_kept(raw: bytes, header: str) -> None:
    transport, seen = answering(httpx.Response(
        200, headers=[(header.encode(), raw), (b"Content-Type", b"text/html")], content=PAGE))

    first = fetch(transport)
    assert first.etag is None and first.last_modified is None
    # And one recorded before this check does not fail every later poll.
    again = fetch(transport, etag=raw.decode("utf-8", "replace"),
                  last_modified=raw.decode("utf-8", "replace"))
    assert again.body == PAGE
    assert "if-none-match" not in seen[-1].headers


@pytest.mark.parametrize("location", ["https://user:pw@news.example/b",
                                      "https://token@news.example/b?x=1"])
def test_the_final_url_of_a_redirect_has_no_credentials(location: str) -> None:
    transport, _ = answering(httpx.Response(302, headers={"Location": location}),
                             httpx.Response(200, headers={"Content-Type": "text/html"},
                                            content=PAGE))

    response = fetch(transport)

    assert "@" not in response.url and response.url.startswith("https://news.example/b")
