"""The status API and page that `source-ingest run --http HOST:PORT` serves.

aiohttp's web server, on the service's own event loop (loaded only when `--http` is on): it
parses HTTP/1.1 with bounded request lines, headers and bodies, serves any number of
connections side by side, and closes a connection that has not sent a whole request within
`IDLE_SECONDS`, so idle or slow clients cost a socket each and never keep `/healthz` from
answering. Index queries run in worker threads, bounded in time, so a slow database delays
only the answers that need it.

The only route that changes anything, `POST /api/fetch`, needs `Authorization: Bearer <token>`
when a token is configured; without one the server binds loopback addresses only, and takes
fetch requests only for a loopback `Host`. A foreign `Origin` is refused in both cases.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import importlib.resources
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from config.settings import ENV_HTTP_TOKEN, HttpSettings
from config.sources import ConfigError
from ingest.console.api_common import (
    HttpError,
    error_response,
    json_body,
    json_response,
    query_index,
    query_int,
)
from ingest.console.api_reading import ReadingRoutes, add_reading_routes
from ingest.console.feed_health import DISABLED_HINT, not_polled_hint
from ingest.console.metrics import metrics_body, read_metrics
from ingest.console.status import (
    FEED_PAGE_DEFAULT,
    FEED_PAGE_MAX,
    FeedPage,
    build_status,
    parse_health_filter,
    status_as_json,
)
from ingest.records import FeedHealth, RunTrigger
from ingest.run.observer import SilentObserver
from ingest.run.pipeline import RunRequest
from ingest.run.unclaimed import why_not_polled
from storage.corpus_guard import corpus_dir_problem
from storage.database import DatabaseError

if TYPE_CHECKING:
    from scheduler.service import ServiceState

log = logging.getLogger("source_ingest.http")

# A connection that has not sent a whole request within this long (idle, or trickling bytes)
# is closed; so is a kept-alive one that stays idle as long.
IDLE_SECONDS = 15.0
MAX_BODY_BYTES = 64 * 1024
# How long POST /api/fetch waits for the run's row (recovery, feed sync and leases come first).
RUN_ID_WAIT_SECONDS = 5.0
PAGE_RESOURCE = "status_page.html"

_BEARER = re.compile(r"^Bearer[ \t]+(\S+)[ \t]*$", re.IGNORECASE)
COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


# ---- listening address ----------------------------------------------------------------------

@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return _is_loopback_name(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """`HOST:PORT` (`[::1]:8080` for IPv6); raises `ConfigError` naming what is wrong."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]\s]+):(\d{1,5})", text.strip())
    if match is None:
        raise ConfigError(f"http listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ConfigError(f"http listen {text!r}: port must be 0 to 65535")
    return Listen(host=host, port=port)


def check_listen_allowed(listen: Listen, http: HttpSettings) -> None:
    """Refuse to expose the API beyond this machine without a token."""
    if not listen.is_loopback and not http.token:
        raise ConfigError(
            f"refusing to serve HTTP on {listen} without a token: anyone who can reach it "
            f"could start fetches. Set {ENV_HTTP_TOKEN} or [http] token, or listen on "
            f"127.0.0.1")


def _is_loopback_name(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    try:
        return socket.create_server((listen.host, listen.port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigError(f"cannot serve HTTP on {listen}: {exc.strerror or exc}") from exc


def http_server_task(listen: Listen) -> Callable[[ServiceState], Awaitable[None]]:
    """What `serve` runs beside the scheduler: the API until cancelled.

    The token check and the bind happen when `serve` calls the returned function, before the
    scheduler starts, so a refusal or a busy port raises `ConfigError` out of `serve` and the
    `run` command exits with its configuration error. `stop` is set too, so that nothing
    starts even if a caller had started the scheduler first.
    """

    def start(state: ServiceState) -> Awaitable[None]:
        try:
            check_listen_allowed(listen, state.settings.http)
            sock = _bind(listen)
        except ConfigError:
            state.stop.set()
            raise
        return _serve(StatusApi(state, _load_page()), sock)

    return start


def _load_page() -> str | None:
    try:
        return importlib.resources.files("ingest.console").joinpath(PAGE_RESOURCE) \
            .read_text("utf-8")
    except OSError as exc:
        log.error("status page missing from the installation", extra={
            "event": "http_page_missing", "resource": PAGE_RESOURCE, "error": str(exc)})
        return None


async def _serve(api: StatusApi, sock: socket.socket) -> None:
    runner = web.AppRunner(api.application(), handle_signals=False, access_log=None,
                           keepalive_timeout=IDLE_SECONDS)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, shutdown_timeout=1.0).start()
        address = sock.getsockname()
        log.info("http listening", extra={"event": "http_listening", "host": address[0],
                                          "port": address[1],
                                          "token_required": bool(api.token)})
        await asyncio.Event().wait()  # until cancelled by the service's stop
    finally:
        await runner.cleanup()


# ---- the API --------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _answer_safely(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON with the status that says why; security headers on every answer."""
    started = time.monotonic()
    try:
        response = await handler(request)
    except HttpError as exc:
        response = error_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:  # the router's 404 and 405, aiohttp's 413
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        message = exc.reason if exc.status != 404 else f"no such resource: {request.path[:200]}"
        response = error_response(HTTPStatus(exc.status), message, headers)
    except DatabaseError as exc:
        response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, f"database error: {exc}")
    except Exception:
        log.exception("http handler failed", extra={"event": "http_error",
                                                    "path": request.path})
        response = error_response(HTTPStatus.INTERNAL_SERVER_ERROR,
                                  "internal error (see the log)")
    for name, value in COMMON_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", API_POLICY)
    log.debug("http request", extra={
        "event": "http_request", "method": request.method, "path": request.path,
        "status": response.status, "ms": round((time.monotonic() - started) * 1000, 1)})
    return response


class StatusApi:
    def __init__(self, state: ServiceState, page: str | None) -> None:
        self._state = state
        self._page = page
        self._page_policy = _page_policy(page) if page is not None else API_POLICY

    @property
    def token(self) -> str | None:
        return self._state.settings.http.token

    def application(self) -> web.Application:
        app = web.Application(middlewares=[_answer_safely], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/", self._status_page)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api/status", self._status)
        add_reading_routes(app, ReadingRoutes(self._state, self._query))
        app.router.add_post("/api/fetch", self._fetch)
        return app

    async def _query(self, call: Callable[[], Any]) -> Any:
        return await query_index(call)

    # ---- probes ----

    async def _healthz(self, request: web.Request) -> web.Response:
        state = self._state
        alive = state.scheduler_alive()
        payload: dict[str, Any] = {
            "status": "ok" if alive else "unhealthy", "scheduler_alive": alive,
            "uptime_seconds": round(time.monotonic() - state.started_at, 1),
            "runs_in_flight": len(state.runs_in_flight), "writer": state.writer.tag}
        if not alive:
            payload["reason"] = "the scheduler has not checked for due feeds recently"
        return json_response(HTTPStatus.OK if alive else HTTPStatus.SERVICE_UNAVAILABLE, payload)

    async def _readyz(self, request: web.Request) -> web.Response:
        reasons = []
        if self._state.stop.is_set():
            reasons.append("the service is stopping")
        try:
            await self._query(self._state.index.ping)
        except DatabaseError as exc:
            reasons.append(f"database unreachable: {exc}")
        problem = corpus_dir_problem(self._state.settings.storage.corpus_dir)
        if problem:
            reasons.append(problem)
        if reasons:
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE,
                                 {"status": "not ready", "reason": "; ".join(reasons),
                                  "reasons": reasons})
        return json_response(HTTPStatus.OK, {"status": "ready"})

    async def _metrics(self, request: web.Request) -> web.Response:
        state = self._state
        index = state.index
        reading = await self._query(lambda: read_metrics(state.settings, index))
        body = await asyncio.to_thread(functools.partial(
            metrics_body, state.metrics, state.settings, reading.feeds,
            reading.articles_in_index, alive=state.scheduler_alive(),
            runs_in_flight=len(state.runs_in_flight), articles=reading.articles,
            health_counts=reading.health_counts))
        return web.Response(body=body,
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    # ---- reading ----

    async def _status(self, request: web.Request) -> web.Response:
        runs = query_int(request, "runs", 10, 1, 1000)
        page = _feed_page(request, frozenset(feed.name for feed in self._state.settings.feeds))
        report = await self._query(
            lambda: build_status(self._state.settings, self._state.index, runs, page))
        # Encoded in a thread (not under the database's time limit): 100,000 feeds' JSON
        # took seconds, which on the event loop held up /healthz.
        body = await asyncio.to_thread(lambda: json_body(status_as_json(report)))
        return json_response(HTTPStatus.OK, body)

    async def _status_page(self, request: web.Request) -> web.Response:
        if self._page is None:
            raise HttpError(HTTPStatus.INTERNAL_SERVER_ERROR,
                            f"{PAGE_RESOURCE} is missing from the installation")
        return web.Response(text=self._page, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": self._page_policy})

    # ---- changing ----

    async def _fetch(self, request: web.Request) -> web.Response:
        self._check_may_change(request)
        state = self._state
        if state.stop.is_set():
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the service is stopping")
        names = _requested_feeds(request, await _read_body(request))
        enabled = [feed.name for feed in state.settings.feeds if feed.enabled]
        if names is not None:
            configured = {feed.name for feed in state.settings.feeds}
            unknown = [name for name in names if name not in configured]
            if unknown:
                return json_response(HTTPStatus.BAD_REQUEST, {
                    "error": f"unknown feed: {', '.join(unknown)}", "feeds": enabled})
            disabled = [name for name in names if name not in enabled]
            if disabled:
                return json_response(HTTPStatus.CONFLICT, {
                    "error": f"disabled feed: {', '.join(disabled)}", "hint": DISABLED_HINT,
                    "not_polled": {name: {"health": FeedHealth.DISABLED, "hint": DISABLED_HINT}
                                   for name in disabled}})
        watcher = _RunStartWatcher()
        task = state.start_run(RunRequest(trigger=RunTrigger.MANUAL, feed_names=names,
                                          due_only=False, sync_feeds=not state.feeds_synced),
                               observer=watcher)
        await asyncio.wait({watcher.run_id, task}, timeout=RUN_ID_WAIT_SECONDS,
                           return_when=asyncio.FIRST_COMPLETED)
        if not watcher.run_id.done() and task.done() and not task.cancelled():
            error = task.exception()
            if error is not None:
                status = (HTTPStatus.SERVICE_UNAVAILABLE if isinstance(error, DatabaseError)
                          else HTTPStatus.INTERNAL_SERVER_ERROR)
                return error_response(status, f"the fetch could not start: {error}")
        started = watcher.run_id.done()
        requested = list(names or enabled)
        unclaimed = [name for name in requested if name not in watcher.claimed] \
            if started else []
        why = await self._query(functools.partial(why_not_polled, state.index, state.settings,
                                                  unclaimed)) if unclaimed else {}
        return json_response(HTTPStatus.ACCEPTED, {
            "accepted": True, "run_id": watcher.run_id.result() if started else None,
            "feeds": requested,
            # Feeds another run is polling right now are left to it (they are leased).
            "busy": [name for name in unclaimed if why[name] is FeedHealth.BUSY],
            "not_polled": {name: {"health": health, "hint": not_polled_hint(name, health)}
                           for name, health in why.items()},
            "status_url": "/api/status"})

    def _check_may_change(self, request: web.Request) -> None:
        host = request.headers.get("Host", "")
        origin = request.headers.get("Origin")
        # Browsers send Origin on cross-site POSTs: a page elsewhere cannot start fetches.
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            raise HttpError(HTTPStatus.FORBIDDEN, "cross-origin request refused")
        token = self.token
        if token is None:
            # No token means loopback only; a loopback Host also defeats DNS rebinding.
            if not _is_loopback_name(_host_name(host)):
                raise HttpError(HTTPStatus.FORBIDDEN,
                                "without a configured token only localhost may start fetches")
            return
        match = _BEARER.match(request.headers.get("Authorization", ""))
        given = match.group(1).encode("utf-8") if match else b""
        if not hmac.compare_digest(given, token.encode("utf-8")):
            raise HttpError(HTTPStatus.UNAUTHORIZED,
                            "missing or wrong token (Authorization: Bearer <token>)",
                            {"WWW-Authenticate": 'Bearer realm="source-ingest"'})


class _RunStartWatcher(SilentObserver):
    """Learns the id of the run it observes, and which feeds it claimed."""

    def __init__(self) -> None:
        self.run_id: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.claimed: frozenset[str] = frozenset()

    def feeds_claimed(self, run_id: int, names: Sequence[str]) -> None:
        if not self.run_id.done():
            self.claimed = frozenset(names)
            self.run_id.set_result(run_id)


async def _read_body(request: web.Request) -> bytes:
    if "Transfer-Encoding" in request.headers:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send the body with Content-Length")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"request body exceeds {MAX_BODY_BYTES} bytes")
    return await request.read()


def _requested_feeds(request: web.Request, body: bytes) -> tuple[str, ...] | None:
    """The feed names of a fetch request's JSON body; None for every enabled feed."""
    if not body.strip():
        return None
    if request.content_type != "application/json":
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, 'expected an object: {"feeds": [...]}')
    unknown_keys = sorted(set(payload) - {"feeds"})
    if unknown_keys:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown field: {', '.join(unknown_keys)}")
    feeds = payload.get("feeds")
    if feeds is None:
        return None
    if not isinstance(feeds, list) or not feeds or not all(
            isinstance(name, str) and name and name.isprintable() for name in feeds):
        raise HttpError(HTTPStatus.BAD_REQUEST,
                        "feeds: a non-empty list of feed names (omit it for every feed)")
    return tuple(dict.fromkeys(feeds))


def _feed_page(request: web.Request, configured: frozenset[str]) -> FeedPage:
    """?feeds=N (0 to FEED_PAGE_MAX) &offset=N &health=failing,suspended &feed=NAME."""
    limit = query_int(request, "feeds", FEED_PAGE_DEFAULT, 0, FEED_PAGE_MAX)
    offset = query_int(request, "offset", 0, 0, 10**9)
    healths = request.query.getall("health", [])
    try:
        health = parse_health_filter(",".join(healths)) if healths else frozenset()
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"health: {exc}") from None
    names = request.query.getall("feed", [])
    if len(names) > 1:
        raise HttpError(HTTPStatus.BAD_REQUEST, "feed: one feed name at most")
    if names and names[0] not in configured:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"feed: no configured feed {names[0][:200]!r}")
    return FeedPage(limit=limit, offset=offset, health=health, name=names[0] if names else None)


def _host_name(host_header: str) -> str:
    """The host of a Host header, without port or IPv6 brackets."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _page_policy(page: str) -> str:
    """A Content-Security-Policy that allows only the page's own inline script and style."""
    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
            for block in blocks) or "'none'"

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
