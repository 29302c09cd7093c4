"""robots.txt is read once per host, obeyed, revalidated after its TTL; an unreachable one
follows RFC 9309 (4xx: allowed, 5xx: wait)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from config.settings import FetchSettings
from ingest.fetch.client import PageFetcher
from ingest.fetch.robots import RobotsCache
from ingest.records import FailureKind, IngestFailure

SETTINGS = FetchSettings(retries=0)
ROBOTS = """User-agent: *
Disallow: /private/
Disallow: /*?print=
Crawl-delay: 2

User-agent: source-ingest
Disallow: /drafts/
Crawl-delay: 3

Sitemap: https://news.example/sitemap.xml
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def with_cache(handler: Callable[[httpx.Request], httpx.Response],
               check: Callable[[RobotsCache, PageFetcher], Awaitable[object]],
               clock: Clock | None = None) -> object:
    async def main() -> object:
        cache = RobotsCache(SETTINGS.user_agent, ttl_seconds=100, clock=clock or Clock())
        async with PageFetcher(SETTINGS, transport=httpx.MockTransport(handler)) as fetcher:
            return await check(cache, fetcher)
    return asyncio.run(main())


def serving(body: str | None, status: int = 200, requests: list[httpx.Request] | None = None,
            ) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(status, text=body or "", headers={"ETag": '"v1"'})
    return handler


def test_our_group_of_rules_applies_with_its_crawl_delay() -> None:
    async def check(cache: RobotsCache, fetcher: PageFetcher) -> object:
        allowed = await cache.crawl_delay("https://news.example/private/1", fetcher)
        with pytest.raises(IngestFailure) as info:
            await cache.crawl_delay("https://news.example/drafts/1", fetcher)
        return allowed, info.value.kind

    # Our own group replaces the * group: /private/ is allowed to us, /drafts/ is not.
    assert with_cache(serving(ROBOTS), check) == (3.0, FailureKind.ROBOTS_DISALLOWED)


def test_wildcard_rules_and_sitemap_lines_are_read() -> None:
    robots = "User-agent: *\nDisallow: /*?print=\nSitemap: https://news.example/s.xml\n"

    async def check(cache: RobotsCache, fetcher: PageFetcher) -> object:
        with pytest.raises(IngestFailure):
            await cache.crawl_delay("https://news.example/a?print=1", fetcher)
        return (await cache.crawl_delay("https://news.example/a", fetcher),
                await cache.sitemaps("https://news.example/", fetcher))

    assert with_cache(serving(robots), check) == (0.0, ("https://news.example/s.xml",))


def test_robots_txt_is_read_once_per_host_and_revalidated_after_its_ttl() -> None:
    requests: list[httpx.Request] = []
    clock = Clock()

    async def check(cache: RobotsCache, fetcher: PageFetcher) -> object:
        await asyncio.gather(*(cache.crawl_delay(f"https://news.example/{i}", fetcher)
                               for i in range(20)))
        clock.now = 101
        return await cache.crawl_delay("https://news.example/late", fetcher)

    assert with_cache(serving(ROBOTS, requests=requests), check, clock) == 3.0
    assert [str(r.url) for r in requests] == ["https://news.example/robots.txt"] * 2
    assert requests[1].headers["If-None-Match"] == '"v1"'


@pytest.mark.parametrize("status", [404, 403, 410])
def test_a_robots_txt_missing_or_refused_allows_everything(status: int) -> None:
    async def check(cache: RobotsCache, fetcher: PageFetcher) -> object:
        return await cache.crawl_delay("https://news.example/private/1", fetcher)

    assert with_cache(serving("nope", status), check) == 0.0


def test_a_robots_txt_failing_with_5xx_means_wait() -> None:
    async def check(cache: RobotsCache, fetcher: PageFetcher) -> object:
        with pytest.raises(IngestFailure) as info:
            await cache.crawl_delay("https://news.example/a", fetcher)
        return info.value.kind

    kind = with_cache(serving("down", 503), check)
    assert kind is FailureKind.HTTP_SERVER_ERROR and kind.is_transient


@pytest.mark.parametrize("turns", range(40))
def test_a_page_asking_just_as_the_read_ends_reads_robots_txt_no_more(turns: int) -> None:
    # The read's end and its result's arrival in the cache are a few loop turns apart; a page
    # asking in between (`turns` after the server answers) must not read robots.txt again.
    requests: list[httpx.Request] = []
    answer: dict[str, asyncio.Event] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        await answer["sent"].wait()
        return httpx.Response(200, text=ROBOTS)

    async def check(cache: RobotsCache, fetcher: PageFetcher) -> tuple[float, float]:
        answer["sent"] = asyncio.Event()
        first = asyncio.ensure_future(cache.crawl_delay("https://news.example/a", fetcher))
        while not requests:
            await asyncio.sleep(0)
        answer["sent"].set()
        for _ in range(turns):
            await asyncio.sleep(0)
        late = await cache.crawl_delay("https://news.example/b", fetcher)
        return await first, late

    assert with_cache(handler, check) == (3.0, 3.0)
    assert len(requests) == 1
