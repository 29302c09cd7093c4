"""The fetcher's network layer on asyncio streams: TLS, timeouts, errors, dead connections."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpcore
import pytest
import trustme

from ingest.asyncionet import AsyncioBackend

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


async def _answer_every_request(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def _server(handler: Handler, ssl_context: ssl.SSLContext | None = None,
                  ) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _pool(ssl_context: ssl.SSLContext | None = None) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=AsyncioBackend())


def test_tls_is_verified_against_the_host_name_of_the_url() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def scenario() -> tuple[int, bytes, type[Exception]]:
        async with _server(_answer_every_request, server_context) as port, \
                _pool(client_context) as pool:
            response = await pool.request("GET", f"https://localhost:{port}/")
            with pytest.raises(httpcore.ConnectError) as mismatch:
                # The certificate names localhost, not 127.0.0.1.
                await pool.request("GET", f"https://127.0.0.1:{port}/")
            return response.status, response.content, mismatch.type

    status, body, _ = asyncio.run(scenario())

    assert (status, body) == (200, b"hello")


def test_a_server_that_stops_answering_is_a_read_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    async def scenario() -> None:
        async with _server(stall) as port, _pool() as pool:
            await pool.request("GET", f"http://127.0.0.1:{port}/",
                               extensions={"timeout": {"read": 0.2}})

    with pytest.raises(httpcore.ReadTimeout):
        asyncio.run(scenario())


def test_a_refused_connection_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with _server(_answer_every_request) as port:
            pass  # closed again: nothing listens on that port now
        async with _pool() as pool:
            await pool.request("GET", f"http://127.0.0.1:{port}/")

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(scenario())


def test_an_idle_connection_the_server_closed_reads_as_dead_and_is_replaced() -> None:
    connections = 0

    async def answer_once_then_hang_up(reader: asyncio.StreamReader,
                                       writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()  # keep-alive promised, then the server hangs up anyway

    async def scenario() -> tuple[bool, list[bytes]]:
        backend = AsyncioBackend()
        async with _server(answer_once_then_hang_up) as port:
            stream = await backend.connect_tcp("127.0.0.1", port)
            open_before = stream.get_extra_info("is_readable")
            await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            while await stream.read(65536):
                pass
            assert stream.get_extra_info("is_readable")  # EOF seen: not reusable
            await stream.aclose()
            async with _pool() as pool:
                bodies = []
                for _ in range(2):
                    response = await pool.request("GET", f"http://127.0.0.1:{port}/")
                    bodies.append(response.content)
                    await asyncio.sleep(0.05)  # idle a moment: the hang-up arrives
        return open_before, bodies

    open_before, bodies = asyncio.run(scenario())

    assert open_before is False
    assert bodies == [b"hello", b"hello"] and connections == 3
