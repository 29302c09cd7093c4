"""The status API and page that `source-ingest run --http HOST:PORT` serves.

A deliberately small HTTP/1.1 server on asyncio's own streams, inside the service's event loop:
one request per connection (`Connection: close`), a request line and headers of at most
`MAX_HEADER_BYTES`, a body only with `Content-Length` and at most `MAX_BODY_BYTES`, and the whole
request within `READ_TIMEOUT_SECONDS`. Index queries run in worker threads so a slow database
does not stall the scheduler.

The only route that changes anything, `POST /api/fetch`, needs `Authorization: Bearer <token>`
when a token is configured; without one the server binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib.resources
import ipaddress
import json
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import ENV_HTTP_TOKEN, ConfigError, HttpSettings
from ingest.console.http_wire import (
    API_POLICY,
    MAX_HEADER_BYTES,
    HttpError,
    HttpRequest,
    HttpResponse,
    JsonObject,
    encode_response,
    error_response,
    json_response,
    read_request,
)
from ingest.console.metrics import ServiceGauges, render_metrics
from ingest.console.status import build_status, status_as_json
from ingest.records import FailureKind
from ingest.run.pipeline import RunRequest, SilentObserver
from storage.corpus import is_corpus_file_name
from storage.index import ArticleRow, CorpusIndex, DatabaseError, utcnow

if TYPE_CHECKING:
    from scheduler.service import ServiceState

log = logging.getLogger("source_ingest.http")

READ_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64
DATABASE_TIMEOUT_SECONDS = 5.0
# How long POST /api/fetch waits for the run's row (recovery, feed sync and leases come first).
RUN_ID_WAIT_SECONDS = 5.0
PAGE_RESOURCE = "httpapi_page.html"

_ARTICLE_PATH = re.compile(r"^/articles/(\d{1,12})$")
_BEARER = re.compile(r"^Bearer[ \t]+(\S+)[ \t]*$", re.IGNORECASE)



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
        return socket.create_server((listen.host, listen.port), family=family, backlog=128)
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
        return _serve(_StatusApi(state, _load_page()), sock)

    return start


def _load_page() -> str | None:
    try:
        return importlib.resources.files("ingest").joinpath(PAGE_RESOURCE).read_text("utf-8")
    except OSError as exc:
        log.error("status page missing from the installation", extra={
            "event": "http_page_missing", "resource": PAGE_RESOURCE, "error": str(exc)})
        return None


async def _serve(api: _StatusApi, sock: socket.socket) -> None:
    server = await asyncio.start_server(api.connection, sock=sock, limit=MAX_HEADER_BYTES)
    address = sock.getsockname()
    log.info("http listening", extra={"event": "http_listening", "host": address[0],
                                      "port": address[1],
                                      "token_required": bool(api.token)})
    try:
        await server.serve_forever()
    finally:
        server.close()
        await api.close_connections()


# ---- the API --------------------------------------------------------------------------------

Route = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _StatusApi:
    def __init__(self, state: ServiceState, page: str | None) -> None:
        self._state = state
        self._page = page
        self._page_policy = _page_policy(page) if page is not None else API_POLICY
        self._connections: set[asyncio.Task[Any]] = set()
        self._routes: dict[str, dict[str, Route]] = {
            "/": {"GET": self._status_page},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
            "/api/status": {"GET": self._status},
            "/api/articles": {"GET": self._recent_articles},
            "/api/articles-per-day": {"GET": self._articles_per_day},
            "/api/failures": {"GET": self._failures},
            "/api/fetch": {"POST": self._fetch},
        }

    @property
    def token(self) -> str | None:
        return self._state.settings.http.token

    @property
    def _index(self) -> CorpusIndex:
        return self._state.index

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            if len(self._connections) > MAX_CONNECTIONS:
                writer.write(encode_response(
                    error_response(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections"), True))
            else:
                await self._exchange(reader, writer)
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nobody to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def close_connections(self) -> None:
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=1.0)

    async def _exchange(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        request: HttpRequest | None = None
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                    request = await read_request(reader)
            except TimeoutError:
                raise HttpError(HTTPStatus.REQUEST_TIMEOUT,
                                 "request not received in time") from None
            response = await self._respond(request)
        except HttpError as exc:
            response = error_response(exc.status, exc.message, exc.headers)
        writer.write(encode_response(response, request is None or request.method != "HEAD"))
        log.debug("http request", extra={
            "event": "http_request", "method": request.method if request else None,
            "path": request.path if request else None, "status": response.status.value,
            "ms": round((time.monotonic() - started) * 1000, 1)})

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        methods = ({"GET": self._article_text} if _ARTICLE_PATH.match(request.path)
                   else self._routes.get(request.path, {}))
        if not methods:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such resource: {request.path[:200]}")
        route = methods.get("GET" if request.method == "HEAD" else request.method)
        if route is None:
            allowed = ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allowed}",
                             (("Allow", allowed),))
        try:
            return await route(request)
        except DatabaseError as exc:
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except HttpError:
            raise
        except Exception:
            log.exception("http handler failed", extra={"event": "http_error",
                                                        "path": request.path})
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the log)")

    async def _query(self, call: Callable[[], Any]) -> Any:
        """An index call in a worker thread, bounded in time."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(call), DATABASE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise DatabaseError(
                f"database did not answer within {DATABASE_TIMEOUT_SECONDS:g} s") from None

    # ---- probes ----

    async def _healthz(self, request: HttpRequest) -> HttpResponse:
        state = self._state
        alive = state.scheduler_alive()
        payload: JsonObject = {
            "status": "ok" if alive else "unhealthy", "scheduler_alive": alive,
            "uptime_seconds": round(time.monotonic() - state.started_at, 1),
            "runs_in_flight": len(state.runs_in_flight), "writer": state.writer.tag}
        if not alive:
            payload["reason"] = "the scheduler has not checked for due feeds recently"
        return json_response(HTTPStatus.OK if alive else HTTPStatus.SERVICE_UNAVAILABLE, payload)

    async def _readyz(self, request: HttpRequest) -> HttpResponse:
        reasons = []
        if self._state.stop.is_set():
            reasons.append("the service is stopping")
        try:
            await self._query(self._index.ping)
        except DatabaseError as exc:
            reasons.append(f"database unreachable: {exc}")
        problem = _corpus_dir_problem(self._state.settings.storage.corpus_dir)
        if problem:
            reasons.append(problem)
        if reasons:
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE,
                         {"status": "not ready", "reason": "; ".join(reasons),
                          "reasons": reasons})
        return json_response(HTTPStatus.OK, {"status": "ready"})

    async def _metrics(self, request: HttpRequest) -> HttpResponse:
        state = self._state
        configured = {feed.name for feed in state.settings.feeds}
        feeds, articles = await self._query(
            lambda: (self._index.feed_states(), self._index.article_count()))
        gauges = ServiceGauges(
            scheduler_alive=state.scheduler_alive(), runs_in_flight=len(state.runs_in_flight),
            articles_in_index=articles,
            feeds=[feed for feed in feeds if feed.name in configured])
        return HttpResponse(HTTPStatus.OK, render_metrics(state.metrics, gauges).encode("utf-8"),
                            "text/plain; version=0.0.4; charset=utf-8")

    # ---- reading ----

    async def _status(self, request: HttpRequest) -> HttpResponse:
        runs = request.query_int("runs", 10, 1, 1000)
        report = await self._query(lambda: build_status(self._state.settings, self._index, runs))
        return json_response(HTTPStatus.OK, status_as_json(report))

    async def _recent_articles(self, request: HttpRequest) -> HttpResponse:
        limit = request.query_int("limit", 20, 1, 500)
        rows: list[ArticleRow] = await self._query(lambda: self._index.recent_articles(limit))
        return json_response(HTTPStatus.OK, {"articles": [{
            "sequence": row.sequence, "title": row.title, "feed": row.feed, "url": row.url,
            "published": row.published.isoformat() if row.published else None,
            "fetched_at": row.fetched_at.isoformat(timespec="seconds"),
            "file_name": row.file_name, "text_url": f"/articles/{row.sequence}",
        } for row in rows]})

    async def _articles_per_day(self, request: HttpRequest) -> HttpResponse:
        days = request.query_int("days", 30, 1, 366)
        counts = dict(await self._query(lambda: self._index.articles_per_day(days)))
        today = utcnow().date()
        series = [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        return json_response(HTTPStatus.OK, {"days": [{"day": day, "articles": counts.get(day, 0)}
                                              for day in series]})

    async def _failures(self, request: HttpRequest) -> HttpResponse:
        totals: dict[str, int] = await self._query(self._index.failure_totals)
        return json_response(HTTPStatus.OK, {"failures_by_kind": [
            {"kind": kind, "count": count, "explanation": _explanation(kind)}
            for kind, count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]})

    async def _article_text(self, request: HttpRequest) -> HttpResponse:
        match = _ARTICLE_PATH.match(request.path)
        assert match is not None  # routed here only when it matches
        sequence = int(match.group(1))
        row: ArticleRow | None = await self._query(lambda: self._index.article(sequence))
        # The path comes from the index row, and only if it is a corpus file name.
        if row is None or row.state != "stored" or not is_corpus_file_name(row.file_name):
            raise HttpError(HTTPStatus.NOT_FOUND, f"no stored article {sequence}")
        path = self._state.settings.storage.corpus_dir / row.file_name
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise HttpError(HTTPStatus.NOT_FOUND,
                             f"article {sequence}: {row.file_name} is missing from the "
                             f"corpus folder (run `source-ingest verify`)") from None
        return HttpResponse(HTTPStatus.OK, body, "text/plain; charset=utf-8",
                            (("Content-Disposition", f'inline; filename="{row.file_name}"'),))

    async def _status_page(self, request: HttpRequest) -> HttpResponse:
        if self._page is None:
            raise HttpError(HTTPStatus.INTERNAL_SERVER_ERROR,
                             f"{PAGE_RESOURCE} is missing from the installation")
        return HttpResponse(HTTPStatus.OK, self._page.encode("utf-8"),
                            "text/html; charset=utf-8",
                            (("Content-Security-Policy", self._page_policy),))

    # ---- changing ----

    async def _fetch(self, request: HttpRequest) -> HttpResponse:
        self._check_may_change(request)
        state = self._state
        if state.stop.is_set():
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the service is stopping")
        names = _requested_feeds(request)
        enabled = [feed.name for feed in state.settings.feeds if feed.enabled]
        if names is not None:
            unknown = [name for name in names if name not in enabled]
            if unknown:
                return json_response(HTTPStatus.BAD_REQUEST, {
                    "error": f"unknown or disabled feed: {', '.join(unknown)}",
                    "feeds": enabled})
        watcher = _RunStartWatcher(state.index, state.writer.tag)
        task = state.start_run(RunRequest(trigger="manual", feed_names=names, due_only=False),
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
        return json_response(HTTPStatus.ACCEPTED, {
            "accepted": True, "run_id": watcher.run_id.result() if started else None,
            "feeds": requested,
            # Feeds another run is polling right now are left to it (they are leased).
            "busy": [name for name in requested if name not in watcher.claimed] if started
            else [],
            "status_url": "/api/status"})

    def _check_may_change(self, request: HttpRequest) -> None:
        host = request.headers.get("host", "")
        origin = request.headers.get("origin")
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
        match = _BEARER.match(request.headers.get("authorization", ""))
        given = match.group(1).encode("utf-8") if match else b""
        if not hmac.compare_digest(given, token.encode("utf-8")):
            raise HttpError(HTTPStatus.UNAUTHORIZED,
                             "missing or wrong token (Authorization: Bearer <token>)",
                             (("WWW-Authenticate", 'Bearer realm="source-ingest"'),))


class _RunStartWatcher(SilentObserver):
    """Learns the id of the run it observes, and which feeds it claimed.

    `run_fetch` calls `feeds_claimed` right after inserting the run's row, with no await in
    between, so the newest run owned by this process is that run.
    """

    def __init__(self, index: CorpusIndex, owner: str) -> None:
        self._index = index
        self._owner = owner
        self.run_id: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.claimed: frozenset[str] = frozenset()

    def feeds_claimed(self, names: Sequence[str]) -> None:
        if self.run_id.done():
            return
        self.claimed = frozenset(names)
        try:
            runs = self._index.recent_runs(20)
        except DatabaseError as exc:  # the run goes on; only its id is unknown
            log.warning("run id unknown", extra={"event": "http_run_id_unknown",
                                                 "error": str(exc)})
            self.run_id.set_result(None)
            return
        mine = [run.id for run in runs if run.owner == self._owner and run.trigger == "manual"]
        self.run_id.set_result(mine[0] if mine else None)


def _requested_feeds(request: HttpRequest) -> tuple[str, ...] | None:
    """The feed names of a fetch request's JSON body; None for every enabled feed."""
    if not request.body.strip():
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
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
            isinstance(name, str) and name for name in feeds):
        raise HttpError(HTTPStatus.BAD_REQUEST,
                         "feeds: a non-empty list of feed names (omit it for every feed)")
    return tuple(dict.fromkeys(feeds))


def _host_name(host_header: str) -> str:
    """The host of a Host header, without port or IPv6 brackets."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _explanation(kind: str) -> str:
    try:
        return FailureKind(kind).explanation
    except ValueError:
        return ""


def _corpus_dir_problem(corpus_dir: Path) -> str | None:
    """Why articles could not be written to the corpus folder now, if they could not."""
    # The folder is created at the first write, so a missing one is fine when its nearest
    # existing parent is writable.
    folder = corpus_dir
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        return f"corpus folder {corpus_dir}: {folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"corpus folder {corpus_dir}: {folder} is not writable"
    return None


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

