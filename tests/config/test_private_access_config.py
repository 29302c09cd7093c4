"""`allow_private_addresses` per feed: true (its own host) or a list of networks."""

from __future__ import annotations

import ipaddress

import pytest

from config.loading import parse_settings
from config.settings import PrivateAccess
from config.sources import ConfigError


def _feed(value: object, url: str = "http://Intranet.Corp.:8080/feed.xml") -> dict[str, object]:
    return {"feeds": [{"name": "intranet", "url": url, "allow_private_addresses": value},
                      {"name": "public", "url": "https://news.example/feed.xml"}]}


def test_true_allows_the_feed_its_own_host_only() -> None:
    intranet, public = parse_settings(_feed(True), {}).feeds
    assert intranet.private_access == PrivateAccess(hosts=frozenset({"intranet.corp"}))
    assert public.private_access is None
    assert parse_settings(_feed(True), {}).fetch.allow_private_addresses is False


def test_a_list_of_networks_is_parsed() -> None:
    intranet, _ = parse_settings(_feed(["10.0.0.0/8", "fd00::/8", "192.168.1.7"]), {}).feeds
    assert intranet.private_access == PrivateAccess(networks=(
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.1.7/32")))


def test_false_is_no_permission() -> None:
    assert parse_settings(_feed(False), {}).feeds[0].private_access is None


@pytest.mark.parametrize("value", ["yes", 1, [], ["10.0.0.0/33"], ["intranet"], [10]])
def test_anything_else_is_an_error_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.allow_private_addresses"):
        parse_settings(_feed(value), {})
