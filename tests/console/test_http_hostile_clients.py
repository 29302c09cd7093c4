"""Idle and slow clients cannot keep the health checks from answering.

500 connections are opened to the real service's status API: half never send a byte, half
send one byte every two seconds (a slowloris). `/healthz` and `/readyz` still answer within a
second, and the server closes the connections that never sent a whole request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from ingest.console.http_api import IDLE_SECONDS
from tests.console.test_httpapi import running_service, serve_news
from tests.loopback import serve_site

CONNECTIONS = 500


def _trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """One byte of a request line every two seconds on each socket."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    sent = 0
    while not stop.wait(2.0):
        for sock in sockets:
            # A socket the server closed refuses the byte: what it should do, in the end.
            with contextlib.suppress(OSError):
                sock.send(request[sent % len(request):][:1])
        sent += 1


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.timeout(120)
def test_health_answers_within_a_second_while_500_idle_or_slow_connections_are_open(
        tmp_path: Path) -> None:
    with serve_site() as site:
        serve_news(site)
        with running_service(tmp_path, site) as service:
            assert service.port is not None
            held = [socket.create_connection(("127.0.0.1", service.port), timeout=5)
                    for _ in range(CONNECTIONS)]
            slow = held[CONNECTIONS // 2:]  # the first half stays idle
            stop = threading.Event()
            trickler = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
            trickler.start()
            try:
                slowest = 0.0
                until = time.monotonic() + 8
                while time.monotonic() < until:
                    for path in ("/healthz", "/readyz"):
                        asked = time.monotonic()
                        answer = httpx.get(f"{service.base}{path}", timeout=5)
                        slowest = max(slowest, time.monotonic() - asked)
                        assert answer.status_code == 200, answer.text
                    time.sleep(0.1)
                # Past the idle limit the server has hung up on every one of them.
                time.sleep(IDLE_SECONDS + 2 - 8)
                closed = sum(_closed_by_server(sock) for sock in held)
            finally:
                stop.set()
                trickler.join(timeout=5)
                for sock in held:
                    sock.close()
    assert slowest < 1.0
    assert closed == CONNECTIONS
