"""Many loopback feed hosts answering 304, in a process of their own, counting every request.

Used by bench/scale_sources.py. Feed `i` lives at `http://HOST:PORT/feeds/i.xml`; hosts are
loopback addresses 127.0.1.1, 127.0.1.2, ... (Linux routes all of 127/8 to `lo`), so the
fetcher sees as many hosts as the farm has and applies its per-host limit to each, as it would
on the web. The first host, the "big" one, carries `big_share` of the feeds (a publisher with
thousands of section feeds); the rest are spread evenly over the others.

Every conditional request is answered `304 Not Modified` at once (keep-alive): a feed whose
validators match. A request without validators (a feed's first poll) gets a small RSS feed
without entries and its ETag: a 304 to it would say "not modified since nothing", which the
fetcher refuses as `unexpected_not_modified` (issue 15). The farm records the wall-clock time
of every request and which feed it asked for; the measuring process reads progress through
shared counters while the farm runs and gets the full request log when it stops.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import time
from array import array
from dataclasses import dataclass

_RESPONSE = b'HTTP/1.1 304 Not Modified\r\nETag: "bench"\r\nContent-Length: 0\r\n\r\n'
_EMPTY_FEED = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
               b"<title>bench</title><link>http://bench.example/</link></channel></rss>")
_FIRST_RESPONSE = (b'HTTP/1.1 200 OK\r\nETag: "bench"\r\nContent-Type: application/rss+xml\r\n'
                   b"Content-Length: " + str(len(_EMPTY_FEED)).encode() + b"\r\n\r\n"
                   + _EMPTY_FEED)


@dataclass(frozen=True)
class FarmLayout:
    sources: int
    hosts: int  # besides the big host
    big_share: float
    port: int

    @property
    def big_count(self) -> int:
        return int(self.sources * self.big_share)

    def host_of(self, feed: int) -> int:
        """0 is the big host; 1..hosts the others."""
        if feed < self.big_count:
            return 0
        return 1 + (feed - self.big_count) % self.hosts

    def address(self, host: int) -> str:
        return f"127.0.1.{host + 1}" if host < 254 else f"127.0.{2 + host // 254}.{host % 254 + 1}"

    def url(self, feed: int) -> str:
        return f"http://{self.address(self.host_of(feed))}:{self.port}/feeds/{feed}.xml"


@dataclass(frozen=True)
class RequestLog:
    """Wall-clock time of each request and the feed it asked for, in arrival order."""

    times: array  # 'd'
    feeds: array  # 'l'


class FeedFarm:
    """The farm process; `seen` counts distinct feeds requested so far, `requests` all."""

    def __init__(self, layout: FarmLayout) -> None:
        self.layout = layout
        context = multiprocessing.get_context("fork")
        self.seen = context.Value(ctypes.c_long, 0, lock=False)
        self.requests = context.Value(ctypes.c_long, 0, lock=False)
        self.first_request_at = context.Value(ctypes.c_double, 0.0, lock=False)
        self.last_new_feed_at = context.Value(ctypes.c_double, 0.0, lock=False)
        self._ready = context.Event()
        self._stop = context.Event()
        self._log_receiver, self._log_sender = context.Pipe(duplex=False)
        self._process = context.Process(target=self._serve, daemon=True)

    def __enter__(self) -> FeedFarm:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("feed farm did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._stop.set()
        self._process.join(10)

    def stop_and_collect(self) -> RequestLog:
        self._stop.set()
        times, feeds = self._log_receiver.recv()
        self._process.join(10)
        return RequestLog(times=times, feeds=feeds)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        layout = self.layout
        times: array = array("d")
        feeds: array = array("l")
        seen = bytearray(layout.sources)
        shared_seen, shared_requests = self.seen, self.requests

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    now = time.time()
                    path = head.split(b" ", 2)[1]
                    feed = int(path.rsplit(b"/", 1)[1].split(b".", 1)[0])
                    times.append(now)
                    feeds.append(feed)
                    shared_requests.value += 1
                    if not seen[feed]:
                        seen[feed] = 1
                        shared_seen.value += 1
                        self.last_new_feed_at.value = now
                        if not self.first_request_at.value:
                            self.first_request_at.value = now
                    conditional = b"if-none-match" in head.lower()
                    writer.write(_RESPONSE if conditional else _FIRST_RESPONSE)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
                pass
            finally:
                writer.close()

        hosts = [layout.address(host) for host in range(layout.hosts + 1)]
        server = await asyncio.start_server(answer, host=hosts, port=layout.port, backlog=1024)
        self._ready.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._stop.wait)
        server.close()
        self._log_sender.send((times, feeds))


def free_port(address: str = "127.0.1.1") -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])
