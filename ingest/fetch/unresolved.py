"""Hosts that did not resolve, remembered for one fetcher (one run): the rest of such a host's
URLs fail at once as `dns_error`, without a lookup (and its timeout) each. A feed of 55
articles on a dead domain made 55 lookups, each retried."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from ingest.records import FailureKind, IngestFailure


class UnresolvedHost(IngestFailure):
    """A `dns_error` that names the host that did not resolve."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(FailureKind.DNS_ERROR, detail)
        self.host = host.lower()


class UnresolvedHosts:
    """Owned by one fetcher; asyncio code on one loop, so no lock."""

    def __init__(self) -> None:
        self._hosts: dict[str, str] = {}  # host -> the first failure's detail

    def refuse_known(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        first = self._hosts.get(host)
        if first is not None:
            raise UnresolvedHost(host, f"{url}: {host} did not resolve earlier in this run "
                                       f"({first})")

    def remember(self, failure: UnresolvedHost) -> None:
        self._hosts.setdefault(failure.host, failure.detail)


class SharedLookups:
    """A resolver that makes one lookup for all the requests to a host that start together
    (a feed's articles all at once), and none again for a host that does not exist: a feed
    of 55 articles on a dead domain was 55 lookups. A successful answer is not kept: the next
    connection resolves again, as before."""

    def __init__(self, resolve: Callable[[str, int], Awaitable[list[str]]]) -> None:
        self._resolve = resolve
        self._in_flight: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self._missing: dict[str, OSError] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        missing = self._missing.get(host.lower())
        if missing is not None:
            raise missing
        key = (host.lower(), port)
        pending = self._in_flight.get(key)
        if pending is not None:
            return list(await asyncio.shield(pending))
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            if isinstance(exc, socket.gaierror) and exc.errno != socket.EAI_AGAIN:
                self._missing[host.lower()] = exc
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        except BaseException:  # cancelled (a stop): the waiters fail as a connection error
            future.set_exception(OSError(f"the lookup of {host} was cancelled"))
            future.exception()
            raise
        else:
            future.set_result(addresses)
            return addresses
        finally:
            del self._in_flight[key]
