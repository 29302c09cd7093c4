"""Private addresses per source (issue 15, class 6): one feed's permission to reach its
intranet host or listed networks never opens them to another feed's fetches."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from config.settings import FetchSettings, PrivateAccess
from ingest.fetch.client import PageFetcher
from ingest.fetch.netguard import check_url_host
from ingest.records import FailureKind, FetchResponse, IngestFailure
from tests.loopback import Route, serve_site

PAGE = b"<html><body><p>intranet page</p></body></html>"
OWN_HOST = PrivateAccess(hosts=frozenset({"127.0.0.1"}))
LOOPBACK_NET = PrivateAccess(networks=(ipaddress.ip_network("127.0.0.0/8"),))


SETTINGS = FetchSettings(retries=0)


def fetch_all(urls: list[tuple[str, PrivateAccess | None]],
              ) -> list[FetchResponse | IngestFailure]:
    async def scenario() -> list[FetchResponse | IngestFailure]:
        async with PageFetcher(SETTINGS) as fetcher:
            results: list[FetchResponse | IngestFailure] = []
            for url, access in urls:
                try:
                    results.append(await fetcher.fetch(url, access=access))
                except IngestFailure as failure:
                    results.append(failure)
            return results
    return asyncio.run(scenario())


@pytest.mark.parametrize("access", [OWN_HOST, LOOPBACK_NET])
def test_a_feed_allowed_its_host_reaches_it_and_another_feed_does_not(
        access: PrivateAccess) -> None:
    with serve_site() as site:
        site.set("/a", Route(PAGE))
        # The allowed fetch first, so a kept-alive connection exists for the other to reuse.
        allowed, other, allowed_again = fetch_all(
            [(site.url("/a"), access), (site.url("/a"), None), (site.url("/a"), access)])

    assert isinstance(allowed, FetchResponse) and allowed.body == PAGE
    assert isinstance(other, IngestFailure) and other.kind is FailureKind.BLOCKED_ADDRESS
    assert isinstance(allowed_again, FetchResponse)


@pytest.mark.parametrize("url", ["http://localhost:{port}/a", "http://[::1]:{port}/a",
                                 "http://169.254.169.254:{port}/a", "http://10.0.0.1:{port}/a"])
def test_the_own_host_permission_does_not_extend_to_other_private_hosts(url: str) -> None:
    with pytest.raises(IngestFailure) as info:
        check_url_host(url.split("/")[2].rsplit(":", 1)[0], allow_private=False,
                       access=OWN_HOST)
    assert info.value.kind is FailureKind.BLOCKED_ADDRESS


@pytest.mark.parametrize(("network", "host", "allowed"), [
    ("10.0.0.0/8", "10.1.2.3", True), ("10.0.0.0/8", "192.168.0.1", False),
    ("fd00::/8", "[fd12::1]", True), ("fd00::/8", "::1", False),
    ("192.168.1.0/24", "192.168.2.1", False), ("192.168.1.0/24", "169.254.169.254", False),
])
def test_listed_networks_allow_only_their_addresses(network: str, host: str,
                                                    allowed: bool) -> None:
    access = PrivateAccess(networks=(ipaddress.ip_network(network),))
    if allowed:
        check_url_host(host, allow_private=False, access=access)
        return
    with pytest.raises(IngestFailure):
        check_url_host(host, allow_private=False, access=access)


def test_the_global_switch_is_off_by_default() -> None:
    assert FetchSettings().allow_private_addresses is False
    with serve_site() as site:
        site.set("/a", Route(PAGE))
        (result,) = fetch_all([(site.url("/a"), None)])
    assert isinstance(result, IngestFailure) and result.kind is FailureKind.BLOCKED_ADDRESS
