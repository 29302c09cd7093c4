"""The page archive's cost and re-extraction's speed, measured from outside.

Usage:
  .venv/bin/python bench/archive.py cost [--articles 720] [--feeds 12] [--repeat 3]
  .venv/bin/python bench/archive.py reextract [--articles 1200] [--feeds 12]

`cost`: `source-ingest fetch` of the same loopback site (bench/throughput.py's pages, made
unique per copy, near-duplicate detection on) into a fresh corpus, with `[storage] archive` on
and off in turn (on, off, on, off, ...: this shared machine's speed drifts from one minute to
the next, so each pair is compared in the same minutes). Prints articles/s of each run, the
medians, and the archive's bytes per stored article.

`reextract`: one fetch with the archive on stores the corpus (at least 1,000 articles), then
`source-ingest reextract` runs over all of it twice: as stored (every article unchanged: the
read, decode, extract and compare path), and with a `drop` rule added to every feed that
changes every article's text (each one rewritten: file, index row, signature, event).
Articles/s is checked articles over the command's wall time, start-up included.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from bench.throughput import (  # noqa: E402
    _PACKAGES,
    DEFAULT_DATA,
    Site,
    _stored,
    _write_bench_config,
    load_sources,
    make_pages,
    publish,
    run_measured,
    serve,
)
from tests.cli_runner import command, environment  # noqa: E402


def _config(work: Path, site: Site, feed_paths: list[str], concurrency: int,
            archive: bool) -> Path:
    config = _write_bench_config(work, site, feed_paths, concurrency, "")
    text = config.read_text(encoding="utf-8").replace(
        "[storage]\n", f"[storage]\narchive = {'true' if archive else 'false'}\n", 1)
    config.write_text(text, encoding="utf-8")
    subprocess.run(command("--config", str(config), "db", "upgrade"), cwd=work,
                   env=environment(), check=True, capture_output=True)
    return config


def _archive_bytes(work: Path) -> int:
    folder = work / "archive"
    return sum(path.stat().st_size for path in folder.iterdir()) if folder.is_dir() else 0


def cost(args: argparse.Namespace) -> int:
    pages = make_pages(load_sources(args.data), args.articles)
    site = Site()
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    per_article: list[float] = []
    with serve(site):
        feed_paths = publish(site, pages, args.feeds)
        for attempt in range(args.repeat):
            for archive in (True, False):
                with tempfile.TemporaryDirectory() as scratch:
                    work = Path(scratch)
                    config = _config(work, site, feed_paths, args.concurrency, archive)
                    measured = run_measured(["--config", str(config), "fetch"], work)
                    if measured.returncode != 0:
                        print(measured.stderr[-3000:], file=sys.stderr)
                        return 1
                    stored = _stored(measured.stdout)
                    rate = stored / measured.wall
                    rates[archive].append(rate)
                    cpu[archive].append(measured.cpu / max(stored, 1) * 1000)
                    extra = ""
                    if archive:
                        size = _archive_bytes(work)
                        per_article.append(size / max(stored, 1))
                        extra = f"  archive {size / 1e6:.1f} MB, {size / max(stored, 1):,.0f} " \
                                f"bytes/article"
                    print(f"run {attempt + 1} archive {'on ' if archive else 'off'}: "
                          f"{stored} stored in {measured.wall:.2f} s = {rate:.1f} articles/s, "
                          f"CPU {measured.cpu / max(stored, 1) * 1000:.1f} ms/article{extra}",
                          flush=True)
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"\nmedian articles/s: archive on {on:.1f}, off {off:.1f} ({(on - off) / off:+.1%}); "
          f"archive bytes per article {statistics.median(per_article):,.0f}")
    # CPU per article drifts less than wall time on a shared machine.
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"median CPU ms/article (fetch process and workers): archive on {cpu_on:.1f}, "
          f"off {cpu_off:.1f} ({cpu_on - cpu_off:+.1f} ms)")
    return 0


def reextract(args: argparse.Namespace) -> int:
    pages = make_pages(load_sources(args.data), args.articles)
    site = Site()
    with serve(site), tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        feed_paths = publish(site, pages, args.feeds)
        config = _config(work, site, feed_paths, args.concurrency, True)
        fetched = run_measured(["--config", str(config), "fetch"], work)
        if fetched.returncode != 0:
            print(fetched.stderr[-3000:], file=sys.stderr)
            return 1
        stored = _stored(fetched.stdout)
        print(f"corpus: {stored} articles stored and archived "
              f"({_archive_bytes(work) / 1e6:.1f} MB of WARC)")
        unchanged = _timed_reextract(config, work)
        print(f"reextract, nothing changed:   {unchanged[1]}")
        print(f"  {stored} articles in {unchanged[0]:.2f} s = {stored / unchanged[0]:.1f} "
              "articles/s")
        # A rule that changes every article: drop each page's first paragraph.
        text = config.read_text(encoding="utf-8").replace(
            "interval_seconds = 1\n",
            'interval_seconds = 1\n[feeds.extraction]\ndrop = ["p:first-of-type"]\n')
        config.write_text(text, encoding="utf-8")
        changed = _timed_reextract(config, work)
        print(f"reextract, a drop rule added: {changed[1]}")
        print(f"  {stored} articles in {changed[0]:.2f} s = {stored / changed[0]:.1f} "
              "articles/s")
        verify = subprocess.run(command("--config", str(config), "verify"), cwd=work,
                                env=environment(), capture_output=True, text=True)
        print(f"verify after the rewrites: {verify.stdout.strip().splitlines()[-1]}")
    return 0


def _timed_reextract(config: Path, work: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command("--config", str(config), "reextract"), cwd=work,
                            env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    counts = [line.strip() for line in result.stdout.splitlines()[1:6]]
    return seconds, "; ".join(" ".join(line.split()) for line in counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--concurrency", type=int, default=32)
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("cost", help="articles/s with the archive on and off, bytes/article")
    one.add_argument("--articles", type=int, default=720)
    one.add_argument("--feeds", type=int, default=12)
    one.add_argument("--repeat", type=int, default=3, help="pairs of fetches (on, off)")
    two = modes.add_parser("reextract", help="re-extraction articles/s over the archive")
    two.add_argument("--articles", type=int, default=1200)
    two.add_argument("--feeds", type=int, default=12)
    args = parser.parse_args(argv)
    for package in _PACKAGES:
        compileall.compile_dir(_REPO / package, quiet=1)
    return cost(args) if args.mode == "cost" else reextract(args)


if __name__ == "__main__":
    sys.exit(main())
