"""Many sources on one replica: `fetch` against `run`, first poll and a full interval, all 304.

Usage:
  .venv/bin/python bench/scale_sources.py first-poll --sources 1000,10000 --repeat 3
  .venv/bin/python bench/scale_sources.py interval --sources 100000 --interval 300
  .venv/bin/python bench/scale_sources.py interval --sources 100000 --interval 300 \
      --replicas 2 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
  (--database-url: SQLite in a temporary folder by default; a PostgreSQL URL gets a fresh
  schema per measurement, dropped afterwards)

The feeds are served by bench/feed_farm.py: loopback hosts 127.0.1.x in a process of their own,
every request answered 304 at once, 10% of the feeds on one big host (`--big-share`) and the
rest spread over `--hosts` others (default: sources / 500, at least 8).

`first-poll`, per source count and repeat, on a fresh index each time (`db upgrade` first, not
measured): `source-ingest fetch` (wall, CPU of the process tree from wait4, peak PSS of the
tree), then `source-ingest run --http` until every feed's first poll is recorded in the index
(time from the spawn, CPU of the process tree read from /proc at that moment, peak PSS),
`/healthz` latency sampled every 0.2 s meanwhile, and the time from the spawn to the farm's
first request. `--timeout` ends a run that has not finished its first poll.

`interval`: `run` (or `--replicas K` of them on one database) through the first poll, then
half an interval (the feeds move onto their slots), then one full `--interval` (the feeds'
configured interval, which then holds one poll of each feed): CPU of that interval's polls,
`/healthz` latency throughout, peak PSS, requests per second to the big host and to the others
(first poll, then the interval), and whether any feed was polled twice within half an
interval. Then `--status-reads` reads each of /api/status and /metrics (their latency and
size, and /healthz meanwhile), outside the measured interval.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.feed_farm import FarmLayout, FeedFarm, RequestLog, free_port  # noqa: E402
from bench.throughput import (  # noqa: E402
    SAMPLE_SECONDS,
    _adopt_orphans,
    _reap_orphans,
    _tree_memory_kb,
    machine_reference,
)
from tests.cli_runner import command, environment  # noqa: E402
from tests.databases import postgres_schema_url  # noqa: E402

_CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- set-up -----------------------------------------------------------------------------

def write_config(path: Path, layout: FarmLayout, database_url: str, corpus: Path,
                 interval: float, concurrency: int) -> Path:
    lines = [
        "[storage]", f'database_url = "{database_url}"', f'corpus_dir = "{corpus}"', "",
        "[fetch]", "allow_private_addresses = true", f"max_concurrency = {concurrency}",
        # the farm's sites are few loopback hosts: pacing off, as before issue 18
        "retries = 0", "per_host_delay_seconds = 0", "",
        "[schedule]", f"default_interval_seconds = {interval}", "",
    ]
    for feed in range(layout.sources):
        lines += ["[[feeds]]", f'name = "s{feed:06d}"', f'url = "{layout.url(feed)}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextmanager
def fresh_database(base_url: str | None, work: Path) -> Iterator[str]:
    """A database URL for one measurement: a new SQLite file, or a new PostgreSQL schema."""
    if base_url is None:
        path = work / f"index-{secrets.token_hex(3)}.sqlite3"
        yield f"sqlite:///{path}"
        return
    yield from postgres_schema_url(base_url, prefix="bench_sources_")


def _cli(config: Path, *args: str) -> list[str]:
    return command("--config", str(config), *args)


def _upgrade(config: Path, work: Path) -> None:
    subprocess.run(_cli(config, "db", "upgrade"), cwd=work, env=environment(), check=True,
                   capture_output=True)


# ---- measuring --------------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process tree, reaped children included."""
    total = 0
    for process in _descendants(pid):
        try:
            with open(f"/proc/{process}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / _CLK_TCK


@dataclass
class MemorySampler:
    pids: list[int]
    peak_kb: int = 0
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemorySampler:
        def sample() -> None:
            peaks: dict[int, int] = {}
            while not self._done.is_set():
                self.peak_kb = max(self.peak_kb,
                                   sum(_tree_memory_kb(pid, peaks) for pid in self.pids))
                self._done.wait(SAMPLE_SECONDS)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class HealthProbe:
    """GET /healthz every 0.2 s; latency of each answer (10 s when none came)."""

    port: int
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (at, s, status)
    reads: list[tuple[str, float, int]] = field(default_factory=list)  # (path, s, bytes)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> HealthProbe:
        self._thread = threading.Thread(target=self._probe, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _probe(self) -> None:
        while not self._done.wait(0.2):
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
            except ConnectionRefusedError:
                if not self.samples:
                    continue  # not listening yet
                status = 0
            except OSError:
                status = 0
            elapsed = time.monotonic() - started if status else 10.0
            self.samples.append((time.time(), elapsed, status))

    def read_status(self, times: int) -> None:
        """Read /api/status?runs=15 (as the status page does) and /metrics (as Prometheus
        does) `times` times each, one after the other, recording how long each took."""
        for _ in range(times):
            for path in ("/api/status?runs=15", "/metrics"):
                started = time.monotonic()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                    conn.request("GET", path)
                    response = conn.getresponse()
                    size = len(response.read())
                    conn.close()
                except OSError:
                    continue
                self.reads.append((path.split("?")[0], time.monotonic() - started, size))

    def worst(self, since: float = 0.0, until: float = float("inf")) -> float:
        values = [s for at, s, _ in self.samples if since <= at <= until]
        return max(values, default=float("nan"))

    def failures(self) -> int:
        return sum(1 for _, _, status in self.samples if status != 200)


def run_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())


def polled_feeds(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM feeds WHERE last_poll_at IS NOT NULL")).scalar_one())


@dataclass(frozen=True)
class FetchResult:
    wall: float
    cpu: float
    peak_mb: float


def measure_fetch(config: Path, work: Path) -> FetchResult:
    _adopt_orphans()
    with open(work / "fetch.out", "w") as out, open(work / "fetch.err", "w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(_cli(config, "fetch"), cwd=work, stdout=out, stderr=err,
                                   env=environment())
        with MemorySampler([process.pid]) as memory:
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError((work / "fetch.err").read_text()[-3000:])
    cpu = usage.ru_utime + usage.ru_stime + _reap_orphans()
    return FetchResult(wall=wall, cpu=cpu, peak_mb=memory.peak_kb / 1024)


@dataclass(frozen=True)
class RunResult:
    replicas: int
    to_first_request: float
    first_poll: float | None  # seconds from the spawn; None: not done before the timeout
    first_poll_cpu: float
    interval_cpu: float | None
    peak_mb: float
    healthz_worst_first: float
    healthz_worst_interval: float | None
    healthz_worst_reads: float | None
    healthz_failures: int
    status_reads: list[tuple[str, float, int]]
    polled_at_end: int
    log: RequestLog
    first_poll_done_at: float | None
    first_poll_runs: int  # scheduled runs it took
    interval_start: float | None
    interval_end: float | None
    spawned_at: float


def measure_run(config: Path, work: Path, sources: int, farm: FeedFarm, database_url: str,
                timeout: float, interval: float | None, replicas: int = 1,
                status_reads: int = 0) -> RunResult:
    engine = create_engine(database_url)
    ports = [free_port("127.0.0.1") for _ in range(replicas)]
    spawned_at = time.time()
    processes = []
    for number, port in enumerate(ports):
        out = open(work / f"run{number}.out", "w")  # noqa: SIM115 - closed with the process
        err = open(work / f"run{number}.err", "w")  # noqa: SIM115
        processes.append((subprocess.Popen(
            _cli(config, "run", "--http", f"127.0.0.1:{port}"), cwd=work, stdout=out,
            stderr=err, env=environment()), out, err))
    pids = [process.pid for process, _, _ in processes]
    first_done_at = interval_start = interval_end = reads_start = reads_end = None
    first_cpu = 0.0
    first_runs = 0
    interval_cpu = None
    polled = 0
    try:
        with HealthProbe(ports[0]) as health, MemorySampler(pids) as memory:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if any(process.poll() is not None for process, _, _ in processes):
                    raise RuntimeError((work / "run0.err").read_text()[-3000:])
                if farm.seen.value >= sources and polled_feeds(engine) >= sources:
                    first_done_at = time.time()
                    first_cpu = sum(tree_cpu_seconds(pid) for pid in pids)
                    first_runs = run_rows(engine)
                    break
            if first_done_at is not None and interval is not None:
                # Polled off their slots at first, the feeds' second polls fall between half
                # an interval and one and a half after their first; from half an interval
                # after the first poll ended, any interval holds exactly one poll of each.
                time.sleep(interval / 2)
                interval_start = time.time()
                cpu_start = sum(tree_cpu_seconds(pid) for pid in pids)
                time.sleep(interval)
                interval_end = time.time()
                interval_cpu = sum(tree_cpu_seconds(pid) for pid in pids) - cpu_start
                reads_start = time.time()
                health.read_status(status_reads)
                reads_end = time.time()
            if first_done_at is None:
                first_cpu = sum(tree_cpu_seconds(pid) for pid in pids)
            polled = polled_feeds(engine)
    finally:
        for process, _, _ in processes:
            process.send_signal(signal.SIGTERM)
        for process, out, err in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            out.close()
            err.close()
        _reap_orphans(2.0)
        engine.dispose()
    first_request = farm.first_request_at.value
    return RunResult(
        replicas=replicas, to_first_request=first_request - spawned_at if first_request
        else float("nan"),
        first_poll=None if first_done_at is None else first_done_at - spawned_at,
        first_poll_cpu=first_cpu, interval_cpu=interval_cpu, peak_mb=memory.peak_kb / 1024,
        healthz_worst_first=health.worst(until=first_done_at or float("inf")),
        healthz_worst_interval=None if interval_start is None or interval_end is None
        else health.worst(since=interval_start, until=interval_end),
        healthz_worst_reads=None if reads_start is None or reads_end is None
        else health.worst(since=reads_start, until=reads_end),
        healthz_failures=health.failures(), status_reads=health.reads,
        polled_at_end=polled, log=farm.stop_and_collect(),
        first_poll_done_at=first_done_at, first_poll_runs=first_runs, interval_start=interval_start,
        interval_end=interval_end,
        spawned_at=spawned_at)


# ---- reading the request log ------------------------------------------------------------

def host_rates(log: RequestLog, layout: FarmLayout, since: float, until: float
               ) -> tuple[int, float, int]:
    """(the big host's most requests in one second, its mean per second, the most any other
    host had in one second), over [since, until)."""
    per_second: Counter[tuple[int, int]] = Counter()
    big = 0
    for at, feed in zip(log.times, log.feeds, strict=True):
        if since <= at < until:
            host = layout.host_of(feed)
            per_second[(host, int(at))] += 1
            big += host == 0
    big_peak = max((n for (host, _), n in per_second.items() if host == 0), default=0)
    other_peak = max((n for (host, _), n in per_second.items() if host != 0), default=0)
    return big_peak, big / max(until - since, 1e-9), other_peak


def polled_twice(log: RequestLog, within: float) -> int:
    """Feeds with two requests less than `within` seconds apart."""
    last: dict[int, float] = {}
    twice = set()
    for at, feed in zip(log.times, log.feeds, strict=True):
        previous = last.get(feed)
        if previous is not None and at - previous < within:
            twice.add(feed)
        last[feed] = at
    return len(twice)


# ---- modes ------------------------------------------------------------------------------

def _layout(sources: int, args: argparse.Namespace) -> FarmLayout:
    hosts = args.hosts or max(8, sources // 500)
    return FarmLayout(sources=sources, hosts=hosts, big_share=args.big_share,
                      port=free_port())


def _spread(values: list[float], unit: str, digits: int = 2) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit}"
    return (f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / "
            f"{max(values):.{digits}f} {unit}")


def config_load_seconds(config: Path, times: int) -> list[float]:
    """`load_settings` of the configuration, in a fresh interpreter each time (as at start)."""
    code = ("import sys, time; from pathlib import Path; t = time.perf_counter(); "
            "from config.loading import load_settings; "
            f"load_settings(Path({str(config)!r}), {{}}); print(time.perf_counter() - t)")
    return [float(subprocess.run([sys.executable, "-c", code], cwd=_REPO, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(times)]


def first_poll(args: argparse.Namespace) -> int:
    print(f"machine reference (10M-step loop, CPU s): {machine_reference():.2f}; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    table = []
    for sources in args.sources:
        fetches: list[FetchResult] = []
        runs: list[RunResult] = []
        for attempt in range(args.repeat):
            layout = _layout(sources, args)
            with tempfile.TemporaryDirectory(prefix="scale-sources-") as scratch:
                work = Path(scratch)
                if not args.skip_fetch:
                    with FeedFarm(layout) as farm, fresh_database(args.database_url,
                                                                  work) as url:
                        config = write_config(work / "config.toml", layout, url,
                                              work / "corpus", args.interval, args.concurrency)
                        _upgrade(config, work)
                        fetches.append(measure_fetch(config, work))
                        farm.stop_and_collect()
                    f = fetches[-1]
                    print(f"{sources} sources, fetch {attempt + 1}: wall {f.wall:.2f} s, CPU "
                          f"{f.cpu:.2f} s, peak {f.peak_mb:.0f} MB", flush=True)
                with FeedFarm(layout) as farm, fresh_database(args.database_url, work) as url:
                    config = write_config(work / "config.toml", layout, url, work / "corpus",
                                          args.interval, args.concurrency)
                    _upgrade(config, work)
                    result = measure_run(config, work, sources, farm, url, args.timeout, None)
                runs.append(result)
                done = "not done" if result.first_poll is None else \
                    f"done {result.first_poll:.2f} s"
                print(f"{sources} sources, run {attempt + 1}: first poll {done} after start "
                      f"({result.polled_at_end} polled), CPU {result.first_poll_cpu:.2f} s, "
                      f"peak {result.peak_mb:.0f} MB, {result.first_poll_runs} run(s), "
                      f"first request after "
                      f"{result.to_first_request:.2f} s, /healthz worst "
                      f"{result.healthz_worst_first:.3f} s", flush=True)
        table.append((sources, fetches, runs))
    print(f"\nmin / median / max of {args.repeat}; database "
          f"{'SQLite' if args.database_url is None else 'PostgreSQL'}; load now "
          f"{os.getloadavg()[0]:.1f}")
    print("| sources | `fetch` wall | CPU | peak | `run` first poll | CPU | peak | "
          "first request | /healthz worst |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sources, fetches, runs in table:
        done = [r.first_poll for r in runs if r.first_poll is not None]
        undone = len(runs) - len(done)
        note = f" ({undone} not done in {args.timeout:g} s)" if undone else ""
        print(f"| {sources:,} | {_spread([f.wall for f in fetches], 's')} | "
              f"{_spread([f.cpu for f in fetches], 's')} | "
              f"{_spread([f.peak_mb for f in fetches], 'MB', 0)} | "
              f"{_spread(done, 's')}{note} | {_spread([r.first_poll_cpu for r in runs], 's')} | "
              f"{_spread([r.peak_mb for r in runs], 'MB', 0)} | "
              f"{_spread([r.to_first_request for r in runs], 's')} | "
              f"{_spread([r.healthz_worst_first for r in runs], 's', 3)} |")
        if fetches and done:
            print(f"|  | run / fetch: time {statistics.median(done) / statistics.median([f.wall for f in fetches]):.2f} x, "  # noqa: E501
                  f"CPU {statistics.median([r.first_poll_cpu for r in runs]) / statistics.median([f.cpu for f in fetches]):.2f} x |")  # noqa: E501
    return 0


def interval(args: argparse.Namespace) -> int:
    print(f"machine reference (10M-step loop, CPU s): {machine_reference():.2f}; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    for sources in args.sources:
        layout = _layout(sources, args)
        with tempfile.TemporaryDirectory(prefix="scale-sources-") as scratch:
            work = Path(scratch)
            with FeedFarm(layout) as farm, fresh_database(args.database_url, work) as url:
                config = write_config(work / "config.toml", layout, url, work / "corpus",
                                      args.interval, args.concurrency)
                print(f"config of {sources:,} feeds, load_settings (read, parse, validate): "
                      f"{_spread(config_load_seconds(config, 3), 's')}", flush=True)
                _upgrade(config, work)
                result = measure_run(config, work, sources, farm, url, args.timeout,
                                     args.interval, replicas=args.replicas,
                                     status_reads=args.status_reads)
        _report_interval(args, sources, layout, result)
    return 0


def _report_interval(args: argparse.Namespace, sources: int, layout: FarmLayout,
                     result: RunResult) -> None:
    print(f"\n{sources:,} sources ({layout.big_count:,} on the big host, the rest on "
          f"{layout.hosts} hosts), {result.replicas} replica(s), interval {args.interval:g} s, "
          f"database {'SQLite' if args.database_url is None else 'PostgreSQL'}; load now "
          f"{os.getloadavg()[0]:.1f}")
    done = "not done" if result.first_poll is None else f"{result.first_poll:.1f} s"
    rows = [("start to first request", f"{result.to_first_request:.2f} s"),
            ("first poll of every source, from the start", done),
            ("  CPU (process trees)", f"{result.first_poll_cpu:.1f} s"),
            ("  scheduled runs it took", f"{result.first_poll_runs}"),
            ("  /healthz worst", f"{result.healthz_worst_first:.3f} s")]
    log = result.log
    if result.first_poll_done_at is not None:
        big, big_mean, other = host_rates(log, layout, result.spawned_at,
                                          result.first_poll_done_at)
        rows.append(("  requests/s: big host most in 1 s, mean; other hosts most",
                     f"{big}, {big_mean:.1f}; {other}"))
    if result.interval_end is not None and result.interval_start is not None:
        since, until = result.interval_start, result.interval_end
        in_window = sum(1 for at in log.times if since <= at < until)
        big, big_mean, other = host_rates(log, layout, since, until)
        feeds_in_window = len({feed for at, feed in zip(log.times, log.feeds, strict=True)
                               if since <= at < until})
        rows += [("one interval, from half an interval after: polls, feeds",
                  f"{in_window:,}, {feeds_in_window:,}"),
                 ("  CPU (process trees)", f"{result.interval_cpu:.1f} s"),
                 ("  /healthz worst", f"{result.healthz_worst_interval:.3f} s"),
                 ("  requests/s: big host most in 1 s, mean; other hosts most",
                  f"{big}, {big_mean:.1f}; {other}")]
    for path in ("/api/status", "/metrics"):
        reads = [(seconds, size) for name, seconds, size in result.status_reads if name == path]
        if reads:
            worst = max(seconds for seconds, _ in reads)
            size = max(size for _, size in reads) / 1e6
            rows.append((f"{path}, read {len(reads)} times after: worst, size",
                         f"{worst:.2f} s, {size:.1f} MB"))
    if result.healthz_worst_reads is not None:
        rows.append(("  /healthz worst meanwhile", f"{result.healthz_worst_reads:.3f} s"))
    rows += [("/healthz answers not 200", f"{result.healthz_failures}"),
             ("peak memory (PSS, all process trees)", f"{result.peak_mb:.0f} MB"),
             ("feeds polled twice within half an interval",
              f"{polled_twice(log, args.interval / 2):,}"),
             ("requests in all", f"{len(log.times):,}")]
    for label, value in rows:
        print(f"  {label:60} {value}")
    if args.json:
        print(json.dumps({"sources": sources, "first_poll": result.first_poll,
                          "first_poll_cpu": result.first_poll_cpu,
                          "interval_cpu": result.interval_cpu, "peak_mb": result.peak_mb}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (a schema per measurement); default SQLite")
    parser.add_argument("--hosts", type=int, default=0,
                        help="hosts besides the big one (default: sources / 500, at least 8)")
    parser.add_argument("--big-share", type=float, default=0.1,
                        help="share of the feeds on the big host (default 0.1)")
    parser.add_argument("--concurrency", type=int, default=16, help="fetch.max_concurrency")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds a run may take for its first poll")
    parser.add_argument("--json", action="store_true")
    modes = parser.add_subparsers(dest="mode", required=True)
    sizes = {"type": lambda s: [int(x) for x in s.split(",")]}
    first = modes.add_parser("first-poll", help="fetch vs run: the first poll of every source")
    first.add_argument("--sources", default=[1000, 10000], **sizes)
    first.add_argument("--repeat", type=int, default=1)
    first.add_argument("--interval", type=float, default=900.0)
    first.add_argument("--skip-fetch", action="store_true")
    every = modes.add_parser("interval", help="run: the first poll, then one full interval")
    every.add_argument("--sources", default=[100000], **sizes)
    every.add_argument("--interval", type=float, default=300.0)
    every.add_argument("--replicas", type=int, default=1)
    every.add_argument("--status-reads", type=int, default=3,
                       help="reads of /api/status and /metrics after the interval")
    args = parser.parse_args(argv)
    return first_poll(args) if args.mode == "first-poll" else interval(args)


if __name__ == "__main__":
    sys.exit(main())
