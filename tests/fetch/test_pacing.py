"""Requests to one host keep the configured interval; a Retry-After slows the whole host."""

from __future__ import annotations

import asyncio
import time

import httpx

from config.settings import FetchSettings
from ingest.fetch.client import PageFetcher

SETTINGS = FetchSettings(retries=1, backoff_seconds=0.01, per_host_concurrency=4)


def test_requests_to_one_host_are_paced_and_other_hosts_are_not_held_up() -> None:
    sent: dict[str, list[float]] = {"slow.example": [], "other.example": []}

    def handler(request: httpx.Request) -> httpx.Response:
        sent[request.url.host].append(time.monotonic())
        return httpx.Response(200, html="<p>x</p>")

    async def fetch(fetcher: PageFetcher, url: str) -> None:
        await fetcher.wait_turn(url, 0.2)
        await fetcher.fetch(url, pace=0.2)

    async def main() -> None:
        async with PageFetcher(SETTINGS, transport=httpx.MockTransport(handler)) as fetcher:
            await asyncio.gather(*(fetch(fetcher, f"https://slow.example/{i}") for i in range(5)),
                                 fetcher.fetch("https://other.example/"))

    asyncio.run(main())
    gaps = [b - a for a, b in zip(sent["slow.example"], sent["slow.example"][1:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 0.19
    # The other host is asked before the slow host's second request, 0.2 s after its first.
    assert sent["other.example"][0] < sent["slow.example"][1]


def test_retry_after_on_one_url_holds_every_request_to_the_host() -> None:
    sent: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, time.monotonic()))
        if request.url.path == "/busy" and len([p for p, _ in sent if p == "/busy"]) == 1:
            return httpx.Response(503, headers={"Retry-After": "1"})
        return httpx.Response(200, html="<p>x</p>")

    async def main() -> None:
        async with PageFetcher(SETTINGS, transport=httpx.MockTransport(handler)) as fetcher:
            first = asyncio.ensure_future(fetcher.fetch("https://news.example/busy"))
            await asyncio.sleep(0.1)  # the 503 has arrived
            await fetcher.fetch("https://news.example/other")
            await first

    started = time.monotonic()
    asyncio.run(main())
    other = next(at for path, at in sent if path == "/other")
    assert other - started >= 0.95
