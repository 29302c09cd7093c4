"""What hostile input costs, and the bounds chosen against it (issue 15).

    .venv/bin/python bench/hostile.py                 # all measurements (a few minutes)
    .venv/bin/python bench/hostile.py --skip-unbounded

1. Real pages (../shared/data/articles-dev and articles): tags ("<") and "=" per page, the
   slowest extraction and the median, peak RSS of one process extracting them all. These set
   the bounds: `max_page_tags`, `extraction_seconds`, `worker_memory_mb` ([limits]).
2. Hostile pages without the bounds: each page's `extract_page` in a fresh process without
   the tag bound, its CPU time and peak RSS (cut at `--cap-seconds`).
3. The same pages through `ExtractionPool` with the default [limits]: the outcome (failure
   kind) and the wall time until it is known.
4. Regular expressions that met input, on adversarial strings of 20,000-300,000 characters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import FeedSettings, LimitSettings  # noqa: E402
from ingest.records import FeedEntry, IngestFailure  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FEED = FeedSettings(name="bench", url="https://bench.example/feed.xml", interval_seconds=900)
URL = "https://bench.example/page"


def _entry() -> FeedEntry:
    return FeedEntry(feed_name="bench", key=URL, url=URL, title="", summary_html="",
                     content_html="", published=None)


def hostile_pages() -> dict[str, bytes]:
    return {
        "1M tiny paragraphs (8 MB)": b"<html><body>" + b"<p>a</p>" * 1_000_000 + b"</body>",
        "100k tiny paragraphs": b"<html><body>" + b"<p>a</p>" * 100_000 + b"</body>",
        "250k tiny paragraphs": b"<html><body>" + b"<p>a</p>" * 250_000 + b"</body>",
        "200k nested divs": b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000,
        "30k nested divs": b"<html><body>" + b"<div>" * 30_000 + b"x" + b"</div>" * 30_000,
        "300k attributes, one element": b"<html><body><div " + b" ".join(
            b"a%d=1" % i for i in range(300_000)) + b">x</div>",
        "30k attributes, one element": b"<html><body><div " + b" ".join(
            b"a%d=1" % i for i in range(30_000)) + b">x</div>",
        "9 MB single line": b"<html><body><p>" + b"word " * 1_800_000 + b"</p></body>",
    }


def real_pages() -> None:
    from ingest.run.page_work import extract_page

    pages = sorted((SHARED / "articles-dev").glob("*.html")) + sorted(
        (SHARED / "articles").glob("*.html"))
    tags, equals, times = [], [], []
    for page in pages:
        body = page.read_bytes()
        tags.append(body.count(b"<"))
        equals.append(body.count(b"="))
        started = time.perf_counter()
        extract_page(FEED, _entry(), body, None, URL, True)
        times.append((time.perf_counter() - started, page.name))
    tags.sort()
    equals.sort()
    times.sort()
    print(f"real pages: {len(pages)}")
    print(f"  tags   p50 {tags[len(tags) // 2]}  p99 {tags[int(len(tags) * .99)]}  "
          f"max {tags[-1]}")
    print(f"  '='    p50 {equals[len(equals) // 2]}  p99 {equals[int(len(equals) * .99)]}  "
          f"max {equals[-1]}")
    print(f"  extraction  median {statistics.median(t for t, _ in times) * 1000:.1f} ms  "
          f"slowest {times[-1][0] * 1000:.0f} ms ({times[-1][1]})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of this process after all of them: {peak:.0f} MB")


_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from bench.hostile import FEED, URL, _entry
from ingest.run.page_work import extract_page
import ingest.extract.article, bs4
body = open({path!r}, "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.process_time()
result = extract_page(FEED, _entry(), body, "utf-8", URL, True, max_tags=10**9)
print(f"{{time.process_time() - started:.2f}} "
      f"{{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} {{base / 1024:.0f}}")
"""


def unbounded(cap_seconds: float) -> None:
    print(f"hostile pages, no tag bound, fresh process each (cut at {cap_seconds:g} s):")
    with tempfile.TemporaryDirectory() as folder:
        for name, body in hostile_pages().items():
            path = Path(folder) / "page.html"
            path.write_bytes(body)
            try:
                done = subprocess.run([sys.executable, "-c", _CHILD.format(
                    root=str(ROOT), path=str(path))], capture_output=True, text=True,
                    timeout=cap_seconds, check=True)
                cpu, peak, base = done.stdout.split()
                print(f"  {name:32} {float(cpu):7.2f} s CPU  peak {peak:>5} MB "
                      f"(start {base} MB)")
            except subprocess.TimeoutExpired:
                print(f"  {name:32} over {cap_seconds:g} s")


def bounded() -> None:
    from ingest.run.worker_pool import ExtractionPool

    limits = LimitSettings()
    print(f"the same pages through ExtractionPool with the default [limits] ({limits}):")

    async def each() -> None:
        pool = ExtractionPool(limits=limits)
        try:
            for name, body in hostile_pages().items():
                started = time.monotonic()
                try:
                    result = await pool.extract(FEED, _entry(), body, "utf-8", URL, True)
                    outcome = result.failure[0].value if result.failure else "article"
                except IngestFailure as failure:
                    outcome = failure.kind.value
                print(f"  {name:32} {outcome:20} after {time.monotonic() - started:5.1f} s")
        finally:
            pool.close()

    asyncio.run(each())


def expressions() -> None:
    import ingest.console.logs as logs
    import ingest.extract.density as density
    import ingest.extract.metadata as metadata
    import ingest.extract.notes as notes
    from ingest.sources.feed import parse_feed

    n = 20_000
    cases = [
        ("logs redact_secrets, 'a.' x 150,000 + '@'", lambda: logs.redact_secrets(
            "a." * 150_000 + "@")),
        ("metadata _CDATA, 20,000 spaces", lambda: metadata._CDATA.sub("", " " * n + "x")),
        ("metadata _TITLE_SEPARATOR, 20,000 spaces", lambda: metadata._TITLE_SEPARATOR.split(
            " " * n + "x")),
        ("density _TITLE_SEPARATOR, 20,000 spaces", lambda: density._TITLE_SEPARATOR.split(
            " " * n + "x")),
        ("notes _KIND_MARK at every start, 20,000 spaces", lambda: [
            notes._KIND_MARK.match(" " * n, i) for i in range(0, n, 1)]),
        ("feed sniffer, '<!---->' x 290 + '<p>'", lambda: _not_a_feed(parse_feed)),
    ]
    print("regular expressions on adversarial input:")
    for name, call in cases:
        started = time.perf_counter()
        call()
        print(f"  {name:50} {time.perf_counter() - started:7.3f} s")


def _not_a_feed(parse_feed: object) -> None:
    with contextlib.suppress(IngestFailure):
        parse_feed(b"<!---->" * 290 + b"<p>", feed_name="b",  # type: ignore[operator]
                   feed_url="https://bench.example/feed.xml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-unbounded", action="store_true")
    parser.add_argument("--cap-seconds", type=float, default=120.0)
    args = parser.parse_args()
    real_pages()
    if not args.skip_unbounded:
        unbounded(args.cap_seconds)
    bounded()
    expressions()


if __name__ == "__main__":
    main()
