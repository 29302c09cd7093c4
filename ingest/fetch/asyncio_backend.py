"""httpcore's network layer on asyncio's own transports, for the fetcher's connections.

httpcore's default backend goes through anyio, which wraps every write and read in a cancel
scope, keeps a task-state lookup per call and pauses and resumes the transport's reading
around each read (two epoll changes a request), and answers whether an idle connection is
still usable with a getpeername and a poll of its socket. On this service's loop (asyncio
only) that layer cost 5-15% of a 304 poll's CPU (bench/throughput.py not-modified). Here a
connection is an `asyncio.Protocol` that buffers what arrives; a read takes from that buffer
or waits for it under `asyncio.timeout`, and an idle connection the server closed (or sent
unrequested bytes on) is what the protocol already saw, with no system call.

Only public interfaces: httpcore's `AsyncNetworkBackend`/`AsyncNetworkStream` (its extension
point for this) and asyncio's `create_connection`, `start_tls` and protocol callbacks. Errors
map to httpcore's exceptions as its anyio backend maps them: timeouts as Connect/Read/
WriteTimeout, OSError and TLS errors as Connect/Read/WriteError, a closed connection as an
empty read.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

# Reading pauses while this much is buffered unread: a fast server cannot fill memory
# faster than the fetcher consumes it (httpcore reads 64 KiB at a time).
_PAUSE_READING_BYTES = 256 * 1024
# httpcore's names for what a stream can tell, and asyncio's for the same.
_TRANSPORT_INFO = {"ssl_object": "ssl_object", "client_addr": "sockname",
                   "server_addr": "peername", "socket": "socket"}


class _Wakeup:
    """One task waiting until a protocol callback says so."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        self._future = asyncio.get_running_loop().create_future()
        try:
            await self._future
        finally:
            self._future = None

    def wake(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)


class _Connection(asyncio.Protocol):
    """What arrived on one connection and whether it is still open, for `AsyncioStream`."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.transport: asyncio.Transport | None = None
        self.writing_paused = False
        self.data_arrived = _Wakeup()
        self.drained = _Wakeup()
        self._reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _PAUSE_READING_BYTES and self.transport is not None \
                and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self.data_arrived.wake()

    def eof_received(self) -> bool:
        self.eof = True
        self.data_arrived.wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.data_arrived.wake()
        self.drained.wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.drained.wake()

    def take(self, max_bytes: int) -> bytes:
        if len(self.buffer) <= max_bytes:  # the usual case: one copy, no shift
            data = bytes(self.buffer)
            self.buffer.clear()
        else:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
        if self._reading_paused and len(self.buffer) <= _PAUSE_READING_BYTES // 2 \
                and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection, as httpcore reads and writes it."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        try:
            if not connection.buffer and not connection.eof:  # no timer when data is here
                async with asyncio.timeout(timeout):
                    while not connection.buffer and not connection.eof:
                        await connection.data_arrived.wait()
        except TimeoutError as exc:
            raise httpcore.ReadTimeout("read timed out") from exc
        if connection.buffer:
            return connection.take(max_bytes)
        if connection.error is not None:
            raise httpcore.ReadError(_reason(connection.error)) from connection.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        if self._transport.is_closing():
            raise httpcore.WriteError(_reason(connection.error) if connection.error
                                      else "connection closed")
        try:
            self._transport.write(buffer)
            if connection.writing_paused:
                async with asyncio.timeout(timeout):
                    while connection.writing_paused and not self._transport.is_closing():
                        await connection.drained.wait()
                if connection.error is not None:  # lost while its buffer drained
                    raise httpcore.WriteError(_reason(connection.error)) from connection.error
        except TimeoutError as exc:
            raise httpcore.WriteTimeout("write timed out") from exc
        except (OSError, RuntimeError) as exc:
            # RuntimeError: asyncio refuses a write after the transport's end of file.
            raise httpcore.WriteError(_reason(exc)) from exc

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self._transport, self._connection,
                                                 ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(_reason(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._connection.transport = transport  # reading now pauses above the TLS layer
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        if info in _TRANSPORT_INFO:
            return self._transport.get_extra_info(_TRANSPORT_INFO[info])
        if info == "is_readable":
            # Asked of an idle connection: one the server closed has seen its end, and one
            # with unrequested bytes waiting is unusable too.
            return self._connection.eof or self._transport.is_closing() \
                or bool(self._connection.buffer)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens the fetcher's TCP connections on the running asyncio loop (unix sockets are
    refused before they get here, by `ingest.fetch.netguard.GuardedNetworkBackend`)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        if socket_options:
            # The fetcher's pool (ingest/fetch/pool.py) sets none; asyncio's create_connection
            # has no place for them.
            raise httpcore.ConnectError("socket options are not supported")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    _Connection, host, port,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(_reason(exc)) from exc
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
