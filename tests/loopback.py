"""A real HTTP server on 127.0.0.1 for tests: serves routes the test sets and changes."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0
    etag: bool = True  # answer If-None-Match with 304


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class LoopbackSite:
    """Routes by path; a route may also be a function that writes the response itself."""

    port: int = 0
    host: str = "127.0.0.1"  # any 127.x.y.z: a distinct host for per-host limits
    routes: dict[str, Route | Handler] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    not_modified: dict[str, int] = field(default_factory=dict)  # 304 answers per path
    log: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, path)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def set(self, path: str, route: Route | Handler) -> None:
        with self.lock:
            self.routes[path] = route

    def hit_count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


def _make_handler(site: LoopbackSite) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.hits[path] = site.hits.get(path, 0) + 1
                site.log.append((time.monotonic(), path))
                route = site.routes.get(path)
            if route is None:
                self._send(404, b"not found", "text/plain")
                return
            if callable(route):
                route(self)
                return
            if route.delay_seconds:
                time.sleep(route.delay_seconds)
            tag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
            if route.etag and route.status == 200 and self.headers.get("If-None-Match") == tag:
                with site.lock:
                    site.not_modified[path] = site.not_modified.get(path, 0) + 1
                self._send(304, b"", route.content_type, (("ETag", tag),))
                return
            extra = (("ETag", tag),) if route.etag and route.status == 200 else ()
            self._send(route.status, route.body, route.content_type, extra + route.headers)

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: tuple[tuple[str, str], ...] = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

    return _Handler


@contextmanager
def serve_site(site: LoopbackSite | None = None) -> Iterator[LoopbackSite]:
    site = site or LoopbackSite()
    server = ThreadingHTTPServer((site.host, 0), _make_handler(site))
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
