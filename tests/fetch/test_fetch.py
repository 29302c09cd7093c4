"""What the fetch edge guarantees: status mapping, retries, limits, redirects, clean errors."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpcore
import httpx
import pytest
import respx

from config.settings import FetchSettings
from ingest.fetch.asyncio_backend import AsyncioBackend
from ingest.fetch.client import PageFetcher, _HostSlots
from ingest.fetch.netguard import guarded_transport
from ingest.records import FailureKind, FetchResponse, IngestFailure
from tests.loopback import Route, serve_site

SETTINGS = FetchSettings(retries=0, backoff_seconds=0.001, max_retry_after_seconds=5.0)
HTML = "<html><body><p>Article text.</p></body></html>"


Handler = Callable[[httpx.Request], httpx.Response]


async def fetch_with(
    router: respx.Router | Handler,
    url: str,
    settings: FetchSettings = SETTINGS,
    observe: Callable[[str, float, int | None], None] | None = None,
    **kwargs: object,
) -> FetchResponse:
    # Plain handlers go straight to httpx.MockTransport: respx re-raises a side effect's
    # exception with its own cause, which hides the socket/ssl error fetch() looks for.
    handler = router.async_handler if isinstance(router, respx.Router) else router
    transport = httpx.MockTransport(handler)
    async with PageFetcher(settings, transport=transport, observe=observe) as fetcher:
        return await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]


def failure_of(router: respx.Router | Handler, url: str, settings: FetchSettings = SETTINGS,
               **kwargs: object) -> IngestFailure:
    with pytest.raises(IngestFailure) as info:
        asyncio.run(fetch_with(router, url, settings, **kwargs))
    return info.value


class ChunkStream(httpx.AsyncByteStream):
    """A response body that arrives in chunks, like one from the network (not pre-read)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.chunks_read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.chunks_read += 1
            yield chunk


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the fetcher's backoff sleeps instead of waiting them out."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return recorded


# --- success, conditional GET, headers -------------------------------------------------------

def test_200_returns_body_media_type_charset_and_validators() -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(
        200, content=HTML.encode(),
        headers={"Content-Type": 'Text/HTML; Charset="UTF-8"', "ETag": '"v1"',
                 "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"},
    )

    response = asyncio.run(fetch_with(router, "https://news.example/a"))

    assert response == FetchResponse(
        url="https://news.example/a", status=200, content_type="text/html", charset="UTF-8",
        body=HTML.encode(), etag='"v1"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT",
    )


def test_conditional_get_sends_validators_and_304_returns_empty_body() -> None:
    router = respx.Router()
    route = router.get("https://news.example/feed").respond(304, headers={"ETag": '"v2"'})

    response = asyncio.run(fetch_with(router, "https://news.example/feed", etag='"v1"',
                                      last_modified="Tue, 01 Oct 2024 10:00:00 GMT"))

    sent = route.calls.last.request.headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Tue, 01 Oct 2024 10:00:00 GMT"
    assert response.not_modified and response.body == b""
    assert response.etag == '"v2"'
    assert response.last_modified == "Tue, 01 Oct 2024 10:00:00 GMT"


def test_user_agent_accept_and_accept_encoding_headers() -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").respond(200, html=HTML)
    settings = FetchSettings(user_agent="test-agent/1.0 (+https://ops.example)")

    asyncio.run(fetch_with(router, "https://news.example/a", settings,
                           allowed_types={"text/html", "application/xhtml+xml"}))

    sent = route.calls.last.request.headers
    assert sent["User-Agent"] == "test-agent/1.0 (+https://ops.example)"
    assert sent["Accept"].startswith("application/xhtml+xml, text/html")
    assert sent["Accept-Encoding"] == "gzip, deflate"


def test_missing_content_type_is_accepted() -> None:
    router = respx.Router()
    router.get("https://news.example/a").mock(
        return_value=httpx.Response(200, stream=ChunkStream([HTML.encode()]))
    )

    response = asyncio.run(fetch_with(router, "https://news.example/a",
                                      allowed_types={"text/html"}))

    assert (response.content_type, response.charset, response.body) == ("", None, HTML.encode())


def test_gzip_and_raw_deflate_bodies_are_decoded() -> None:
    router = respx.Router()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = raw_deflate.compress(HTML.encode()) + raw_deflate.flush()
    router.get("https://news.example/gz").mock(return_value=httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=ChunkStream([gzip.compress(b"x" * 10)])))
    router.get("https://news.example/deflate").mock(return_value=httpx.Response(
        200, headers={"Content-Encoding": "deflate"}, stream=ChunkStream([deflated])))

    assert asyncio.run(fetch_with(router, "https://news.example/gz")).body == b"x" * 10
    assert asyncio.run(fetch_with(router, "https://news.example/deflate")).body == HTML.encode()


# --- failure mapping -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, FailureKind.HTTP_UNAUTHORIZED),
        (403, FailureKind.HTTP_UNAUTHORIZED),
        (404, FailureKind.HTTP_NOT_FOUND),
        (410, FailureKind.HTTP_NOT_FOUND),
        (429, FailureKind.HTTP_TOO_MANY_REQUESTS),
        (400, FailureKind.HTTP_CLIENT_ERROR),
        (451, FailureKind.HTTP_CLIENT_ERROR),
        (500, FailureKind.HTTP_SERVER_ERROR),
        (503, FailureKind.HTTP_SERVER_ERROR),
        (300, FailureKind.HTTP_SERVER_ERROR),
    ],
)
def test_http_status_maps_to_failure_kind(status: int, kind: FailureKind) -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(status)

    failure = failure_of(router, "https://news.example/a")

    assert failure.kind is kind
    assert failure.detail.startswith(f"https://news.example/a: HTTP {status}")


def _raising(error: type[httpx.HTTPError], message: str, cause: BaseException | None = None
             ) -> Callable[[httpx.Request], httpx.Response]:
    """A side effect raising `error` from `cause`, the way httpx wraps low-level errors."""
    def side_effect(request: httpx.Request) -> httpx.Response:
        raise error(message, request=request) from cause
    return side_effect


@pytest.mark.parametrize(
    ("side_effect", "kind"),
    [
        (_raising(httpx.ConnectError, "[Errno -2] Name or service not known",
                  socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
         FailureKind.DNS_ERROR),
        (_raising(httpx.ConnectError, "[Errno 111] Connection refused",
                  ConnectionRefusedError(111, "Connection refused")),
         FailureKind.CONNECTION_ERROR),
        (_raising(httpx.ConnectError, "certificate verify failed",
                  ssl.SSLCertVerificationError("certificate verify failed")),
         FailureKind.TLS_ERROR),
        (_raising(httpx.ReadError, "Connection reset by peer"), FailureKind.CONNECTION_ERROR),
        (_raising(httpx.RemoteProtocolError, "Server disconnected"),
         FailureKind.CONNECTION_ERROR),
        (_raising(httpx.ConnectTimeout, ""), FailureKind.TIMEOUT),
        (_raising(httpx.ReadTimeout, ""), FailureKind.TIMEOUT),
    ],
)
def test_transport_error_maps_to_failure_kind(
    side_effect: Callable[[httpx.Request], httpx.Response], kind: FailureKind
) -> None:
    assert failure_of(side_effect, "https://news.example/a").kind is kind


def test_empty_200_is_empty_response() -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(200, content=b"  \n")

    assert failure_of(router, "https://news.example/a").kind is FailureKind.EMPTY_RESPONSE


@pytest.mark.parametrize(
    "url", ["ftp://news.example/a", "javascript:alert(1)", "/relative/path", "not a url",
            "http://", "file:///etc/passwd"],
)
def test_non_http_url_is_invalid(url: str) -> None:
    router = respx.Router()

    assert failure_of(router, url).kind is FailureKind.INVALID_URL


def test_error_detail_never_contains_credentials() -> None:
    router = respx.Router()
    router.get("https://news.example/private").respond(404)
    router.get("https://news.example/down").mock(
        side_effect=httpx.ConnectError("failed for https://bob:hunter2@news.example/down"))
    router.get("https://news.example/moved").respond(
        301, headers={"Location": "ftp://carol:swordfish@files.example/x"})

    details = [
        failure_of(router, "https://bob:hunter2@news.example/private").detail,
        failure_of(router, "https://bob:hunter2@news.example/down").detail,
        failure_of(router, "https://bob:hunter2@news.example/moved").detail,
        failure_of(router, "gopher://bob:hunter2@news.example/").detail,
    ]

    for detail in details:
        assert "hunter2" not in detail and "bob" not in detail
        assert "swordfish" not in detail and "carol" not in detail
        assert "\n" not in detail
    assert details[0] == "https://news.example/private: HTTP 404"


# --- retries ---------------------------------------------------------------------------------

def test_server_error_is_retried_with_exponential_backoff(sleeps: list[float]) -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").mock(side_effect=[
        httpx.Response(503), httpx.Response(502), httpx.Response(200, html=HTML)])
    settings = FetchSettings(retries=2, backoff_seconds=0.5)

    response = asyncio.run(fetch_with(router, "https://news.example/a", settings))

    assert response.status == 200 and route.call_count == 3
    assert sleeps == [0.5, 1.0]


def test_retries_exhausted_reports_the_last_failure(sleeps: list[float]) -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").respond(500)
    settings = FetchSettings(retries=2, backoff_seconds=0.01)

    failure = failure_of(router, "https://news.example/a", settings)

    assert failure.kind is FailureKind.HTTP_SERVER_ERROR and route.call_count == 3


def test_connection_errors_and_timeouts_are_retried(sleeps: list[float]) -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, html=HTML)])
    settings = FetchSettings(retries=2, backoff_seconds=0.01)

    assert asyncio.run(fetch_with(router, "https://news.example/a", settings)).status == 200
    assert route.call_count == 3


@pytest.mark.parametrize("status", [404, 403, 400])
def test_client_errors_are_not_retried(status: int, sleeps: list[float]) -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").respond(status)

    failure_of(router, "https://news.example/a", FetchSettings(retries=3))

    assert route.call_count == 1 and sleeps == []


def test_unknown_host_is_not_retried_but_temporary_dns_failure_is(sleeps: list[float]) -> None:
    calls: list[str] = []
    temporary = _raising(httpx.ConnectError, "dns", socket.gaierror(socket.EAI_AGAIN, "again"))
    unknown = _raising(httpx.ConnectError, "dns", socket.gaierror(socket.EAI_NONAME, "unknown"))

    def resolver_trouble(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        if request.url.host == "gone.example":
            return unknown(request)
        if calls.count("flaky.example") == 1:
            return temporary(request)
        return httpx.Response(200, html=HTML)

    settings = FetchSettings(retries=2, backoff_seconds=0.01)

    failure = failure_of(resolver_trouble, "https://gone.example/", settings)
    response = asyncio.run(fetch_with(resolver_trouble, "https://flaky.example/", settings))

    assert failure.kind is FailureKind.DNS_ERROR and response.status == 200
    assert calls == ["gone.example", "flaky.example", "flaky.example"]


def test_429_honours_retry_after_seconds(sleeps: list[float]) -> None:
    router = respx.Router()
    router.get("https://news.example/a").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, html=HTML)])
    settings = FetchSettings(retries=1, backoff_seconds=0.01, max_retry_after_seconds=10)

    assert asyncio.run(fetch_with(router, "https://news.example/a", settings)).status == 200
    assert sleeps == [3.0]


def test_503_honours_retry_after_http_date(sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    router = respx.Router()
    router.get("https://news.example/a").mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, html=HTML)])
    settings = FetchSettings(retries=1, backoff_seconds=0.01, max_retry_after_seconds=10)

    asyncio.run(fetch_with(router, "https://news.example/a", settings))

    assert len(sleeps) == 1 and 3.0 < sleeps[0] <= 5.0


def test_retry_after_longer_than_cap_gives_up_without_sleeping(sleeps: list[float]) -> None:
    router = respx.Router()
    route = router.get("https://news.example/a").respond(429, headers={"Retry-After": "3600"})
    settings = FetchSettings(retries=3, max_retry_after_seconds=30)

    failure = failure_of(router, "https://news.example/a", settings)

    assert failure.kind is FailureKind.HTTP_TOO_MANY_REQUESTS
    assert "3600 s" in failure.detail
    assert route.call_count == 1 and sleeps == []


def test_unavailable_for_longer_than_cap_stays_a_server_error(sleeps: list[float]) -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(503, headers={"Retry-After": "7200"})

    failure = failure_of(router, "https://news.example/a", FetchSettings(retries=2))

    assert failure.kind is FailureKind.HTTP_SERVER_ERROR and sleeps == []


def test_observe_gets_no_status_when_no_response_came() -> None:
    observed: list[tuple[str, int | None]] = []

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    failure_of(refused, "https://down.example/",
               observe=lambda host, seconds, status: observed.append((host, status)))

    assert observed == [("down.example", None)]


def test_unparseable_retry_after_falls_back_to_backoff(sleeps: list[float]) -> None:
    router = respx.Router()
    router.get("https://news.example/a").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(200, html=HTML)])
    settings = FetchSettings(retries=1, backoff_seconds=0.25)

    asyncio.run(fetch_with(router, "https://news.example/a", settings))

    assert sleeps == [0.25]


# --- size and type limits --------------------------------------------------------------------

def test_content_length_over_cap_is_rejected_before_reading() -> None:
    body = ChunkStream([b"x" * 1000] * 100)
    router = respx.Router()
    router.get("https://news.example/big").mock(return_value=httpx.Response(
        200, headers={"Content-Length": "100000", "Content-Type": "text/html"}, stream=body))

    failure = failure_of(router, "https://news.example/big",
                         FetchSettings(max_response_bytes=50_000))

    assert failure.kind is FailureKind.RESPONSE_TOO_LARGE and body.chunks_read == 0


def test_body_over_cap_without_content_length_stops_reading() -> None:
    body = ChunkStream([b"x" * 1000] * 100)
    router = respx.Router()
    router.get("https://news.example/big").mock(return_value=httpx.Response(200, stream=body))

    failure = failure_of(router, "https://news.example/big",
                         FetchSettings(max_response_bytes=5_500))

    assert failure.kind is FailureKind.RESPONSE_TOO_LARGE
    assert body.chunks_read == 6


def test_body_of_exactly_the_cap_is_accepted() -> None:
    router = respx.Router()
    router.get("https://news.example/a").mock(
        return_value=httpx.Response(200, stream=ChunkStream([b"x" * 500] * 2)))

    response = asyncio.run(fetch_with(router, "https://news.example/a",
                                      FetchSettings(max_response_bytes=1000)))

    assert len(response.body) == 1000


def test_unsupported_content_type_is_rejected_before_the_body_is_read() -> None:
    body = ChunkStream([b"%PDF-1.7" + b"\0" * 1000] * 50)
    router = respx.Router()
    router.get("https://news.example/report.pdf").mock(return_value=httpx.Response(
        200, headers={"Content-Type": "application/pdf"}, stream=body))

    failure = failure_of(router, "https://news.example/report.pdf",
                         allowed_types={"text/html", "application/xhtml+xml"})

    assert failure.kind is FailureKind.UNSUPPORTED_CONTENT_TYPE
    assert "application/pdf" in failure.detail
    assert body.chunks_read == 0


def test_stacked_content_encodings_are_refused() -> None:
    router = respx.Router()
    router.get("https://news.example/a").mock(return_value=httpx.Response(
        200, headers={"Content-Encoding": "gzip, gzip"},
        stream=ChunkStream([gzip.compress(gzip.compress(b"x"))])))

    failure = failure_of(router, "https://news.example/a")

    assert failure.kind is FailureKind.UNSUPPORTED_CONTENT_TYPE


# --- redirects -------------------------------------------------------------------------------

def test_redirects_are_followed_and_the_final_url_reported() -> None:
    router = respx.Router()
    router.get("http://news.example/a").respond(301, headers={"Location": "https://news.example/a"})
    router.get("https://news.example/a").respond(302, headers={"Location": "/articles/a?x=1"})
    router.get("https://news.example/articles/a?x=1").respond(200, html=HTML)
    hops: list[tuple[str, int | None]] = []

    response = asyncio.run(fetch_with(
        router, "http://news.example/a",
        observe=lambda host, seconds, status: hops.append((host, status))))

    assert response.url == "https://news.example/articles/a?x=1"
    assert hops == [("news.example", 301), ("news.example", 302), ("news.example", 200)]


def test_redirect_loop_is_too_many_redirects() -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(302, headers={"Location": "/b"})
    router.get("https://news.example/b").respond(302, headers={"Location": "/a"})

    failure = failure_of(router, "https://news.example/a", FetchSettings(max_redirects=10))

    assert failure.kind is FailureKind.TOO_MANY_REDIRECTS
    assert "loop" in failure.detail


def test_redirect_chain_longer_than_max_redirects_fails() -> None:
    router = respx.Router()
    for n in range(5):
        router.get(f"https://news.example/{n}").respond(307, headers={"Location": f"/{n + 1}"})
    router.get("https://news.example/5").respond(200, html=HTML)

    assert asyncio.run(fetch_with(router, "https://news.example/0",
                                  FetchSettings(max_redirects=5))).status == 200
    failure = failure_of(router, "https://news.example/0", FetchSettings(max_redirects=4))
    assert failure.kind is FailureKind.TOO_MANY_REDIRECTS


def test_cookie_set_by_a_redirect_is_sent_back_within_the_chain() -> None:
    router = respx.Router()
    router.get("https://news.example/a", cookies={"consent": "yes"}).respond(200, html=HTML)
    router.get("https://news.example/a").respond(
        302, headers={"Location": "/consent", "Set-Cookie": "consent=yes; Path=/"})
    router.get("https://news.example/consent").respond(
        302, headers={"Location": "/a", "Set-Cookie": "consent=yes; Path=/"})

    assert asyncio.run(fetch_with(router, "https://news.example/a")).status == 200


def test_cookies_do_not_leak_between_fetches() -> None:
    router = respx.Router()
    route = router.get("https://news.example/b").respond(200, html=HTML)
    router.get("https://news.example/a").respond(
        200, html=HTML, headers={"Set-Cookie": "session=abc; Path=/"})

    async def two_fetches() -> None:
        transport = httpx.MockTransport(router.async_handler)
        async with PageFetcher(SETTINGS, transport=transport) as fetcher:
            await fetcher.fetch("https://news.example/a")
            await fetcher.fetch("https://news.example/b")

    asyncio.run(two_fetches())

    assert "Cookie" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    "location", ["ftp://news.example/file", "javascript:alert(1)", "http://[::1/"])
def test_redirect_to_non_http_url_is_invalid(location: str) -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(302, headers={"Location": location})

    assert failure_of(router, "https://news.example/a").kind is FailureKind.INVALID_URL


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1/admin", "http://169.254.169.254/latest/meta-data/",
                 "http://[::ffff:10.0.0.1]/", "http://localhost:8080/"])
def test_redirect_to_private_ip_literal_is_blocked_even_with_a_test_transport(
    location: str,
) -> None:
    router = respx.Router()
    router.get("https://news.example/a").respond(302, headers={"Location": location})

    assert failure_of(router, "https://news.example/a").kind is FailureKind.BLOCKED_ADDRESS


# --- concurrency -----------------------------------------------------------------------------

def _counting_handler(active: dict[str, int], peak: dict[str, int]
                      ) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def handler(request: httpx.Request) -> httpx.Response:
        for key in (request.url.host, "*"):
            active[key] = active.get(key, 0) + 1
            peak[key] = max(peak.get(key, 0), active[key])
        await asyncio.sleep(0.01)
        for key in (request.url.host, "*"):
            active[key] -= 1
        return httpx.Response(200, html=HTML)
    return handler


def test_per_host_and_global_concurrency_limits_hold() -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    router = respx.Router()
    router.route().mock(side_effect=_counting_handler(active, peak))
    settings = FetchSettings(max_concurrency=3, per_host_concurrency=2)
    urls = [f"https://{host}.example/{n}" for host in "abcde" for n in range(4)]

    async def fetch_all() -> list[FetchResponse]:
        transport = httpx.MockTransport(router.async_handler)
        async with PageFetcher(settings, transport=transport) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    started = time.monotonic()
    responses = asyncio.run(fetch_all())

    assert len(responses) == 20 and time.monotonic() - started < 5
    assert peak["*"] == 3
    assert max(count for host, count in peak.items() if host != "*") == 2


def test_fetch_outside_async_with_is_a_programming_error() -> None:
    async def misuse() -> None:
        await PageFetcher(SETTINGS).fetch("https://news.example/")

    with pytest.raises(RuntimeError):
        asyncio.run(misuse())


# --- real sockets on 127.0.0.1: deadlines and bombs ------------------------------------------

ServerHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LOCAL = FetchSettings(allow_private_addresses=True, retries=0, connect_timeout=2.0,
                      read_timeout=2.0, total_timeout=5.0)


async def _serve(handler: ServerHandler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/page"


async def _fetch_from(handler: ServerHandler, settings: FetchSettings) -> FetchResponse:
    server, url = await _serve(handler)
    async with server, PageFetcher(settings) as fetcher:
        return await fetcher.fetch(url)


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def test_server_trickling_bytes_hits_total_deadline() -> None:
    requests = 0

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await _read_request(reader)
        requests += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n")
        try:
            for _ in range(1000):  # one byte every 50 ms: never idle long enough for read_timeout
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        writer.close()

    settings = FetchSettings(allow_private_addresses=True, retries=2, read_timeout=1.0,
                             total_timeout=0.6, backoff_seconds=0.01)
    with pytest.raises(IngestFailure) as info:
        asyncio.run(_fetch_from(trickle, settings))

    assert info.value.kind is FailureKind.TIMEOUT
    # The deadline is not retried: a server this slow would take the same time again.
    assert requests == 1


def test_server_silent_after_headers_hits_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(3)
        writer.close()

    settings = FetchSettings(allow_private_addresses=True, retries=0, read_timeout=0.3)
    with pytest.raises(IngestFailure) as info:
        asyncio.run(_fetch_from(silent, settings))

    assert info.value.kind is FailureKind.TIMEOUT


def test_gzip_bomb_is_capped_on_decompressed_bytes() -> None:
    # 200 MB of zeros compress to ~200 KB: small on the wire, huge in memory if inflated whole.
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)
    cap = 1_000_000

    async def send_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                     + f"Content-Length: {len(bomb)}\r\n\r\n".encode())
        try:
            writer.write(bomb)
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    tracemalloc.start()
    try:
        with pytest.raises(IngestFailure) as info:
            asyncio.run(_fetch_from(send_bomb, FetchSettings(
                allow_private_addresses=True, retries=0, max_response_bytes=cap)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.value.kind is FailureKind.RESPONSE_TOO_LARGE
    # Inflating one 64 KiB network chunk of this bomb whole would take ~64 MB.
    assert peak < 8 * cap


def test_gzip_page_from_a_real_socket_is_decoded() -> None:
    page = gzip.compress(HTML.encode() * 100)

    async def send_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     + f"Content-Encoding: gzip\r\nContent-Length: {len(page)}\r\n\r\n".encode()
                     + page)
        await writer.drain()
        writer.close()

    response = asyncio.run(_fetch_from(send_page, LOCAL))

    assert response.body == HTML.encode() * 100
    assert (response.content_type, response.charset) == ("text/html", "utf-8")


def test_connection_refused_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused

        async def fetch() -> FetchResponse:
            async with PageFetcher(LOCAL) as fetcher:
                return await fetcher.fetch(f"http://127.0.0.1:{port}/")

        with pytest.raises(IngestFailure) as info:
            asyncio.run(fetch())

    assert info.value.kind is FailureKind.CONNECTION_ERROR


def test_https_to_a_server_not_speaking_tls_is_tls_error() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def fetch() -> FetchResponse:
        server, url = await _serve(plain_http)
        async with server, PageFetcher(LOCAL) as fetcher:
            return await fetcher.fetch(url.replace("http://", "https://"))

    with pytest.raises(IngestFailure) as info:
        asyncio.run(fetch())

    assert info.value.kind is FailureKind.TLS_ERROR


class _CountingBackend(httpcore.AsyncNetworkBackend):
    """Opens real sockets and counts them."""

    def __init__(self) -> None:
        self.connections = 0
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connections += 1
        return await self._inner.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def test_unchanged_feeds_answering_304_are_polled_over_one_kept_alive_connection() -> None:
    # A 304 closed before its (empty) body was read took its connection with it: polling
    # 1,000 unchanged feeds opened 1,000 connections.
    backend = _CountingBackend()
    settings = FetchSettings(allow_private_addresses=True, max_concurrency=1,
                             per_host_concurrency=1)

    async def poll_twice(urls: list[str]) -> list[FetchResponse]:
        transport = guarded_transport(allow_private=True, limits=httpx.Limits(
            max_connections=1, max_keepalive_connections=1), inner=backend)
        async with PageFetcher(settings, transport=transport) as fetcher:
            first = [await fetcher.fetch(url) for url in urls]
            return [await fetcher.fetch(url, etag=response.etag)
                    for url, response in zip(urls, first, strict=True)]

    with serve_site() as site:
        for n in range(5):
            site.set(f"/feed{n}.xml", Route(body=b"<rss/>", content_type="application/rss+xml"))
        second = asyncio.run(poll_twice([site.url(f"/feed{n}.xml") for n in range(5)]))

    assert [response.status for response in second] == [304] * 5
    assert backend.connections == 1


def test_a_host_slot_is_dropped_once_no_request_holds_or_waits_for_it() -> None:
    # A run touches thousands of hosts: their slots must not pile up in memory.
    async def scenario() -> list[int]:
        slots = _HostSlots(per_host=1)
        await slots.acquire("a.example")
        waiter = asyncio.ensure_future(slots.acquire("a.example"))
        await asyncio.sleep(0)
        assert not waiter.done()  # one request per host at a time
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        held = len(slots._slots)
        slots.release("a.example")
        await slots.acquire("b.example")
        slots.release("b.example")
        return [held, len(slots._slots)]

    assert asyncio.run(scenario()) == [1, 0]


def test_a_host_that_does_not_resolve_fails_its_other_urls_without_a_lookup() -> None:
    calls: list[str] = []
    unknown = _raising(httpx.ConnectError, "dns", socket.gaierror(socket.EAI_NONAME, "unknown"))

    def resolver(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.host == "gone.example":
            return unknown(request)
        return httpx.Response(200, html=HTML)

    async def three_pages() -> list[IngestFailure | FetchResponse]:
        results: list[IngestFailure | FetchResponse] = []
        async with PageFetcher(SETTINGS, transport=httpx.MockTransport(resolver)) as fetcher:
            for url in ("https://gone.example/1", "https://gone.example/2",
                        "https://fine.example/3"):
                try:
                    results.append(await fetcher.fetch(url))
                except IngestFailure as failure:
                    results.append(failure)
        return results

    first, second, third = asyncio.run(three_pages())
    assert isinstance(first, IngestFailure) and first.kind is FailureKind.DNS_ERROR
    assert isinstance(second, IngestFailure) and second.kind is FailureKind.DNS_ERROR
    assert "gone.example did not resolve earlier in this run" in second.detail
    assert isinstance(third, FetchResponse) and third.status == 200
    assert calls == ["https://gone.example/1", "https://fine.example/3"]
