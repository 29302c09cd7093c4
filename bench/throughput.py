"""Throughput and flatness: `source-ingest fetch` against a loopback site, measured from outside.

Usage:
  .venv/bin/python bench/throughput.py throughput [--articles N] [--feeds M] [--latency-ms L]
  .venv/bin/python bench/throughput.py corpus [--sizes 1000,20000] [--batch B]
  .venv/bin/python bench/throughput.py not-modified [--feeds 1000]

Pages are the saved articles of DIR (default ../shared/data/articles, read in place, never
copied), made unique per copy: every word of 3+ letters in the page's text (outside tags,
scripts and styles) gets a suffix unique to the copy. That changes every 3-word shingle, so the
copies are neither exact nor near duplicates of each other and near-duplicate detection stays
ON, as in production, with its cost measured.

The loopback server (127.0.0.1 only) serves pre-built bytes from a ThreadingHTTPServer with a
deep accept backlog; the added latency is a sleep in the handler thread, before the response.
Loopback is a single host, so the bench config raises fetch.per_host_concurrency to
fetch.max_concurrency: on the real web the pages of M feeds come from many hosts, each with
its own per-host limit.

Figures: wall time of the subprocess (start-up included), articles per second, CPU seconds per
article (user + system of the fetch process and its reaped children, from wait4), peak RSS
(PSS summed over the fetch process and its workers, sampled; and the largest single
process's VmHWM), and the
extraction limit: decode + extract + normalise (`build_article`, as the pipeline calls it) of
the same pages, one after another in this process, measured in the same run.

Before measuring, the project's modules are compiled to bytecode (__pycache__, as `pip install
.` does for the Dockerfile's image). With PYTHONDONTWRITEBYTECODE set, as on the development
VM, a start from the editable install would otherwise recompile every module each time: about
0.07 s per process start that no deployment pays.
"""

from __future__ import annotations

import argparse
import compileall
import html
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from config.settings import FeedSettings  # noqa: E402
from ingest.fetch.decode import decode_html  # noqa: E402
from ingest.records import FeedEntry, IngestFailure  # noqa: E402
from ingest.run.page_work import build_article  # noqa: E402
from tests.cli_runner import command, environment, write_config  # noqa: E402

_PACKAGES = ("ingest", "storage", "config", "scheduler")
DEFAULT_DATA = _REPO.parent / "shared" / "data" / "articles"
_TEXT_OR_TAG = re.compile(r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<[^>]*>)",
                          re.I | re.S)
_WORD = re.compile(r"(\w{3,})")


# ---- pages ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourcePage:
    name: str
    title: str
    body: bytes
    charset: str | None


@dataclass(frozen=True)
class BenchPage:
    path: str
    title: str
    body: bytes
    content_type: str
    charset: str | None


def load_sources(data: Path) -> list[SourcePage]:
    records = json.loads((data / "index.json").read_text(encoding="utf-8"))
    return [SourcePage(name=r["name"], title=r.get("title") or "",
                       body=(data / f"{r['name']}.html").read_bytes(),
                       charset=r.get("html_declared_charset")) for r in records]


def _suffix(copy: int) -> str:
    letters = ""
    copy += 1
    while copy:
        copy, digit = divmod(copy - 1, 26)
        letters = chr(ord("a") + digit) + letters
    return "q" + letters


def unique_copy(body: bytes, charset: str | None, copy: int) -> bytes:
    """The page with every text word suffixed for this copy; markup, scripts, styles kept.

    Decoded and re-encoded in the page's own encoding, so non-Latin pages vary too.
    """
    suffix = _suffix(copy)
    decoded = decode_html(body, charset)
    parts = _TEXT_OR_TAG.split(decoded.text)
    for i in range(0, len(parts), 2):  # even parts are text between tags
        parts[i] = _WORD.sub(lambda m: m.group(1) + suffix, parts[i])
    return "".join(parts).encode(decoded.encoding, errors="xmlcharrefreplace")


def make_pages(sources: list[SourcePage], count: int, first_copy: int = 0) -> list[BenchPage]:
    pages = []
    for i in range(count):
        source = sources[i % len(sources)]
        copy = first_copy + i
        content_type = f"text/html; charset={source.charset}" if source.charset else "text/html"
        pages.append(BenchPage(path=f"/a/{copy}/{source.name}.html",
                               title=f"{source.title} {copy}",
                               body=unique_copy(source.body, source.charset, copy),
                               content_type=content_type, charset=source.charset))
    return pages


def rss(items: list[tuple[str, str]], base: str) -> bytes:
    rendered = "".join(
        f"<item><title>{html.escape(title)}</title><link>{html.escape(base + path)}</link>"
        f"<guid isPermaLink=\"false\">{html.escape(path)}</guid></item>"
        for path, title in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>bench</title><link>http://bench.invalid/</link><description>b</description>"
            f"{rendered}</channel></rss>").encode()


# ---- loopback server --------------------------------------------------------------------

@dataclass
class Site:
    port: int = 0
    latency: float = 0.0
    responses: dict[str, tuple[bytes, bytes]] | None = None  # path -> (etag, full response)
    hits: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, body: bytes, content_type: str) -> None:
        if self.responses is None:
            self.responses = {}
        etag = f'"{len(self.responses):x}-{len(body):x}"'.encode()
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode()
                + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nETag: " + etag
                + b"\r\n\r\n")
        self.responses[path] = (etag, head + body)


_NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops SYNs when many connections open at once


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            site.hits += 1  # approximate under threads; only a sanity figure
            if site.latency:
                time.sleep(site.latency)
            found = (site.responses or {}).get(self.path)
            if found is None:
                self.wfile.write(_NOT_FOUND)
            elif self.headers.get("If-None-Match") == found[0].decode():
                self.wfile.write(_NOT_MODIFIED % found[0])
            else:
                self.wfile.write(found[1])

    return Handler


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    server = _Server(("127.0.0.1", 0), _handler(site))
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


# ---- measuring the subprocess -----------------------------------------------------------

# Reading smaps_rollup walks the page tables of every process of the tree, in this process and
# on the two cores the fetch runs on: every 20 ms that was 3 CPU seconds of kernel time in a
# 13 s run, every 100 ms still 0.25 s (more than the loopback server's 0.24 s). Peak memory is
# held for seconds in these runs; the largest process's peak (VmHWM) is the kernel's own.
SAMPLE_SECONDS = 0.25

@dataclass(frozen=True)
class Measured:
    wall: float
    cpu: float
    # Sampled every SAMPLE_SECONDS: proportional set size (shared pages split between the processes
    # sharing them) summed over the fetch process and its forked extraction workers.
    peak_tree_rss_mb: float
    peak_process_rss_mb: float  # the largest VmHWM (peak RSS) of a single process of the tree
    stdout: str
    stderr: str
    returncode: int
    # CPU seconds by part of the tree (`CPU_PARTS`), sampled with the memory: each process's
    # last sample, so up to SAMPLE_SECONDS of each is missing; `cpu` is the exact total.
    cpu_by_part: dict[str, float] = field(default_factory=dict)


# The parts of a fetch's process tree, as the CPU split names them.
SERVICE_LOOP = "service: event loop thread"
SERVICE_THREADS = "service: other threads (store lane, database lane, detection)"
FORK_SERVER = "fork server"
WORKERS = "extraction workers"
RESOURCE_TRACKER = "resource tracker"
CPU_PARTS = (SERVICE_LOOP, SERVICE_THREADS, WORKERS, FORK_SERVER, RESOURCE_TRACKER)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_memory_kb(pid: int, peaks: dict[int, int],
                    cpu: dict[tuple[int, str], float] | None = None) -> int:
    """Current PSS of the tree under `pid`; records each process's VmHWM into `peaks`, and
    into `cpu` the CPU seconds so far of each process by its part of the tree."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            if cpu is not None:
                _record_cpu(pid, current, cpu)
            with open(f"/proc/{current}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peaks[current] = max(peaks.get(current, 0), int(line.split()[1]))
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _record_cpu(root: int, pid: int, cpu: dict[tuple[int, str], float]) -> None:
    if pid == root:
        loop = _cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
        cpu[pid, SERVICE_LOOP] = loop
        cpu[pid, SERVICE_THREADS] = _cpu_seconds(f"/proc/{pid}/stat") - loop
        return
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        argv = handle.read()
    if b"resource_tracker" in argv:
        part = RESOURCE_TRACKER
    elif b"forkserver" in argv:
        # Workers are forked by the fork server: same command line, the server as parent.
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            parent = int(handle.read().rpartition(")")[2].split()[1])
        with open(f"/proc/{parent}/cmdline", "rb") as handle:
            part = WORKERS if b"forkserver" in handle.read() else FORK_SERVER
    else:
        return
    cpu[pid, part] = _cpu_seconds(f"/proc/{pid}/stat")


def _cpu_seconds(stat_path: str) -> float:
    """utime + stime of a /proc stat file (a process's, or one thread's)."""
    with open(stat_path, encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _adopt_orphans() -> None:
    """Become the reaper of the fetch's descendants that outlive it: the workers' fork server
    leaves after the fetch process, so its CPU (and its workers', which it reaps) would
    otherwise go to init, uncounted."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans(timeout: float = 10.0) -> float:
    """CPU seconds of the adopted descendants, once they have left."""
    cpu = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
            continue
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def run_measured(args: list[str], cwd: Path, prefix: tuple[str, ...] = (),
                 argv: list[str] | None = None) -> Measured:
    """Run the CLI (or `argv`, another program); CPU from wait4 (the process and every
    descendant, reaped by it or by this process as their subreaper), memory sampled.

    wait4's ru_maxrss is not used: it counts the bench's own memory, which the child
    inherits between fork and exec.
    """
    _adopt_orphans()
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv or [*prefix, *command(*args)], cwd=cwd, stdout=out,
                                   stderr=err, env=environment())
        peak = 0
        peaks: dict[int, int] = {}
        cpu: dict[tuple[int, str], float] = {}
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_memory_kb(process.pid, peaks, cpu))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        orphans_cpu = _reap_orphans()
    return Measured(wall=wall, cpu=usage.ru_utime + usage.ru_stime + orphans_cpu,
                    peak_tree_rss_mb=peak / 1024,
                    peak_process_rss_mb=max(peaks.values(), default=0) / 1024,
                    stdout=out_path.read_text(), stderr=err_path.read_text(),
                    returncode=process.returncode, cpu_by_part=_by_part(cpu))


def _by_part(cpu: dict[tuple[int, str], float]) -> dict[str, float]:
    parts = dict.fromkeys(CPU_PARTS, 0.0)
    for (_pid, part), seconds in cpu.items():
        parts[part] += seconds
    return parts


def _stored(stdout: str) -> int:
    match = re.search(r"articles stored\s+(\d+)", stdout)
    return int(match.group(1)) if match else 0


def _run_seconds(stdout: str) -> float:
    match = re.search(r"finished in ([\d.]+)s", stdout)
    return float(match.group(1)) if match else float("nan")


def extraction_seconds(pages: list[BenchPage], base: str) -> tuple[float, int]:
    """decode + extract + normalise of every page in this process, as the pipeline does it."""
    feed = FeedSettings(name="bench", url=base + "/feed.xml", interval_seconds=900.0)
    extracted = 0
    started = time.perf_counter()
    for page in pages:
        url = base + page.path
        entry = FeedEntry(feed_name="bench", key=page.path, url=url, title=page.title,
                          summary_html="", content_html="", published=None)
        try:
            build_article(feed, entry, decode_html(page.body, page.charset).text, url)
            extracted += 1
        except IngestFailure:
            pass
    return time.perf_counter() - started, extracted


def _write_bench_config(work: Path, site: Site, feed_paths: list[str], concurrency: int,
                        extra: str) -> Path:
    # write_config writes its own [fetch] table; TOML forbids a second one, so the concurrency
    # keys are appended into it by text.
    path = write_config(
        work / "config.toml", database_url=f"sqlite:///{work / 'index.sqlite3'}",
        corpus_dir=work / "corpus",
        feeds=[(f"feed{i:04d}", site.url(path)) for i, path in enumerate(feed_paths)],
        extra=extra)
    text = path.read_text(encoding="utf-8").replace(
        "[fetch]\n", f"[fetch]\nmax_concurrency = {concurrency}\n"
                     f"per_host_concurrency = {concurrency}\n", 1)
    path.write_text(text, encoding="utf-8")
    return path


def publish(site: Site, pages: list[BenchPage], feeds: int) -> list[str]:
    """Serve the pages behind `feeds` RSS feeds (round robin); returns the feed paths."""
    per_feed: list[list[tuple[str, str]]] = [[] for _ in range(feeds)]
    for i, page in enumerate(pages):
        site.set(page.path, page.body, page.content_type)
        per_feed[i % feeds].append((page.path, page.title))
    paths = []
    for i, items in enumerate(per_feed):
        path = f"/feeds/{i:04d}.xml"
        site.set(path, rss(items, site.url("")), "application/rss+xml")
        paths.append(path)
    return paths


# ---- modes ------------------------------------------------------------------------------

def throughput(args: argparse.Namespace) -> int:
    sources = load_sources(args.data)
    pages = make_pages(sources, args.articles)
    site = Site(latency=args.latency_ms / 1000)
    ratios = []
    with serve(site):
        feed_paths = publish(site, pages, args.feeds)
        for attempt in range(1, args.repeat + 1):
            # The extraction limit is taken right before and right after the fetch: this VM's
            # speed drifts by tens of percent from one minute to the next (the same loop, in
            # one process, measured 4.7 s to 7.9 s of CPU), and the ratio should compare
            # like with like.
            before, extracted = extraction_seconds(pages, site.url(""))
            with tempfile.TemporaryDirectory() as scratch:
                work = Path(scratch)
                config = _write_bench_config(work, site, feed_paths, args.concurrency, "")
                # Set-up, not measured: the schema is created once per deployment, and every
                # fetch but the very first finds it in place.
                subprocess.run(command("--config", str(config), "db", "upgrade"), cwd=work,
                               env=environment(), check=True, capture_output=True)
                measured = run_measured(["--config", str(config), "fetch"], work,
                                        tuple(args.prefix.split()))
            after, _ = extraction_seconds(pages, site.url(""))
            if measured.returncode != 0:
                print(measured.stderr[-3000:], file=sys.stderr)
                return 1
            limit = (before + after) / 2
            ratios.append(measured.wall / limit)
            _report_throughput(args, attempt, measured, extracted, before, after)
    if len(ratios) > 1:
        print(f"\nwall / extraction limit over {len(ratios)} runs: median "
              f"{statistics.median(ratios):.2f} x, best {min(ratios):.2f} x, worst "
              f"{max(ratios):.2f} x")
    return 0


def _report_throughput(args: argparse.Namespace, attempt: int, measured: Measured,
                       extracted: int, before: float, after: float) -> None:
    stored = _stored(measured.stdout)
    limit = (before + after) / 2
    if attempt == 1:
        print(measured.stdout.rstrip())
    print(f"\nrun {attempt}: articles {args.articles}  feeds {args.feeds}  latency "
          f"{args.latency_ms:g} ms  concurrency {args.concurrency}  (extractable {extracted})")
    rows = [
        ("fetch wall time (subprocess, start-up included)", f"{measured.wall:.2f} s"),
        ("run time (as reported by fetch)", f"{_run_seconds(measured.stdout):.2f} s"),
        ("articles stored", f"{stored}"),
        ("articles per second (stored / wall)", f"{stored / measured.wall:.1f}"),
        ("CPU seconds per article", f"{measured.cpu / max(stored, 1) * 1000:.1f} ms"),
        ("peak memory, process tree (PSS, sampled)", f"{measured.peak_tree_rss_mb:.0f} MB"),
        ("peak RSS, largest process (VmHWM)", f"{measured.peak_process_rss_mb:.0f} MB"),
        ("extraction limit (one process, same pages)",
         f"{limit:.2f} s (before {before:.2f}, after {after:.2f})"),
        ("wall / extraction limit", f"{measured.wall / limit:.2f} x"),
    ]
    for label, value in rows:
        print(f"  {label:50} {value}", flush=True)
    _report_cpu_parts(measured, stored)


def _report_cpu_parts(measured: Measured, articles: int) -> None:
    """Where the CPU went, by part of the process tree (sampled: a little under the total)."""
    print(f"  CPU by part (sampled; {sum(measured.cpu_by_part.values()):.2f} of "
          f"{measured.cpu:.2f} s):")
    for part, seconds in measured.cpu_by_part.items():
        print(f"    {part:64} {seconds:6.2f} s  {seconds / max(articles, 1) * 1000:5.1f} ms "
              f"per article", flush=True)


def _prefill(work: Path, config: Path, count: int) -> float:
    """Fill index + corpus with `count` stored articles through the storage API, quickly."""
    import random

    from config.loading import load_settings
    from ingest.dedupe.near_duplicates import BANDS, NUM_PERMUTATIONS
    from storage.corpus import corpus_file_name, format_corpus_text
    from storage.database import utcnow
    from storage.index import open_index

    settings = load_settings(config, {})
    index = open_index(settings.storage.database_url)
    corpus = settings.storage.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    index.sync_feeds(settings.feeds, utcnow())
    feed_names = [feed.name for feed in settings.feeds]
    rng = random.Random(7)
    started = time.perf_counter()
    for i in range(count):
        text = f"Prefilled article {i}. " + " ".join(f"w{rng.randrange(10**6)}"
                                                     for _ in range(300))
        content_hash = f"{rng.getrandbits(256):064x}"
        signature = rng.randbytes(NUM_PERMUTATIONS * 4)
        bands = tuple(f"{b:02d}:{signature[b * 16:(b + 1) * 16].hex()}" for b in range(BANDS))
        feed = feed_names[i % len(feed_names)]
        url = f"http://prefill.invalid/{i}"
        sequence, file_name = index.reserve_article(
            content_hash=content_hash, url=url, feed=feed, title=f"prefill {i}",
            published=None, writer="bench-0-0", file_name_for=corpus_file_name,
            signature=signature, bands=bands)
        # Plain write, no fsync: the prefill is set-up, not what is measured.
        (corpus / file_name).write_text(format_corpus_text(None, text), encoding="utf-8")
        index.complete_article(sequence, feed, url, url)
    index.close()
    # Flush the prefill's unsynced files now: on ext4 (data=ordered) the measured fetch's first
    # fsyncs would otherwise write them out, and bill a larger prefill with a slower fetch.
    os.sync()
    return time.perf_counter() - started


def corpus(args: argparse.Namespace) -> int:
    sources = load_sources(args.data)
    results = []
    for size in args.sizes:
        site = Site()
        with tempfile.TemporaryDirectory() as scratch, serve(site):
            work = Path(scratch)
            pages = make_pages(sources, args.batch, first_copy=100_000)
            feed_paths = publish(site, pages, args.feeds)
            config = _write_bench_config(work, site, feed_paths, args.concurrency, "")
            fill = _prefill(work, config, size)
            runs = []
            for attempt in range(args.repeat):
                if attempt:
                    # A fresh batch behind the same feeds (new ETags): the corpus grows by
                    # one batch per repeat, a few percent of the sizes compared.
                    publish(site, make_pages(sources, args.batch,
                                             first_copy=100_000 + attempt * args.batch),
                            args.feeds)
                measured = run_measured(["--config", str(config), "fetch"], work)
                if measured.returncode != 0:
                    print(measured.stderr[-3000:], file=sys.stderr)
                    return 1
                status = run_measured(["--config", str(config), "status"], work)
                stored = _stored(measured.stdout)
                runs.append((measured, status, stored))
                print(f"corpus {size}: prefill {fill:.1f} s; fetch {attempt + 1} stored "
                      f"{stored} of {args.batch} in {measured.wall:.2f} s; status "
                      f"{status.wall:.2f} s", flush=True)
            results.append((size, runs))
    print(f"\nbatch {args.batch} new articles, {args.feeds} feeds, concurrency "
          f"{args.concurrency}; medians of {args.repeat} fetches (memory: the largest)")
    print(f"  {'stored before':>13} {'ms/article':>10} {'CPU ms/art':>10} {'tree PSS':>9} "
          f"{'max proc RSS':>12} {'status':>7}")
    summary = []
    for size, runs in results:
        per_article = statistics.median(m.wall / max(n, 1) for m, _, n in runs)
        cpu = statistics.median(m.cpu / max(n, 1) for m, _, n in runs)
        tree = max(m.peak_tree_rss_mb for m, _, _ in runs)
        largest = max(m.peak_process_rss_mb for m, _, _ in runs)
        status_wall = statistics.median(st.wall for _, st, _ in runs)
        summary.append((size, per_article, tree, largest))
        print(f"  {size:13d} {per_article * 1000:10.1f} {cpu * 1000:10.1f} {tree:7.0f}MB "
              f"{largest:10.0f}MB {status_wall:6.2f}s")
    if len(summary) >= 2:
        first, last = summary[0], summary[-1]
        print(f"  per-article time {last[0]} vs {first[0]}: {last[1] / first[1]:.3f} x; "
              f"peak tree PSS {last[2] / first[2]:.3f} x; "
              f"largest process {last[3] / first[3]:.3f} x")
    return 0


def machine_reference() -> float:
    """CPU seconds of a fixed pure-Python loop in this process: on a VM whose speed drifts,
    it tells a slow period from slower code (this VM: 1.6 s to 2.5 s, minutes apart)."""
    started = time.process_time()
    total = 0
    for step in range(10_000_000):
        total += step
    return time.process_time() - started


def not_modified(args: argparse.Namespace) -> int:
    reference_before = machine_reference()
    site = Site()
    with tempfile.TemporaryDirectory() as scratch, serve(site):
        work = Path(scratch)
        feed_paths = [f"/feeds/{i:04d}.xml" for i in range(args.feeds)]
        for path in feed_paths:
            site.set(path, rss([], site.url("")), "application/rss+xml")
        config = _write_bench_config(work, site, feed_paths, args.concurrency, "")
        first = run_measured(["--config", str(config), "fetch"], work)
        if first.returncode != 0:
            print(first.stderr[-3000:], file=sys.stderr)
            return 1
        hits_before = site.hits
        runs = []
        for _ in range(args.repeat):
            measured = run_measured(["--config", str(config), "fetch"], work,
                                    tuple(args.prefix.split()))
            if measured.returncode != 0:
                print(measured.stderr[-3000:], file=sys.stderr)
                return 1
            runs.append(measured)
        import sqlite3

        with sqlite3.connect(work / "index.sqlite3") as conn:
            with_etag = conn.execute("SELECT count(*) FROM feeds WHERE etag IS NOT NULL"
                                     ).fetchone()[0]
    print(measured.stdout.rstrip())
    print(f"\nfeeds {args.feeds} (with an ETag recorded: {with_etag}); requests per measured "
          f"fetch: {(site.hits - hits_before) / len(runs):g}; concurrency {args.concurrency}")
    print(f"  first fetch (records ETags)  wall {first.wall:.2f} s  CPU {first.cpu:.2f} s")
    for measured in runs:
        print(f"  measured fetch (all 304)     wall {measured.wall:.2f} s  CPU "
              f"{measured.cpu:.2f} s  peak tree PSS {measured.peak_tree_rss_mb:.0f} MB")
    if len(runs) > 1:
        print(f"  median of {len(runs)}: wall {statistics.median(m.wall for m in runs):.2f} s  "
              f"CPU {statistics.median(m.cpu for m in runs):.2f} s")
    print(f"  machine reference (10M-step Python loop, CPU s): before {reference_before:.2f}, "
          f"after {machine_reference():.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="fetch.max_concurrency and fetch.per_host_concurrency (default: "
                             "32 for pages; 16, the default max_concurrency, for not-modified)")
    parser.add_argument("--prefix", default="",
                        help="command prefix for the fetch, e.g. 'py-spy record -o p.txt "
                             "--format raw --subprocesses --' (profiling only)")
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("throughput", help="articles/s, CPU/article, RSS, extraction limit")
    one.add_argument("--articles", type=int, default=720)
    one.add_argument("--feeds", type=int, default=12)
    one.add_argument("--latency-ms", type=float, default=0.0)
    one.add_argument("--repeat", type=int, default=1,
                     help="fetches to run, each in a fresh corpus (the median ratio is printed)")
    flat = modes.add_parser("corpus", help="a fixed batch against a pre-filled corpus")
    flat.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                      default=[1000, 20000])
    flat.add_argument("--batch", type=int, default=360)
    flat.add_argument("--feeds", type=int, default=12)
    flat.add_argument("--repeat", type=int, default=1,
                      help="fetches of a fresh batch per size (medians are compared)")
    nm = modes.add_parser("not-modified", help="polling feeds that all answer 304")
    nm.add_argument("--feeds", type=int, default=1000)
    nm.add_argument("--repeat", type=int, default=1, help="measured fetches (all 304)")
    args = parser.parse_args(argv)
    for package in _PACKAGES:
        compileall.compile_dir(_REPO / package, quiet=1)
    if args.concurrency is None:
        args.concurrency = 16 if args.mode == "not-modified" else 32
    if args.mode == "throughput":
        return throughput(args)
    if args.mode == "corpus":
        return corpus(args)
    return not_modified(args)


if __name__ == "__main__":
    sys.exit(main())
