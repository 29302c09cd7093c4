"""Hosts that did not resolve, remembered for one fetcher (one run): the rest of such a host's
URLs fail at once as `dns_error`, without a lookup (and its timeout) each. A feed of 55
articles on a dead domain made 55 lookups, each retried."""

from __future__ import annotations

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
