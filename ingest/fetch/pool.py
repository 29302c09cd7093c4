"""httpcore's connection pool, with each idle connection handed to one request at a time.

httpcore 1.0 (`AsyncConnectionPool._assign_requests_to_connections`) assigns an idle HTTP/1.1
connection to a request, but the connection stays IDLE until that request's task next runs
and sends on it. Every pass in between (each new request, each response closed) sees it as
available and assigns it to another request as well; all but the first then fail with
ConnectionNotAvailable and go round the pool again (encode/httpcore#1110, #1111). With 32
connections on one busy event loop that was about 4 extra passes per request, each of them
O(connections) `has_expired` socket polls and an O(connections²) idle count: 2 ms of CPU per
page in the fetch process, more than the network I/O (bench/throughput.py, profiled).

Here a connection that a request holds but has not started on counts as busy: never handed
to a second request, never closed as a surplus idle one. Only idle connections are handed out
(HTTP/2, where a busy connection can take another request, is not enabled by the fetcher).

`has_expired` (keep-alive expiry, and a poll of the socket to see whether the server hung up)
costs a getpeername and a poll per idle connection; httpcore asks it of every connection on
every pass, which was a quarter of the fetch process's CPU with 32 connections (bench/
throughput.py, profiled). Here it is asked of the connection about to be handed out, which is
the one that must not be dead, and of all of them at most once a second, so that connections
the servers closed are not kept open for long.

httpcore's synchronisation goes through anyio: 21 us for an uncontended lock acquisition
against asyncio's 1 us, three per request; an event per request; and a cancellation shield
(12 us) around each closing of a response or of connections, three per request. anyio's shield
does not stop asyncio's own cancellation (task.cancel, asyncio.timeout: what the fetcher
uses), so on asyncio it guards nothing. Here the pool's request path and its connections use
asyncio's lock and event, and a response's closing hands its connection back in a `finally`
(bench/throughput.py not-modified, profiled: with anyio imported only for this, a process
start also spent 30 ms importing it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

import httpcore
from httpcore._async.connection_pool import AsyncPoolRequest
from httpcore._async.interfaces import AsyncConnectionInterface

EXPIRY_SWEEP_SECONDS = 1.0


class ConnectionPool(httpcore.AsyncConnectionPool):
    """`tls_context` makes the SSL context when the first https connection needs it: loading
    the CA bundle costs 40-50 ms, which a run of plain-http feeds never needs to pay."""

    def __init__(self, *args: Any,
                 tls_context: Callable[[], ssl.SSLContext] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0
        self._make_tls_context = tls_context

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """httpcore's `AsyncConnectionPool.handle_async_request`, on asyncio primitives."""
        scheme = request.url.scheme.decode()
        if scheme not in ("http", "https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'." if scheme else
                "Request URL is missing an 'http://' or 'https://' protocol.")
        timeout = request.extensions.get("timeout", {}).get("pool")
        pool_request = _PoolRequest(request)
        self._requests.append(pool_request)
        try:
            while True:
                await self._close_connections(self._assign_requests_to_connections())
                connection = await pool_request.wait_for_connection(timeout=timeout)
                try:
                    response = await connection.handle_async_request(pool_request.request)
                except httpcore.ConnectionNotAvailable:
                    # Taken meanwhile (or closed): back in the queue, and round again.
                    pool_request.clear_connection()
                else:
                    break
        except BaseException:
            self._requests.remove(pool_request)
            await self._close_connections(self._assign_requests_to_connections())
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status, headers=response.headers,
            content=_PoolByteStream(response.stream, pool_request, self),
            extensions=response.extensions)

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        # One pass over the connections (this runs twice per request: as it is queued and as
        # its response closes), then each queued request looks only at the free ones.
        closing: list[AsyncConnectionInterface] = []
        held = {id(request.connection) for request in self._requests
                if request.connection is not None}
        now = time.monotonic()
        sweep = now - self._last_sweep >= EXPIRY_SWEEP_SECONDS
        if sweep:
            self._last_sweep = now
        kept: list[AsyncConnectionInterface] = []
        free: list[AsyncConnectionInterface] = []  # idle and promised to no request
        for connection in self._connections:
            if connection.is_closed():
                continue
            if sweep and connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            if id(connection) not in held and connection.is_idle():
                free.append(connection)
        surplus = len(free) - self._max_keepalive_connections
        if surplus > 0:
            closing.extend(free[:surplus])
            kept = [connection for connection in kept if connection not in free[:surplus]]
            free = free[surplus:]
        self._connections[:] = kept

        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = self._usable_connection(origin, free, closing)
            if available is None and len(self._connections) >= self._max_connections:
                if not free:
                    continue  # stays queued until a response is closed
                # Make room by closing an idle connection to another origin.
                surplus_connection = free.pop(0)
                self._connections.remove(surplus_connection)
                closing.append(surplus_connection)
            if available is None:
                available = self.create_connection(origin)
                self._connections.append(available)
            pool_request.assign_to_connection(available)
        return closing

    def create_connection(self, origin: httpcore.Origin) -> AsyncConnectionInterface:
        if origin.scheme == b"https" and self._ssl_context is None \
                and self._make_tls_context is not None:
            self._ssl_context = self._make_tls_context()
        if self._proxy is not None or self._http2 or not self._http1:
            return super().create_connection(origin)
        return _HTTP11OnlyConnection(
            origin=origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry,
            retries=self._retries, local_address=self._local_address, uds=self._uds,
            network_backend=self._network_backend, socket_options=self._socket_options)

    async def _close_connections(self, closing: list[AsyncConnectionInterface]) -> None:
        for connection in closing:
            await connection.aclose()

    def _usable_connection(self, origin: httpcore.Origin, free: list[AsyncConnectionInterface],
                           closing: list[AsyncConnectionInterface],
                           ) -> AsyncConnectionInterface | None:
        """Take the first free connection to `origin` that is still alive; dead ones are
        closed."""
        for connection in list(free):
            if not connection.can_handle_request(origin) or not connection.is_available():
                continue
            free.remove(connection)
            if connection.has_expired():
                self._connections.remove(connection)
                closing.append(connection)
                continue
            return connection
        return None


class _HTTP11OnlyConnection(httpcore.AsyncHTTPConnection):
    """httpcore's connection for HTTP/1.1 alone (only "http/1.1" is offered in ALPN), with
    asyncio locks in it and in the HTTP/1.1 connection it makes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(http1=True, http2=False, **kwargs)
        self._request_lock = asyncio.Lock()  # type: ignore[assignment]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on "
                               f"connection to {self._origin}")
        try:
            async with self._request_lock:
                if self._connection is None:
                    stream = await self._connect(request)
                    self._connection = _HTTP11Connection(
                        origin=self._origin, stream=stream,
                        keepalive_expiry=self._keepalive_expiry)
        except BaseException:
            self._connect_failed = True
            raise
        return await self._connection.handle_async_request(request)


class _HTTP11Connection(httpcore.AsyncHTTP11Connection):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._state_lock = asyncio.Lock()  # type: ignore[assignment]


class _PoolRequest(AsyncPoolRequest):
    """A request waiting in the pool, woken by an asyncio event when given a connection."""

    def __init__(self, request: httpcore.Request) -> None:
        self.request = request
        self.connection: AsyncConnectionInterface | None = None
        self._connection_acquired = asyncio.Event()  # type: ignore[assignment]

    def clear_connection(self) -> None:
        self.connection = None
        self._connection_acquired = asyncio.Event()  # type: ignore[assignment]

    async def wait_for_connection(self, timeout: float | None = None
                                  ) -> AsyncConnectionInterface:
        if self.connection is None:
            try:
                async with asyncio.timeout(timeout):
                    await self._connection_acquired.wait()  # type: ignore[call-arg]
            except TimeoutError as exc:
                raise httpcore.PoolTimeout("no connection free in the pool in time") from exc
        assert self.connection is not None
        return self.connection


class _PoolByteStream:
    """A response body; closing it hands the connection back to the pool."""

    def __init__(self, stream: AsyncIterable[bytes], pool_request: _PoolRequest,
                 pool: ConnectionPool) -> None:
        self._stream = stream
        self._pool_request = pool_request
        self._pool = pool
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            # Even when cancelled: a request left in the queue would hold its connection.
            self._pool._requests.remove(self._pool_request)
            await self._pool._close_connections(self._pool._assign_requests_to_connections())
