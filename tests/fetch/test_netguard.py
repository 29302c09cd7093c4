"""The fetcher never connects to private, loopback, link-local or metadata addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from config.settings import FetchSettings
from ingest.fetch.asyncio_backend import AsyncioBackend
from ingest.fetch.client import PageFetcher
from ingest.fetch.netguard import (
    GuardedNetworkBackend,
    Resolver,
    check_url_host,
    guarded_transport,
    is_public_address,
)
from ingest.records import FailureKind, FetchResponse, IngestFailure

PUBLIC_IP = "93.184.215.14"  # a public address that the tests reroute to the local server
LIMITS = httpx.Limits(max_connections=4)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.255.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
     "169.254.169.254", "100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
     "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
     "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1",
     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
     "2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::a00:1", "2001:db8::1"],
)
def test_non_global_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.215.14", "1.1.1.1", "2001:4860:4860::8888", "2606:4700:4700::1111",
     "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"],
)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "::1", "localhost", "LOCALHOST.", "api.localhost",
             "169.254.169.254", "[::ffff:7f00:1]", "10.0.0.1"])
def test_local_hosts_in_urls_are_refused(host: str) -> None:
    with pytest.raises(IngestFailure) as info:
        check_url_host(host, allow_private=False)

    assert info.value.kind is FailureKind.BLOCKED_ADDRESS
    check_url_host(host, allow_private=True)


@pytest.mark.parametrize("host", ["news.example", "8.8.8.8", "[2001:4860:4860::8888]"])
def test_public_hosts_in_urls_pass(host: str) -> None:
    check_url_host(host, allow_private=False)


# --- real connections on 127.0.0.1 -----------------------------------------------------------

async def _page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n"
                 b"Connection: close\r\n\r\n<p>page</p>")
    await writer.drain()
    writer.close()


class LocalServer:
    """A tiny HTTP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self, location: str | None = None) -> None:
        self.connections = 0
        self._location = location
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LocalServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._location is None:
            await _page(reader, writer)
            return
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: {self._location}\r\n"
                     "Content-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()


def fetch_failure(coroutine: object) -> IngestFailure:
    with pytest.raises(IngestFailure) as info:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
            # Numeric forms only the system resolver understands: caught after resolution.
            "http://2130706433:{port}/", "http://127.1:{port}/", "http://0x7f000001:{port}/"])
def test_loopback_server_is_blocked_by_default(url: str) -> None:
    async def scenario() -> FetchResponse:
        async with LocalServer() as server, PageFetcher(FetchSettings()) as fetcher:
            try:
                return await fetcher.fetch(url.format(port=server.port))
            finally:
                assert server.connections == 0

    assert fetch_failure(scenario()).kind is FailureKind.BLOCKED_ADDRESS


def test_loopback_server_is_reached_with_allow_private_addresses() -> None:
    async def scenario() -> FetchResponse:
        settings = FetchSettings(allow_private_addresses=True)
        async with LocalServer() as server, PageFetcher(settings) as fetcher:
            return await fetcher.fetch(f"http://localhost:{server.port}/")

    assert asyncio.run(scenario()).body == b"<p>page</p>"


def test_name_resolving_to_loopback_is_blocked_at_connect_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The default path: PageFetcher's own transport, the event loop's getaddrinfo.
    async def fake_getaddrinfo(self: object, host: str, port: int, **kwargs: object
                               ) -> list[tuple[int, int, int, str, tuple[str, int]]]:
        assert host == "intranet.news.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake_getaddrinfo)

    async def scenario() -> FetchResponse:
        async with LocalServer() as server, PageFetcher(FetchSettings()) as fetcher:
            try:
                return await fetcher.fetch(f"http://intranet.news.example:{server.port}/")
            finally:
                assert server.connections == 0

    failure = fetch_failure(scenario())

    assert failure.kind is FailureKind.BLOCKED_ADDRESS
    assert "intranet.news.example" in failure.detail and "127.0.0.1" in failure.detail


class RerouteToLoopback(httpcore.AsyncNetworkBackend):
    """Opens the socket for PUBLIC_IP on 127.0.0.1 instead, and records what it was asked."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        assert host == PUBLIC_IP, "the guard must hand over the checked IP, never a name"
        return await self._inner.connect_tcp("127.0.0.1", port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


def test_connection_goes_to_the_checked_ip_not_the_name() -> None:
    # DNS rebinding: a second lookup could answer 127.0.0.1, so the name is resolved once
    # and the socket is opened to the address that was checked.
    calls: list[str] = []
    inner = RerouteToLoopback()
    resolver = _resolver({"news.example": ["10.0.0.7", PUBLIC_IP]}, calls)

    async def scenario() -> FetchResponse:
        transport = guarded_transport(allow_private=False, limits=LIMITS, resolver=resolver,
                                      inner=inner)
        async with LocalServer() as server, PageFetcher(
                FetchSettings(), transport=transport) as fetcher:
            return await fetcher.fetch(f"http://news.example:{server.port}/")

    assert asyncio.run(scenario()).body == b"<p>page</p>"
    assert calls == ["news.example"] and inner.hosts == [PUBLIC_IP]


def test_redirect_to_loopback_is_blocked() -> None:
    inner = RerouteToLoopback()
    resolver = _resolver({"news.example": [PUBLIC_IP], "rebind.example": ["127.0.0.1"]})

    async def scenario(target: str) -> FetchResponse:
        transport = guarded_transport(allow_private=False, limits=LIMITS, resolver=resolver,
                                      inner=inner)
        async with LocalServer() as page, LocalServer(
                location=target.format(port=page.port)) as redirector, PageFetcher(
                FetchSettings(), transport=transport) as fetcher:
            try:
                return await fetcher.fetch(f"http://news.example:{redirector.port}/")
            finally:
                assert (redirector.connections, page.connections) == (1, 0)

    for target in ("http://127.0.0.1:{port}/", "http://rebind.example:{port}/",
                   "http://[::ffff:127.0.0.1]:{port}/"):
        assert fetch_failure(scenario(target)).kind is FailureKind.BLOCKED_ADDRESS


def test_unresolvable_name_is_dns_error() -> None:
    async def scenario() -> FetchResponse:
        transport = guarded_transport(allow_private=False, limits=LIMITS,
                                      resolver=_resolver({}))
        async with PageFetcher(FetchSettings(retries=0), transport=transport) as fetcher:
            return await fetcher.fetch("http://no-such-host.example/")

    assert fetch_failure(scenario()).kind is FailureKind.DNS_ERROR


def test_guarded_transport_really_uses_the_guard() -> None:
    # Fails if httpx stops keeping its connection pool in AsyncHTTPTransport._pool, the one
    # private attribute netguard relies on.
    transport = guarded_transport(allow_private=False, limits=LIMITS)
    pool = transport._pool

    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._network_backend, GuardedNetworkBackend)


def test_unix_sockets_are_never_opened() -> None:
    backend = GuardedNetworkBackend(allow_private=True)

    with pytest.raises(IngestFailure) as info:
        asyncio.run(backend.connect_unix_socket("/var/run/docker.sock"))

    assert info.value.kind is FailureKind.BLOCKED_ADDRESS


def test_tls_is_verified_against_the_url_host_name_not_the_checked_address() -> None:
    # The guard connects to the checked IP literal; the certificate must still be checked
    # against the name in the URL, and a certificate for another name refused.
    import ssl

    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def scenario() -> tuple[bytes, type[BaseException]]:
        server = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        backend = GuardedNetworkBackend(allow_private=True,
                                        resolver=_resolver({"localhost": ["127.0.0.1"]}))
        try:
            async with httpcore.AsyncConnectionPool(ssl_context=client_context,
                                                    network_backend=backend) as pool:
                response = await pool.request("GET", f"https://localhost:{port}/")
                with pytest.raises(httpcore.ConnectError) as mismatch:
                    await pool.request("GET", f"https://127.0.0.1:{port}/")
                return response.content, mismatch.type
        finally:
            server.close()

    body, _ = asyncio.run(scenario())

    assert body == b"hello"


def test_urls_of_a_host_that_does_not_exist_cost_one_lookup_together_or_later() -> None:
    calls: list[str] = []

    async def slow_missing(host: str, port: int) -> list[str]:
        calls.append(host)
        await asyncio.sleep(0.05)  # the other requests start while this lookup runs
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def scenario() -> list[object]:
        transport = guarded_transport(allow_private=False, limits=LIMITS, resolver=slow_missing)
        async with PageFetcher(FetchSettings(retries=0), transport=transport) as fetcher:
            together = await asyncio.gather(
                *(fetcher.fetch(f"http://gone.example/{n}") for n in range(5)),
                return_exceptions=True)
            later = await asyncio.gather(fetcher.fetch("http://gone.example/late"),
                                         return_exceptions=True)
            return [*together, *later]

    results = asyncio.run(scenario())
    assert all(isinstance(result, IngestFailure) and result.kind is FailureKind.DNS_ERROR
               for result in results)
    assert calls == ["gone.example"]
