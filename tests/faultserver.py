"""Misbehaving servers for the fault suite: route handlers for `tests.loopback.LoopbackSite`.

Each handler writes its response itself, the way a broken or hostile server does: too slowly,
too much, compressed far beyond its size, or not at all. Everything listens on 127.0.0.1.
Handlers stop quietly when the client hangs up (the fetcher gives up on purpose).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.loopback import Handler, LoopbackSite, Route
from tests.newsfixtures import FakeStory, news_page, rss_feed

FIXTURES = Path(__file__).parent / "end_to_end" / "fixtures"
RSS = "application/rss+xml"
_HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def fixture_feed(name: str, site: LoopbackSite) -> bytes:
    """A feed fixture with `{base}` replaced by the site's address (bytes: any encoding)."""
    return (FIXTURES / name).read_bytes().replace(b"{base}", site.url("").encode("ascii"))


def _headers(request: BaseHTTPRequestHandler, status: int,
             headers: tuple[tuple[str, str], ...]) -> None:
    request.send_response(status)
    for name, value in headers:
        request.send_header(name, value)
    request.end_headers()


def trickle(body: bytes, *, seconds_per_byte: float,
            content_type: str = "text/html; charset=utf-8") -> Handler:
    """A correct response sent one byte at a time: every read succeeds, the whole never ends."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        _headers(request, 200, (("Content-Type", content_type),
                                ("Content-Length", str(len(body)))))
        try:
            for index in range(len(body)):
                request.wfile.write(body[index:index + 1])
                request.wfile.flush()
                time.sleep(seconds_per_byte)
        except _HUNG_UP:
            pass

    return handle


def stall(seconds: float) -> Handler:
    """Accepts the request and says nothing for `seconds` (a read timeout), then hangs up."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        request.close_connection = True

    return handle


def hang_up() -> Handler:
    """Closes the connection without any response."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True
        request.connection.shutdown(socket.SHUT_RDWR)

    return handle


def oversized(total_bytes: int, *, declare_length: bool,
              content_type: str = "text/html; charset=utf-8") -> Handler:
    """A body of `total_bytes`, announced by Content-Length or only ended by closing."""
    chunk = (b"<p>" + b"filler " * 9000 + b"</p>\n")

    def handle(request: BaseHTTPRequestHandler) -> None:
        headers = [("Content-Type", content_type)]
        if declare_length:
            headers.append(("Content-Length", str(total_bytes)))
        else:
            headers.append(("Connection", "close"))
            request.close_connection = True
        _headers(request, 200, tuple(headers))
        sent = 0
        try:
            while sent < total_bytes:
                part = chunk[:total_bytes - sent]
                request.wfile.write(part)
                sent += len(part)
        except _HUNG_UP:
            pass

    return handle


def gzip_bomb_body(expanded_bytes: int) -> bytes:
    """Gzip of `expanded_bytes` zeros: about a thousandth of that on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(expanded_bytes >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(compressed: bytes) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        _headers(request, 200, (("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Encoding", "gzip"),
                                ("Content-Length", str(len(compressed)))))
        with contextlib.suppress(*_HUNG_UP):
            request.wfile.write(compressed)

    return handle


def fails_first(times: int, failure: Route, then: Route) -> Handler:
    """`failure` for the first `times` requests, then `then` (a 429 that clears up)."""
    lock = threading.Lock()
    served = [0]

    def handle(request: BaseHTTPRequestHandler) -> None:
        with lock:
            served[0] += 1
            route = failure if served[0] <= times else then
        _headers(request, route.status, (("Content-Type", route.content_type),
                                         ("Content-Length", str(len(route.body))),
                                         *route.headers))
        request.wfile.write(route.body)

    return handle


def needs_basic_auth(expected: str, route: Route) -> Handler:
    """`route` when the request carries `Authorization: Basic <expected>`, else 401."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("Authorization") != f"Basic {expected}":
            _headers(request, 401, (("Content-Length", "0"),
                                    ("WWW-Authenticate", 'Basic realm="feeds"')))
            return
        _headers(request, route.status, (("Content-Type", route.content_type),
                                         ("Content-Length", str(len(route.body)))))
        request.wfile.write(route.body)

    return handle


def refused_port() -> int:
    """A loopback port with nothing listening (bound then closed, so connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- invented news at scale --------------------------------------------------------------

_LETTERS = "abcdefghiklmnoprstuvwyz"
_WORDS = tuple("".join(random.Random(n).choice(_LETTERS) for _ in range(3 + n % 7))
               + _LETTERS[n % 23] for n in range(800))


def invented_story(slug: str) -> FakeStory:
    """A distinct, prose-like story for `slug`, the same on every call."""
    rng = random.Random(f"story:{slug}")

    def sentence() -> str:
        picked = rng.sample(_WORDS, rng.randint(9, 15))
        return f"{' '.join(picked[:5]).capitalize()}, {' '.join(picked[5:])}."

    paragraphs = tuple(" ".join(sentence() for _ in range(3)) for _ in range(2))
    return FakeStory(slug=slug, title=" ".join(rng.sample(_WORDS, 5)).capitalize(),
                     paragraphs=paragraphs,
                     published=date(2025, 1, 1) + timedelta(days=rng.randrange(300)))


def serve_story(site: LoopbackSite, path: str, story: FakeStory, *,
                delay_seconds: float = 0.0) -> str:
    site.set(path, Route(news_page(story).encode("utf-8"), delay_seconds=delay_seconds))
    return site.url(path)


def serve_feed(site: LoopbackSite, path: str, items: list[tuple[FakeStory, str]], *,
               delay_seconds: float = 0.0) -> str:
    site.set(path, Route(rss_feed(items).encode("utf-8"), content_type=RSS,
                         delay_seconds=delay_seconds))
    return site.url(path)


# The ways a response fails in the load test: fast, deterministic, and each a named kind.
LOAD_FAULTS: tuple[tuple[str, Route], ...] = (
    ("http_not_found", Route(b"gone", status=404, content_type="text/plain")),
    ("http_not_found", Route(b"gone", status=410, content_type="text/plain")),
    ("http_unauthorized", Route(b"no", status=403, content_type="text/plain")),
    ("http_server_error", Route(b"oops", status=500, content_type="text/plain")),
    ("http_server_error", Route(b"busy", status=503, content_type="text/plain",
                                headers=(("Retry-After", "0"),))),
    ("http_too_many_requests", Route(b"slow down", status=429, content_type="text/plain",
                                     headers=(("Retry-After", "0"),))),
    ("empty_response", Route(b"", content_type="text/html")),
    ("unsupported_content_type", Route(b"%PDF-1.4 not a page", content_type="application/pdf")),
)


@dataclass(frozen=True)
class NewsLoad:
    """What a generated news site serves, and what a complete ingest of it must store."""

    feeds: tuple[tuple[str, str], ...]  # (name, url) for the configuration
    expected_texts: frozenset[str]  # corpus texts of every article reachable without a fault
    failing_feeds: int
    failing_pages: int


def serve_news_load(site: LoopbackSite, *, feeds: int, entries: int, fault_rate: float,
                    seed: int, page_delay_seconds: float = 0.0) -> NewsLoad:
    """`feeds` feeds of `entries` stories; a `fault_rate` share of feed and page responses fail.

    Faults are drawn with `seed` and do not change between requests, so "every good article"
    is well defined: the pages of feeds that answer, that answer themselves.
    """
    rng = random.Random(seed)
    configured: list[tuple[str, str]] = []
    expected: set[str] = set()
    failing_feeds = failing_pages = 0
    for f in range(feeds):
        feed_fails = rng.random() < fault_rate
        items: list[tuple[FakeStory, str]] = []
        good: list[FakeStory] = []
        for e in range(entries):
            story = invented_story(f"s{seed}-f{f}-e{e}")
            path = f"/f{f}/{e}.html"
            if rng.random() < fault_rate:
                site.set(path, rng.choice(LOAD_FAULTS)[1])
                failing_pages += not feed_fails
            else:
                serve_story(site, path, story, delay_seconds=page_delay_seconds)
                good.append(story)
            items.append((story, site.url(path)))
        feed_path = f"/f{f}/rss.xml"
        if feed_fails:
            site.set(feed_path, rng.choice(LOAD_FAULTS)[1])
            failing_feeds += 1
        else:
            serve_feed(site, feed_path, items)
            expected.update(story.corpus_text() for story in good)
        configured.append((f"feed-{f:03d}", site.url(feed_path)))
    return NewsLoad(feeds=tuple(configured), expected_texts=frozenset(expected),
                    failing_feeds=failing_feeds, failing_pages=failing_pages)


def corpus_texts(corpus_dir: Path) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(corpus_dir.glob("*.txt"))]


def iter_json_lines(text: str) -> Iterator[dict[str, object]]:
    import json

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)
