"""Fetch one URL over HTTP(S) with the limits a crawler of untrusted sites needs.

Every hop of a redirect chain is checked (scheme, address), the body is read as a stream and
stopped at the size cap counted on decompressed bytes, the whole attempt has a deadline, and
429/5xx/connection failures are retried with backoff. Every failure leaves `fetch` as an
`IngestFailure` with its kind and a one-line detail free of URL credentials.

Time: `total_timeout` bounds the network time of one attempt (all redirect hops and the body;
waiting for a concurrency slot before the first hop is not counted, nor waiting for the
host's pace or a Retry-After hold at any hop). A call makes at most
`retries + 1` attempts and sleeps at most `max_retry_after_seconds` between two of them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any

import httpx

from config.settings import FetchSettings, PrivateAccess
from ingest.fetch.body import read_body
from ingest.fetch.failures import (
    RetryableFailure,
    failure_from_error,
    is_worth_retrying,
    one_line,
    shown_url,
    status_failure,
)
from ingest.fetch.netguard import check_url_host, guarded_transport
from ingest.fetch.pacing import HostPacer
from ingest.fetch.unresolved import UnresolvedHost, UnresolvedHosts
from ingest.records import FailureKind, FetchResponse, IngestFailure, is_http_url
from ingest.urls import without_credentials

Observe = Callable[[str, float, int | None], None]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Only codings whose expansion we can bound chunk by chunk (zlib's max_length); brotli is not
# advertised even when installed, so a brotli bomb cannot be sent to us legitimately.
_ACCEPT_ENCODING = "gzip, deflate"


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: responses' cookies are not kept."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _ChainCookiesOnlyClient(httpx.AsyncClient):
    """An httpx client without a shared cookie jar.

    Cookies live only within one redirect chain (see `PageFetcher._attempt`), so no state
    leaks between fetches or grows without bound. A jar whose policy refused every cookie did
    that too, but httpx still built two urllib compatibility objects per response to offer it
    the cookies: a tenth of the client's CPU on a poll of feeds that all answer 304
    (bench/throughput.py not-modified, profiled).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise AttributeError("this client keeps no cookies")


class PageFetcher:
    """Fetches pages and feeds; use as `async with PageFetcher(settings) as fetcher:`.

    `transport` replaces the network (tests pass respx's); the resolved-address guard then does
    not run, but IP-literal and local-name hosts are still refused before sending.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Observe | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._observe = observe
        self._clients: dict[PrivateAccess | None, httpx.AsyncClient] = {}
        self._all_hosts = asyncio.Semaphore(settings.max_concurrency)
        self._hosts = _HostSlots(settings.per_host_concurrency)
        self._unresolved = UnresolvedHosts()
        self._pacer = HostPacer()

    async def __aenter__(self) -> PageFetcher:
        self._clients[None] = self._new_client(None)
        return self

    def _new_client(self, access: PrivateAccess | None) -> httpx.AsyncClient:
        """A client whose connections carry one feed's private-address permission (or none):
        each has its own connection pool, so a kept-alive connection to an intranet host
        one feed may reach is never reused for another feed's request."""
        s = self._settings
        limits = httpx.Limits(
            max_connections=s.max_concurrency, max_keepalive_connections=s.max_concurrency
        )
        transport = self._transport
        if transport is None:
            transport = guarded_transport(allow_private=s.allow_private_addresses, limits=limits,
                                          access=access)
        return _ChainCookiesOnlyClient(
            transport=transport,
            timeout=httpx.Timeout(
                connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout,
                pool=s.connect_timeout,
            ),
            follow_redirects=False,
            # Environment proxies would route around the address guard.
            trust_env=False,
            headers={"User-Agent": s.user_agent, "Accept-Encoding": _ACCEPT_ENCODING},
            event_hooks={"response": [functools.partial(self._check_location, access)]},
        )

    async def _check_location(self, access: PrivateAccess | None,
                              response: httpx.Response) -> None:
        # httpx builds the redirect request inside send() even with follow_redirects=False and
        # reports a bad Location as a protocol error; response hooks run before that, so a bad
        # or forbidden Location is reported here as what it is.
        if response.has_redirect_location:
            self._checked_url(response.headers["Location"], response.request.url, access)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            # A test's transport is shared by every client: closed once, by the last.
            if self._transport is None or client is clients[-1]:
                await client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        allowed_types: Collection[str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        access: PrivateAccess | None = None,
        pace: float = 0.0,
    ) -> FetchResponse:
        """GET `url`; a 200 (or other 2xx) with its body, or a 304 when the validators match.
        `access`: the non-public addresses this fetch may reach (its feed's permission).
        `pace`: at least this many seconds between requests sent to the host (article pages
        and sitemaps; see `wait_turn`). A host held by a Retry-After waits whatever the pace.
        A host that did not resolve fails its later URLs at once (`UnresolvedHosts`)."""
        self._unresolved.refuse_known(url)
        try:
            return await self._fetch(url, allowed_types=allowed_types, etag=etag,
                                     last_modified=last_modified, access=access, pace=pace)
        except UnresolvedHost as failure:
            self._unresolved.remember(failure)
            raise

    async def _fetch(self, url: str, *, allowed_types: Collection[str] | None,
                     etag: str | None, last_modified: str | None,
                     access: PrivateAccess | None, pace: float) -> FetchResponse:
        if not self._clients:
            raise RuntimeError("PageFetcher.fetch called outside `async with PageFetcher(...)`")
        client = self._clients.get(access)
        if client is None:
            client = self._clients[access] = self._new_client(access)
        start = self._checked_url(url, url, access)
        accepted = None if allowed_types is None else frozenset(t.lower() for t in allowed_types)
        headers = {"Accept": _accept_header(accepted)}
        # Validators recorded before they were checked may not be sendable (non-ASCII).
        etag = etag if _sendable(etag) else None
        last_modified = last_modified if _sendable(last_modified) else None
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        waited_hold = False
        while True:
            try:
                response = await self._attempt(client, start, headers, accepted, access, pace,
                                               not waited_hold)
            except RetryableFailure as retry:
                if retry.retry_after is not None:
                    # The server is overloaded or limiting us: every request to it waits.
                    self._pacer.hold(start.host, min(retry.retry_after,
                                                     self._settings.max_retry_after_seconds))
                await asyncio.sleep(self._delay_before_retry(retry, attempt))
                # This request has just waited the hold out itself.
                waited_hold = retry.retry_after is not None
                attempt += 1
                continue
            if response.not_modified:
                if not etag and not last_modified:
                    # Not modified since what? Taken as "unchanged", the feed was never read.
                    raise IngestFailure(
                        FailureKind.UNEXPECTED_NOT_MODIFIED,
                        f"{shown_url(response.url)}: HTTP 304 to a request without validators")
                etag = response.etag or etag
                last_modified = response.last_modified or last_modified
                return FetchResponse(url=response.url, status=304, content_type="",
                                     charset=None, body=b"", etag=etag,
                                     last_modified=last_modified)
            return response

    async def wait_turn(self, url: str, pace: float) -> None:
        """Wait for this request's turn at the host of `url` (turns `pace` seconds apart),
        before taking a place the run has few of; `fetch(..., pace=...)` then keeps the
        interval between the requests actually sent."""
        await self._pacer.wait_turn(httpx.URL(url).host, pace)

    def _delay_before_retry(self, retry: RetryableFailure, attempt: int) -> float:
        s = self._settings
        if attempt >= s.retries:
            raise retry.failure
        if retry.retry_after is None:
            return min(s.backoff_seconds * 2**attempt, s.max_retry_after_seconds)
        if retry.retry_after > s.max_retry_after_seconds:
            raise IngestFailure(
                retry.failure.kind,
                f"{retry.failure.detail}; the server asks to retry after "
                f"{retry.retry_after:.0f} s, more than the {s.max_retry_after_seconds:.0f} s "
                "we wait",
            )
        return retry.retry_after

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        headers: dict[str, str],
        accepted: frozenset[str] | None,
        access: PrivateAccess | None,
        pace: float,
        honour_hold: bool,
    ) -> FetchResponse:
        # Some sites set a cookie and redirect back to the page (consent walls), so the chain
        # carries its own cookies; loops are recognised by URL and cookies together.
        cookies = httpx.Cookies()
        seen: set[tuple[str, str]] = set()
        deadline: float | None = None
        for _hop in range(self._settings.max_redirects + 1):
            request = client.build_request("GET", url, headers=headers)
            # The jar's header and parse steps build a urllib Request each time: skipped
            # while the chain has no cookie (nearly always).
            if cookies:
                cookies.set_cookie_header(request)
            state = (str(url), request.headers.get("Cookie", ""))
            if state in seen:
                raise IngestFailure(FailureKind.TOO_MANY_REDIRECTS,
                                    f"{shown_url(url)}: redirect loop")
            seen.add(state)
            host = url.host
            await self._hosts.acquire(host)
            try:
                paced = await self._pacer.before_request(host, pace, honour_hold=honour_hold)
                async with self._all_hosts:
                    # Checked again: another request to the host may have gone meanwhile.
                    paced += await self._pacer.before_request(host, pace,
                                                              honour_hold=honour_hold)
                    self._pacer.mark_sent(host, pace)
                    if deadline is None:
                        deadline = (asyncio.get_running_loop().time()
                                    + self._settings.total_timeout)
                    else:  # the host's pace or hold is no network time
                        deadline += paced
                    outcome = await self._exchange(client, request, cookies, accepted, deadline)
            finally:
                self._hosts.release(host)
            if isinstance(outcome, FetchResponse):
                return outcome
            url = self._checked_url(outcome, url, access)
        raise IngestFailure(
            FailureKind.TOO_MANY_REDIRECTS,
            f"{shown_url(url)}: more than {self._settings.max_redirects} redirects",
        )

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        cookies: httpx.Cookies,
        accepted: frozenset[str] | None,
        deadline: float,
    ) -> FetchResponse | str:
        """One request and its response: the result, or the Location to follow."""
        status: int | None = None
        started = time.monotonic()
        limit = asyncio.timeout_at(deadline)
        try:
            async with limit:
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    if "set-cookie" in response.headers:
                        cookies.extract_cookies(response)
                    return await self._read(response, accepted)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            if not limit.expired():
                raise
            raise IngestFailure(
                FailureKind.TIMEOUT,
                f"{shown_url(request.url)}: no complete response within "
                f"{self._settings.total_timeout:g} s",
            ) from exc
        except httpx.InvalidURL as exc:
            raise IngestFailure(
                FailureKind.INVALID_URL, f"{shown_url(request.url)}: {one_line(str(exc))}"
            ) from exc
        except httpx.HTTPError as exc:
            failure = failure_from_error(exc, request.url)
            if is_worth_retrying(exc):
                raise RetryableFailure(failure) from exc
            raise failure from exc
        finally:
            if self._observe is not None:
                self._observe(request.url.host, time.monotonic() - started, status)

    async def _read(
        self, response: httpx.Response, accepted: frozenset[str] | None
    ) -> FetchResponse | str:
        status = response.status_code
        if status in _REDIRECTS and response.headers.get("Location"):
            return response.headers["Location"]
        if status == 304:
            # Read to the end of the (empty, RFC 9110 §15.4.5) body: a response closed
            # before its end closes the connection, and a poll of 1,000 unchanged feeds
            # opened 1,000 connections (bench/throughput.py not-modified).
            await read_body(response, self._settings.max_response_bytes)
            return FetchResponse(url=_final_url(response), status=304, content_type="",
                                 charset=None, body=b"", etag=_validator(response, "ETag"),
                                 last_modified=_validator(response, "Last-Modified"))
        shown = shown_url(response.url)
        if not 200 <= status < 300:
            raise status_failure(response, shown)

        media_type, charset = _parse_content_type(response.headers.get("Content-Type", ""))
        if accepted is not None and media_type and media_type not in accepted:
            raise IngestFailure(
                FailureKind.UNSUPPORTED_CONTENT_TYPE,
                f"{shown}: {media_type}, expected {', '.join(sorted(accepted))}",
            )
        cap = self._settings.max_response_bytes
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            raise IngestFailure(FailureKind.RESPONSE_TOO_LARGE,
                                f"{shown}: Content-Length {length} is over the {cap}-byte cap")
        body = await read_body(response, cap)
        if not body.strip():
            raise IngestFailure(FailureKind.EMPTY_RESPONSE, f"{shown}: HTTP {status} with no body")
        return FetchResponse(
            url=_final_url(response), status=status, content_type=media_type, charset=charset,
            body=body, etag=_validator(response, "ETag"),
            last_modified=_validator(response, "Last-Modified"),
            headers=tuple(response.headers.multi_items()),
        )

    def _checked_url(self, target: str | httpx.URL, base: str | httpx.URL,
                     access: PrivateAccess | None) -> httpx.URL:
        """The absolute URL of `target` (relative to `base`) if it may be fetched."""
        try:
            # A URL parse is 0.1 ms in httpx: a start URL is parsed once, not joined to itself.
            url = httpx.URL(target) if target is base else httpx.URL(base).join(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise IngestFailure(FailureKind.INVALID_URL,
                                f"{shown_url(str(target))}: {one_line(str(exc))}") from exc
        if not is_http_url(str(url)):
            raise IngestFailure(FailureKind.INVALID_URL,
                                f"{shown_url(url)}: not an absolute http(s) URL")
        check_url_host(url.host, allow_private=self._settings.allow_private_addresses,
                       access=access)
        return url


class _HostSlot:
    def __init__(self, per_host: int) -> None:
        self.semaphore = asyncio.Semaphore(per_host)
        self.users = 0  # requests holding or waiting for the semaphore


class _HostSlots:
    """A semaphore per host, dropped when no request for that host is running or waiting.

    `acquire` and `release` rather than a generator-based context manager: this runs for
    every request, and an async generator costs its own setup and teardown each time.
    """

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, _HostSlot] = {}

    async def acquire(self, host: str) -> None:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _HostSlot(self._per_host)
        slot.users += 1
        try:
            await slot.semaphore.acquire()
        except BaseException:
            self._leave(host, slot)
            raise

    def release(self, host: str) -> None:
        slot = self._slots[host]
        slot.semaphore.release()
        self._leave(host, slot)

    def _leave(self, host: str, slot: _HostSlot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[host]


def _parse_content_type(value: str) -> tuple[str, str | None]:
    """Media type (lower-case, "" when absent) and charset parameter of a Content-Type."""
    media_type, *params = value.split(";")
    charset = None
    for param in params:
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = param_value.strip().strip("\"'").strip() or None
    return media_type.strip().lower(), charset


def _validator(response: httpx.Response, name: str) -> str | None:
    """An ETag or Last-Modified to send back, if it can be: a non-ASCII one cannot be sent in
    a header (httpx refuses to encode it), and kept it failed every later poll of the feed."""
    value = response.headers.get(name)
    return value if _sendable(value) else None


def _sendable(value: str | None) -> bool:
    return (value is not None and 0 < len(value) <= 1024 and value.isascii()
            and value.isprintable())


def _final_url(response: httpx.Response) -> str:
    # Where the page was found, as stored and shown: never with a user name or password.
    return without_credentials(str(response.url))


def _accept_header(accepted: frozenset[str] | None) -> str:
    if not accepted:
        return _DEFAULT_ACCEPT
    return ", ".join([*sorted(accepted), "*/*;q=0.1"])
