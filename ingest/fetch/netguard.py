"""Keep the fetcher away from private, loopback, link-local and metadata addresses (SSRF).

A feed can link to any URL, so a host name that resolves to 127.0.0.1 or 169.254.169.254 must
not be fetched. Checking the name before the request is not enough: a second resolution at
connect time can return another address (DNS rebinding). So the check lives in httpcore's
network backend: `GuardedNetworkBackend.connect_tcp` resolves the name once, keeps the public
addresses, and connects to that checked IP literal. TLS still verifies the certificate against
the original name, because httpcore calls `start_tls(server_hostname=<origin host>)` on the
stream it gets back (httpcore 1.0 `_async/connection.py`, `AsyncHTTPConnection._connect`).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from config.settings import PrivateAccess
from ingest.fetch.asyncio_backend import AsyncioBackend, SocketOption
from ingest.fetch.pool import ConnectionPool
from ingest.fetch.unresolved import SharedLookups
from ingest.records import FailureKind, IngestFailure

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> addresses as strings, in the resolver's preference order.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Names that resolve to loopback on most systems without asking DNS (RFC 6761).
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; False for anything private or special."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            # ::ffff:127.0.0.1 and friends reach the IPv4 address they carry.
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def check_url_host(host: str, *, allow_private: bool,
                   access: PrivateAccess | None = None) -> None:
    """Reject an IP-literal or well-known local host name before any request is sent, unless
    the global switch or the feed's own permission (`access`) allows it.

    This is the check that still runs when tests inject their own transport; real connections
    are checked again, after resolution, by `GuardedNetworkBackend`.
    """
    if allow_private:
        return
    name = host.strip("[]").rstrip(".").lower()
    address = _parse_address(name)
    if access is not None and access.allows(name, address):
        return
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        raise IngestFailure(FailureKind.BLOCKED_ADDRESS, f"{name} is a local host name")
    if address is not None and not is_public_address(address):
        raise IngestFailure(FailureKind.BLOCKED_ADDRESS, f"{name} is not a public address")


async def resolve_with_loop(host: str, port: int) -> list[str]:
    """Resolve with the running event loop's getaddrinfo (the system resolver, in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each connection's host itself and connects only to checked addresses."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = resolve_with_loop,
        inner: httpcore.AsyncNetworkBackend | None = None,
        access: PrivateAccess | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._access = access
        # One lookup for a host's requests that start together, none again for a host that
        # does not exist (ingest/fetch/unresolved.py).
        self._resolve = SharedLookups(resolver)
        self._inner = inner if inner is not None else AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._checked_addresses(host, port, timeout)
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # a host with several addresses: try the next one
        assert error is not None  # _checked_addresses never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise IngestFailure(FailureKind.BLOCKED_ADDRESS, "unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _checked_addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        literal = _parse_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                async with asyncio.timeout(timeout):
                    addresses = await self._resolve(host, port)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
            except OSError as exc:
                # fetch() recognises a DNS failure by the socket.gaierror in the cause chain.
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not addresses:
                raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        if self._allow_private:
            return addresses
        public = [a for a in addresses if (p := _parse_address(a)) and (
            is_public_address(p) or (self._access is not None and self._access.allows(host, p)))]
        if not public:
            raise IngestFailure(
                FailureKind.BLOCKED_ADDRESS,
                f"{host} resolves only to non-public addresses ({', '.join(addresses[:3])})",
            )
        return public


def guarded_transport(
    *,
    allow_private: bool,
    limits: httpx.Limits,
    resolver: Resolver = resolve_with_loop,
    inner: httpcore.AsyncNetworkBackend | None = None,
    access: PrivateAccess | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through `GuardedNetworkBackend`.

    `access`: the one feed's permission this transport's connections carry (its own pool, so
    a kept-alive connection to a private address never serves another feed). `resolver` and
    `inner` (the backend that opens the sockets) are replaced only by tests.
    """
    # The transport's own pool is replaced before any request, so its context is never used:
    # a bare one costs 1 ms, where loading the CA bundle costs 40-50 ms. The pool makes the
    # real one for its first https connection.
    transport = httpx.AsyncHTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
                                         limits=limits, trust_env=False)
    pool = ConnectionPool(
        tls_context=functools.partial(httpx.create_ssl_context, trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(
            allow_private=allow_private, resolver=resolver, inner=inner, access=access
        ),
    )
    _replace_pool(transport, pool)
    return transport


def _replace_pool(transport: httpx.AsyncHTTPTransport, pool: httpcore.AsyncConnectionPool) -> None:
    # httpx 0.28 has no public way to give AsyncHTTPTransport a network backend: it builds its
    # httpcore pool in __init__ and keeps it in the private `_pool`, which handle_async_request
    # uses. Swapping that pool keeps httpx's request/response and exception mapping, which a
    # hand-written transport would have to copy. tests/test_netguard.py fails if this changes.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps its pool in `_pool`")
    transport._pool = pool


def _parse_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
