"""The fetcher's connection pool hands an idle connection to one request at a time."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import httpcore
import httpx
import pytest
import trustme
from httpcore._async.connection_pool import AsyncPoolRequest

from config.settings import FetchSettings
from ingest.fetch.client import PageFetcher
from ingest.fetch.netguard import guarded_transport
from ingest.fetch.pool import ConnectionPool
from ingest.records import FailureKind, IngestFailure
from tests.loopback import Route, serve_site

ORIGIN = httpcore.Origin(b"http", b"news.example", 80)


class IdleConnection:
    """Stands for a kept-alive HTTP/1.1 connection: idle and available until a request
    starts on it."""

    def __init__(self, origin: httpcore.Origin = ORIGIN) -> None:
        self.origin = origin
        self.closed = False

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin

    def is_available(self) -> bool:
        return not self.closed

    def is_idle(self) -> bool:
        return not self.closed

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return False

    async def aclose(self) -> None:
        self.closed = True


def _queued(pool: ConnectionPool, url: str = "http://news.example/") -> AsyncPoolRequest:
    request = AsyncPoolRequest(httpcore.Request("GET", url))
    pool._requests.append(request)
    return request


def _assign(pool: ConnectionPool) -> list[object]:
    """One assignment pass, as the pool runs it on the event loop (its events need one)."""

    async def in_loop() -> list[object]:
        return list(pool._assign_requests_to_connections())

    return asyncio.run(in_loop())


def test_an_idle_connection_goes_to_one_waiting_request_only() -> None:
    pool = ConnectionPool(max_connections=1)
    idle = IdleConnection()
    pool._connections.append(idle)  # type: ignore[arg-type]
    first, second = _queued(pool), _queued(pool)

    closing = _assign(pool)

    assert first.connection is idle and second.is_queued() and closing == []
    # Until the first request starts, the connection still looks idle: a later pass (a new
    # request arriving) must not hand it out again either.
    third = _queued(pool)
    _assign(pool)
    assert second.is_queued() and third.is_queued()


def test_a_second_request_gets_its_own_connection_when_there_is_room() -> None:
    pool = ConnectionPool(max_connections=2)
    idle = IdleConnection()
    pool._connections.append(idle)  # type: ignore[arg-type]
    first, second = _queued(pool), _queued(pool)

    _assign(pool)

    assert first.connection is idle
    assert second.connection is not None and second.connection is not idle


def test_a_connection_promised_to_a_request_is_not_closed_to_make_room() -> None:
    pool = ConnectionPool(max_connections=1)
    promised = IdleConnection()
    pool._connections.append(promised)  # type: ignore[arg-type]
    _queued(pool)
    _assign(pool)
    other_origin = _queued(pool, "http://other.example/")

    closing = _assign(pool)

    assert closing == [] and other_origin.is_queued() and not promised.closed


def test_an_idle_connection_to_another_origin_is_closed_to_make_room() -> None:
    pool = ConnectionPool(max_connections=1)
    idle = IdleConnection()
    pool._connections.append(idle)  # type: ignore[arg-type]
    request = _queued(pool, "http://other.example/")

    closing = _assign(pool)

    assert closing == [idle]
    assert request.connection is not None and request.connection is not idle


def test_many_concurrent_fetches_send_each_request_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # httpcore's own pass handed one idle connection to several requests; all but one then
    # failed with ConnectionNotAvailable and went round the pool again (CPU, not errors).
    sends = 0
    original = httpcore.AsyncHTTP11Connection.handle_async_request

    async def counted(self: httpcore.AsyncHTTP11Connection,
                      request: httpcore.Request) -> httpcore.Response:
        nonlocal sends
        sends += 1
        return await original(self, request)

    monkeypatch.setattr(httpcore.AsyncHTTP11Connection, "handle_async_request", counted)
    settings = FetchSettings(max_concurrency=16, per_host_concurrency=16,
                             allow_private_addresses=True)
    pages = 200

    async def scenario(url: str) -> list[bytes]:
        transport = guarded_transport(allow_private=True, limits=httpx.Limits(
            max_connections=16, max_keepalive_connections=16))
        async with PageFetcher(settings, transport=transport) as fetcher:
            responses = await asyncio.gather(*(fetcher.fetch(f"{url}?{n}")
                                               for n in range(pages)))
        return [response.body for response in responses]

    with serve_site() as site:
        site.set("/page", Route(body=b"<p>page</p>"))
        bodies = asyncio.run(scenario(site.url("/page")))

    assert bodies == [b"<p>page</p>"] * pages
    assert sends == pages


class DeadConnection(IdleConnection):
    """Idle in its state, but the server has closed it (or its keep-alive ran out)."""

    def has_expired(self) -> bool:
        return True


class CountedConnection(IdleConnection):
    def __init__(self) -> None:
        super().__init__()
        self.expiry_checks = 0

    def has_expired(self) -> bool:
        self.expiry_checks += 1
        return False


def test_a_dead_idle_connection_is_closed_not_handed_out() -> None:
    pool = ConnectionPool(max_connections=2)
    pool._last_sweep = float("inf")  # no sweep: the check at hand-out must catch it
    dead = DeadConnection()
    pool._connections.append(dead)  # type: ignore[arg-type]
    request = _queued(pool)

    closing = _assign(pool)

    assert closing == [dead] and dead not in pool._connections
    assert request.connection is not None and request.connection is not dead


def test_only_the_connection_handed_out_is_polled_between_sweeps() -> None:
    # Polling every idle socket on every pass was a quarter of the fetch process's CPU.
    pool = ConnectionPool(max_connections=8, max_keepalive_connections=8)
    pool._last_sweep = float("inf")
    connections = [CountedConnection() for _ in range(8)]
    pool._connections.extend(connections)  # type: ignore[arg-type]
    request = _queued(pool)

    _assign(pool)
    _assign(pool)

    assert request.connection is connections[0]
    assert [c.expiry_checks for c in connections] == [1] + [0] * 7


def test_a_sweep_closes_every_expired_connection() -> None:
    pool = ConnectionPool(max_connections=4)
    live, dead = IdleConnection(), DeadConnection()
    pool._connections.extend([live, dead])  # type: ignore[list-item]

    closing = _assign(pool)  # the first pass of a new pool sweeps

    assert closing == [dead] and pool._connections == [live]


def test_a_request_cancelled_while_waiting_for_its_response_gives_its_connection_back() -> None:
    # The fetcher's deadline cancels requests mid-flight; a request left queued in the pool
    # would keep its connection, and with one connection every later fetch would hang.
    async def scenario(slow: str, fast: str) -> tuple[int, int]:
        async with ConnectionPool(max_connections=1) as pool:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await pool.request("GET", slow)
            async with asyncio.timeout(5):
                response = await pool.request("GET", fast)
            return response.status, len(pool._requests)

    with serve_site() as site:
        site.set("/slow", Route(body=b"late", delay_seconds=2))
        site.set("/fast", Route(body=b"now"))
        assert asyncio.run(scenario(site.url("/slow"), site.url("/fast"))) == (200, 0)


def test_a_request_that_finds_no_free_connection_in_time_fails_with_a_pool_timeout() -> None:
    async def scenario(slow: str, fast: str) -> int:
        async with ConnectionPool(max_connections=1) as pool:
            holder = asyncio.ensure_future(pool.request("GET", slow))
            await asyncio.sleep(0.2)  # the slow request holds the only connection
            with pytest.raises(httpcore.PoolTimeout):
                await pool.request("GET", fast, extensions={"timeout": {"pool": 0.1}})
            return (await holder).status

    with serve_site() as site:
        site.set("/slow", Route(body=b"late", delay_seconds=1))
        site.set("/fast", Route(body=b"now"))
        assert asyncio.run(scenario(site.url("/slow"), site.url("/fast"))) == 200


def _tls_server_context() -> ssl.SSLContext:
    authority = trustme.CA()  # a throw-away CA, in no trust store
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def _tls_hello(port_ready: asyncio.Future[int], server_context: ssl.SSLContext) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port_ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def test_the_pool_makes_its_tls_context_only_for_its_first_https_connection() -> None:
    made: list[ssl.SSLContext] = []

    def tls_context() -> ssl.SSLContext:
        made.append(httpx.create_ssl_context(trust_env=False))
        return made[-1]

    async def scenario(http_url: str) -> list[int]:
        counts = []
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.ensure_future(_tls_hello(port, _tls_server_context()))
        try:
            async with ConnectionPool(tls_context=tls_context) as pool:
                await pool.request("GET", http_url)
                counts.append(len(made))  # plain http needs no CA bundle
                for _ in range(2):
                    with pytest.raises(httpcore.ConnectError):  # a CA in no trust store
                        await pool.request("GET", f"https://127.0.0.1:{await port}/")
                    counts.append(len(made))
        finally:
            server.cancel()
        return counts

    with serve_site() as site:
        site.set("/plain", Route(body=b"plain"))
        assert asyncio.run(scenario(site.url("/plain"))) == [0, 1, 1]


def test_the_fetcher_refuses_a_certificate_no_trusted_authority_signed() -> None:
    async def scenario() -> FailureKind:
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.ensure_future(_tls_hello(port, _tls_server_context()))
        settings = FetchSettings(allow_private_addresses=True, retries=0)
        try:
            async with PageFetcher(settings) as fetcher:
                with pytest.raises(IngestFailure) as refused:
                    await fetcher.fetch(f"https://127.0.0.1:{await port}/")
        finally:
            server.cancel()
        return refused.value.kind

    assert asyncio.run(scenario()) == FailureKind.TLS_ERROR
