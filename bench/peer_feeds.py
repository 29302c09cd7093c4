"""Ours against trafilatura's own feed pipeline, side by side on the same loopback feeds.

Usage:
  .venv/bin/python bench/peer_feeds.py [--articles 720] [--feeds 12] [--repeat 3]
                                       [--parallel 2] [--data ../shared/data/articles]

The pages are bench/throughput.py's (the saved articles of DIR, read in place, each copy made
unique word by word, so neither tool sees a duplicate), behind `--feeds` RSS feeds on one
loopback server. Each round, in alternating order:

- ours: `source-ingest fetch` on a fresh index and corpus (`db upgrade` first, not measured),
  bench/throughput.py's configuration (32 requests in flight, per-host limit raised to match:
  loopback is one host);
- trafilatura: `trafilatura --input-file FEEDS --feed --parallel N --output-dir OUT`, its
  command line's feed pipeline (reads each feed, downloads the pages with N threads, extracts
  with N processes, writes one .txt per page), with a configuration file that sets
  SLEEP_TIME = 0 (its default waits 5 s between requests to one host, and everything here is
  one host) and SSRF_PROTECTION = off (it refuses loopback addresses otherwise). Its feed
  reader drops feeds whose host is an IP address or a name without a dot ("Invalid URL"), so
  its feeds and their links name the server `bench.localhost`, which its process resolves to
  127.0.0.1 (`socket.getaddrinfo` wrapped before its `main` runs, as an /etc/hosts line
  would; nothing else of it is changed). Same pages, same server, feeds under another path.

Figures per tool: wall time, CPU seconds (user + system of the process tree, from wait4 and
the reaped orphans), CPU per article, peak memory (PSS summed over the process tree, sampled
every 250 ms) and the articles each wrote. trafilatura is a bench-only dependency (the bench
extra); nothing in ingest/ imports it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from bench.throughput import (  # noqa: E402
    DEFAULT_DATA,
    BenchPage,
    Measured,
    Site,
    _stored,
    _write_bench_config,
    load_sources,
    make_pages,
    publish,
    rss,
    run_measured,
    serve,
)
from tests.cli_runner import command, environment  # noqa: E402

_TRAFILATURA_CONFIG = """[DEFAULT]
DOWNLOAD_TIMEOUT = 30
MAX_FILE_SIZE = 20000000
MIN_FILE_SIZE = 10
SLEEP_TIME = 0
USER_AGENTS =
COOKIE =
MAX_REDIRECTS = 2
SSRF_PROTECTION = off
INSECURE_SSL_FALLBACK = on
MIN_EXTRACTED_SIZE = 250
MIN_OUTPUT_SIZE = 1
MIN_OUTPUT_COMM_SIZE = 1
MAX_TREE_SIZE =
EXTRACTION_TIMEOUT = 30
MIN_DUPLCHECK_SIZE = 100
MAX_REPETITIONS = 2
EXTENSIVE_DATE_SEARCH = on
EXTERNAL_URLS = off
"""


_BENCH_HOST = "bench.localhost"
# trafilatura's own CLI main, with bench.localhost resolving to the loopback server.
_TRAFILATURA_MAIN = f"""
import socket, sys
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    return _getaddrinfo("127.0.0.1" if host == {_BENCH_HOST!r} else host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
from trafilatura.cli import main
sys.argv[0] = "trafilatura"
main()
"""


@dataclass(frozen=True)
class Round:
    tool: str
    measured: Measured
    articles: int

    @property
    def cpu_per_article(self) -> float:
        return self.measured.cpu / max(self.articles, 1)


def ours(site: Site, feed_paths: list[str], concurrency: int) -> Round:
    with tempfile.TemporaryDirectory(prefix="peer-ours-") as scratch:
        work = Path(scratch)
        config = _write_bench_config(work, site, feed_paths, concurrency, "")
        subprocess.run(command("--config", str(config), "db", "upgrade"), cwd=work,
                       env=environment(), check=True, capture_output=True)
        measured = run_measured(["--config", str(config), "fetch"], work)
        if measured.returncode != 0:
            raise RuntimeError(measured.stderr[-3000:])
        return Round("source-ingest fetch", measured, _stored(measured.stdout))


def publish_for_trafilatura(site: Site, pages: list[BenchPage], feeds: int) -> list[str]:
    """The same pages behind feeds of their own whose links name bench.localhost."""
    base = f"http://{_BENCH_HOST}:{site.port}"
    per_feed: list[list[tuple[str, str]]] = [[] for _ in range(feeds)]
    for i, page in enumerate(pages):
        per_feed[i % feeds].append((page.path, page.title))
    urls = []
    for i, items in enumerate(per_feed):
        path = f"/trafilatura-feeds/{i:04d}.xml"
        site.set(path, rss(items, base), "application/rss+xml")
        urls.append(base + path)
    return urls


def trafilatura(site: Site, feed_urls: list[str], parallel: int) -> Round:
    with tempfile.TemporaryDirectory(prefix="peer-trafilatura-") as scratch:
        work = Path(scratch)
        feeds = work / "feeds.txt"
        feeds.write_text("".join(url + "\n" for url in feed_urls))
        settings = work / "settings.cfg"
        settings.write_text(_TRAFILATURA_CONFIG)
        out = work / "out"
        measured = run_measured([], work, argv=[
            sys.executable, "-c", _TRAFILATURA_MAIN, "--input-file", str(feeds), "--feed",
            "--parallel", str(parallel), "--output-dir", str(out), "--config-file",
            str(settings)])
        if measured.returncode != 0:
            raise RuntimeError(measured.stderr[-3000:])
        written = sum(1 for _ in out.glob("*.txt")) if out.is_dir() else 0
        return Round(f"trafilatura --feed --parallel {parallel}", measured, written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--articles", type=int, default=720)
    parser.add_argument("--feeds", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2, help="trafilatura's --parallel")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="our fetch.max_concurrency (and per-host limit)")
    args = parser.parse_args(argv)
    pages = make_pages(load_sources(args.data), args.articles)
    site = Site()
    rounds: list[Round] = []
    with serve(site):
        feed_paths = publish(site, pages, args.feeds)
        trafilatura_feeds = publish_for_trafilatura(site, pages, args.feeds)
        for attempt in range(args.repeat):
            first_ours = attempt % 2 == 0
            for run_ours in (first_ours, not first_ours):
                result = ours(site, feed_paths, args.concurrency) if run_ours else \
                    trafilatura(site, trafilatura_feeds, args.parallel)
                rounds.append(result)
                m = result.measured
                print(f"round {attempt + 1} {result.tool}: {result.articles} articles, wall "
                      f"{m.wall:.2f} s, CPU {m.cpu:.2f} s ({result.cpu_per_article * 1000:.1f} "
                      f"ms/article), peak tree PSS {m.peak_tree_rss_mb:.0f} MB", flush=True)
    print(f"\n{args.articles} pages behind {args.feeds} loopback feeds; min / median / max of "
          f"{args.repeat}")
    print("| tool | articles | wall | CPU | CPU per article | peak memory (tree PSS) |")
    print("|---|---|---|---|---|---|")
    by_tool: dict[str, list[Round]] = {}
    for result in rounds:
        by_tool.setdefault(result.tool, []).append(result)
    for tool, results in by_tool.items():
        def spread(values: list[float], unit: str, digits: int = 2) -> str:
            return (f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / "
                    f"{max(values):.{digits}f} {unit}")
        print(f"| {tool} | {spread([r.articles for r in results], '', 0)} | "
              f"{spread([r.measured.wall for r in results], 's')} | "
              f"{spread([r.measured.cpu for r in results], 's')} | "
              f"{spread([r.cpu_per_article * 1000 for r in results], 'ms', 1)} | "
              f"{spread([r.measured.peak_tree_rss_mb for r in results], 'MB', 0)} |")
    mine, peer = list(by_tool.values())
    cpu_ratio = statistics.median(r.cpu_per_article for r in mine) / statistics.median(
        r.cpu_per_article for r in peer)
    memory_ratio = statistics.median(r.measured.peak_tree_rss_mb for r in mine) / \
        statistics.median(r.measured.peak_tree_rss_mb for r in peer)
    print(f"\nours / trafilatura (medians): CPU per article {cpu_ratio:.2f} x (target <= 0.5), "
          f"peak memory {memory_ratio:.2f} x (target <= 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
