"""One `/api/status` read at 1,000 / 10,000 / 100,000 feeds, in-process on SQLite (issue 16).

Usage:
  .venv/bin/python bench/status_scale.py --sources 1000,10000,100000 --repeat 3
  (--work DIR keeps the built indexes there and reuses them: building the one of 100,000 feeds
  and their entries took 14 s)

Each index holds N configured feeds with `--entries` entries each (default 5, settled in two
runs, an hour apart, all within the last 24 hours), and a mix of health: 1% suspended, 2%
failing (failures in a row), 1% whose last run's articles mostly failed, 1% never polled,
0.1% disabled in the configuration, the rest ok. What is timed is what the API's handler does:
`build_status` (the index reads, under the API's 5 s limit) and the JSON encoding of the
answer (in a thread of its own), for the default read (`/api/status`), a troubled-only read
(`health=failing,suspended`) and one feed (`feed=NAME`); the size of each answer is printed.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from sqlalchemy import insert, update  # noqa: E402

from config.settings import FeedSettings, Settings  # noqa: E402
from ingest.console import status as status_module  # noqa: E402
from ingest.console.api_common import json_body  # noqa: E402
from ingest.records import EntryOutcome, FailureKind  # noqa: E402
from storage.database import utcnow  # noqa: E402
from storage.index import CorpusIndex, open_index  # noqa: E402
from storage.schema import entries, feeds  # noqa: E402


def feed_settings(sources: int) -> tuple[FeedSettings, ...]:
    return tuple(FeedSettings(name=f"feed-{i:06d}",
                              url=f"https://host{i % 500}.example/feed/{i}.xml",
                              interval_seconds=900, enabled=i % 1000 != 5)
                 for i in range(sources))


def build_index(path: Path, settings: Settings, per_feed: int) -> None:
    index = open_index(f"sqlite:///{path}")
    try:
        now = utcnow()
        index.sync_feeds(settings.feeds, now)
        with index._transaction() as conn:
            conn.execute(update(feeds).values(last_poll_at=now - timedelta(minutes=5),
                                              last_success_at=now - timedelta(minutes=5)))
            rows: list[dict[str, Any]] = []
            for i, feed in enumerate(settings.feeds):
                kind = i % 100
                if kind == 0:
                    conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                        suspended=True, consecutive_failures=10,
                        last_error_kind=FailureKind.HTTP_NOT_FOUND, last_error="HTTP 404"))
                elif kind in (1, 2):
                    conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                        consecutive_failures=2, last_error_kind=FailureKind.TIMEOUT,
                        last_error="read timed out"))
                elif kind == 4:
                    conn.execute(update(feeds).where(feeds.c.name == feed.name).values(
                        last_success_at=None, last_poll_at=None))
                for k in range(per_feed):
                    failed = kind == 3 and k in (0, 2)  # its last run: 2 of 3 failed
                    rows.append({
                        "feed": feed.name, "entry_key": f"https://host{i % 500}.example/{i}/{k}",
                        "url": f"https://host{i % 500}.example/{i}/{k}",
                        "status": EntryOutcome.FAILED if failed else EntryOutcome.STORED,
                        "attempts": 1,
                        "failure_kind": FailureKind.HTTP_NOT_FOUND if failed else None,
                        "article_sequence": None if failed else i * per_feed + k,
                        "updated_at": now - timedelta(hours=k % 2, minutes=5),
                        "run_id": 2 - k % 2})
                if len(rows) >= 20_000:
                    conn.execute(insert(entries), rows)
                    rows.clear()
            if rows:
                conn.execute(insert(entries), rows)
    finally:
        index.close()


def one_read(settings: Settings, index: CorpusIndex, **query: Any) -> tuple[float, float, int]:
    """Seconds of build_status, seconds of the encoding, bytes of the answer."""
    started = time.perf_counter()
    report = status_module.build_status(settings, index, 10, **query)
    built = time.perf_counter()
    body = json_body(status_module.status_as_json(report))
    return built - started, time.perf_counter() - built, len(body)


def _queries(sources: int) -> dict[str, dict[str, Any]]:
    """What to read, as build_status's arguments (also on the code before paging, to compare:
    there every read was of every feed)."""
    if "page" not in inspect.signature(status_module.build_status).parameters:
        return {"/api/status": {}}
    page = status_module.FeedPage
    return {"/api/status": {},
            "/api/status?health=failing,suspended": {"page": page(
                health=status_module.parse_health_filter("failing,suspended"))},
            "/api/status?feed=NAME": {"page": page(name=f"feed-{sources // 2:06d}")}}


def _spread(values: list[float]) -> str:
    return (f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f} s"
            if len(values) > 1 else f"{values[0]:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default="1000,10000,100000",
                        type=lambda text: [int(part) for part in text.split(",")])
    parser.add_argument("--entries", type=int, default=5, help="entries per feed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the indexes here (reused when present)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        print(f"load {os.getloadavg()[0]:.1f}; build_status / encoding / total "
              f"(min / median / max of {args.repeat}), answer size", flush=True)
        for sources in args.sources:
            settings = Settings(feeds=feed_settings(sources))
            path = work / f"status-{sources}-{args.entries}.sqlite3"
            if not path.exists():
                started = time.perf_counter()
                build_index(path, settings, args.entries)
                print(f"{sources:,} feeds: index built in {time.perf_counter() - started:.1f} s",
                      flush=True)
            index = open_index(f"sqlite:///{path}")
            try:
                for label, query in _queries(sources).items():
                    reads = [one_read(settings, index, **query) for _ in range(args.repeat)]
                    print(f"{sources:>7,} feeds {label}: "
                          f"{_spread([read[0] for read in reads])} / "
                          f"{_spread([read[1] for read in reads])} / "
                          f"{_spread([read[0] + read[1] for read in reads])}, "
                          f"{reads[-1][2] / 1e6:.2f} MB", flush=True)
            finally:
                index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
