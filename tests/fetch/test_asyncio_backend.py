"""The fetcher's network layer on asyncio transports: real loopback sockets, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx
import pytest

from config.settings import FetchSettings
from ingest.fetch.asyncio_backend import AsyncioBackend
from ingest.fetch.client import PageFetcher
from ingest.fetch.netguard import guarded_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<p>page</p>"


def test_a_kept_alive_connection_the_server_closed_while_idle_is_not_reused() -> None:
    # The server keeps nothing alive though its answer does not say so: the next request must
    # go on a new connection, not fail on the dead one.
    connections: list[int] = []

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_ANSWER)
        await writer.drain()
        writer.close()

    async def scenario() -> list[bytes]:
        server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = guarded_transport(allow_private=True, limits=httpx.Limits(
            max_connections=1, max_keepalive_connections=1))
        bodies = []
        async with server, PageFetcher(FetchSettings(allow_private_addresses=True, retries=0),
                                       transport=transport) as fetcher:
            for _ in range(3):
                bodies.append((await fetcher.fetch(f"http://127.0.0.1:{port}/")).body)
                await asyncio.sleep(0.05)  # the server's close arrives while the pool is idle
        return bodies

    assert asyncio.run(scenario()) == [b"<p>page</p>"] * 3
    assert len(connections) == 3


@contextlib.asynccontextmanager
async def _connected_to(handler: Handler) -> AsyncIterator[httpcore.AsyncNetworkStream]:
    """A stream of AsyncioBackend's, connected to a loopback server running `handler`."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=2)
        try:
            yield stream
        finally:
            await stream.aclose()


async def _silent_then_hang_up(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3)
    writer.close()


def test_a_server_sending_faster_than_the_reader_is_held_back() -> None:
    # What arrives unread is buffered only up to a bound: past it the socket is no longer
    # read, so the sender's own buffer fills instead of the fetcher's memory.
    sent = 32 * 1024 * 1024
    backlog: list[int] = []

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * sent)
        await asyncio.sleep(0.5)
        backlog.append(writer.transport.get_write_buffer_size())
        await writer.drain()
        writer.close()

    async def scenario() -> int:
        async with _connected_to(flood) as stream:
            await asyncio.sleep(0.7)  # nothing read while the server writes
            received = 0
            while chunk := await stream.read(65536, timeout=2):
                received += len(chunk)
            return received

    assert asyncio.run(scenario()) == sent
    # Still waiting in the server: more than the kernel's socket buffers could have taken
    # had the client kept reading into memory.
    assert backlog and backlog[0] > sent // 2


def test_a_silent_server_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def scenario() -> None:
        async with _connected_to(_silent_then_hang_up) as stream:
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(1024, timeout=0.2)
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            closed_port = unused.getsockname()[1]
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", closed_port, timeout=2)

    asyncio.run(scenario())


def test_a_write_after_the_server_closed_is_a_write_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def scenario() -> None:
        async with _connected_to(hang_up) as stream:
            assert await stream.read(1024, timeout=2) == b""  # the server's end of file
            assert stream.get_extra_info("is_readable") is True
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"GET / HTTP/1.1\r\n\r\n", timeout=2)

    asyncio.run(scenario())


def test_a_server_that_stops_reading_is_a_write_timeout() -> None:
    async def scenario() -> None:
        async with _connected_to(_silent_then_hang_up) as stream:
            with pytest.raises(httpcore.WriteTimeout):
                for _ in range(64):  # more than the kernel's buffers on both sides hold
                    await stream.write(b"x" * (1024 * 1024), timeout=0.3)

    asyncio.run(scenario())
