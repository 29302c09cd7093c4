"""Replica scaling: articles per second with 1, 2 and 4 `source-ingest run` replicas.

Usage: .venv/bin/python bench/scale.py [--database-url URL] [--replicas 1,2,4]
                                       [--latency 0.1] [--feeds 40] [--entries 10]
                                       [--per-host-concurrency 4]

A loopback news site (tests/test_replicas.py's: feeds with some stories shared between them)
answers every request after a fixed latency, so fetching is I/O-bound as with real sites. For
each replica count, a fresh PostgreSQL schema and corpus folder are made, the replicas run
until every story is stored, and the rate is the stories stored over the time from the first
run's start to the last article's (interpreter start-up is not counted). The schema is
dropped afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from storage.schema import articles, runs  # noqa: E402
from tests.end_to_end.test_replicas import (  # noqa: E402
    build_news_site,
    running_replicas,
    wait_until_all_stored,
    write_replica_config,
)
from tests.loopback import serve_site  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Round:
    replicas: int
    articles: int
    seconds: float
    complete: bool

    @property
    def per_second(self) -> float:
        return self.articles / self.seconds if self.seconds > 0 else 0.0


def run_round(base_url: str, replicas: int, args: argparse.Namespace) -> Round:
    schema = f"bench_scale_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    database_url = url.render_as_string(hide_password=False)
    engine = create_engine(database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as folder, serve_site() as site:
            work = Path(folder)
            news = build_news_site(site, feed_count=args.feeds, entries_per_feed=args.entries,
                                   latency_seconds=args.latency)
            config = write_replica_config(
                work / "config.toml", database_url=database_url, corpus_dir=work / "corpus",
                site=site, news=news, lease_seconds=60,
                per_host_concurrency=args.per_host_concurrency, interval_seconds=3600)
            with running_replicas(replicas, config, work):
                reached = wait_until_all_stored(engine, news, timeout=args.timeout)
            with engine.connect() as conn:
                first = conn.execute(select(func.min(runs.c.started_at))).scalar_one()
                last = conn.execute(select(func.max(articles.c.fetched_at))).scalar_one()
            seconds = (last - first).total_seconds() if first and last else 0.0
            return Round(replicas=replicas, articles=reached.stored, seconds=seconds,
                         complete=reached.stored == len(news.stories))
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--replicas", default="1,2,4",
                        help="comma-separated replica counts (default 1,2,4)")
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds added to every response (default 0.1)")
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--entries", type=int, default=10, help="entries per feed")
    parser.add_argument("--per-host-concurrency", type=int, default=4,
                        help="fetch.per_host_concurrency of each replica (the site is one host)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    counts = [int(part) for part in args.replicas.split(",") if part.strip()]
    print(f"{args.feeds} feeds x {args.entries} entries, {args.latency * 1000:.0f} ms per "
          f"response, per-host concurrency {args.per_host_concurrency}")
    rounds: list[Round] = []
    for count in counts:
        started = time.monotonic()
        result = run_round(args.database_url, count, args)
        rounds.append(result)
        print(f"  {count} replica(s): {result.articles} articles in {result.seconds:.1f}s "
              f"({time.monotonic() - started:.0f}s with start-up)", flush=True)
    baseline = rounds[0].per_second if rounds else 0.0
    print()
    print(f"{'replicas':>8}  {'articles':>8}  {'seconds':>8}  {'articles/s':>10}  {'speed-up':>8}")
    for result in rounds:
        speedup = result.per_second / baseline if baseline else 0.0
        note = "" if result.complete else "  (timed out: incomplete)"
        print(f"{result.replicas:>8}  {result.articles:>8}  {result.seconds:>8.1f}  "
              f"{result.per_second:>10.1f}  {speedup:>7.2f}x{note}")
    return 0 if all(result.complete for result in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
