"""Backfill from a loopback sitemap: `source-ingest backfill NAME` over 5,000 URLs, measured
from outside (issue 18).

Usage:
  .venv/bin/python bench/backfill.py [--urls 5000] [--hosts 5] [--delay 0.1] [--resume]

One sitemap source: an index on 127.0.0.1 lists one gzip child per article host; the article
hosts are 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8 to loopback), each a distinct
host to the per-host pacing, each serving URLS / HOSTS invented story pages (real page
furniture, prose unique per page: no duplicate, no near duplicate). Every host's robots.txt
disallows one page, which must get no request.

Figures: wall time of the backfill subprocess (start-up included), articles stored (from the
summary and the corpus folder), the pace per host from the servers' own request logs (median
and shortest gap between two page requests to one host, requests per second), and whether
any page was requested twice. `--resume`: SIGKILL the backfill half-way, run it again, and
report both parts and duplicates (a page fetched before the kill but not yet stored may be
fetched again; none may be stored twice).
"""

from __future__ import annotations

import argparse
import gzip
import html
import itertools
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))


from tests.cli_runner import command, environment, write_config  # noqa: E402
from tests.faultserver import invented_story  # noqa: E402
from tests.loopback import LoopbackSite, Route, serve_site  # noqa: E402
from tests.newsfixtures import news_page  # noqa: E402


def _urlset(urls: list[str]) -> bytes:
    items = "".join(f"<url><loc>{html.escape(url)}</loc><lastmod>2025-01-01</lastmod></url>"
                    for url in urls)
    return gzip.compress(('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                          f'"http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>')
                         .encode())


def _serve(stack: ExitStack, urls: int, hosts: int) -> tuple[LoopbackSite, list[LoopbackSite]]:
    index_site = stack.enter_context(serve_site(LoopbackSite(host="127.0.0.1")))
    article_sites = [stack.enter_context(serve_site(LoopbackSite(host=f"127.0.0.{2 + h}")))
                     for h in range(hosts)]
    children = []
    for h, site in enumerate(article_sites):
        site.set("/robots.txt", Route(b"User-agent: *\nDisallow: /private/\n",
                                      content_type="text/plain"))
        paths = [f"/news/{h}-{n}.html" for n in range(urls // hosts)]
        for path in paths:
            story = invented_story(f"backfill-{h}-{path}")
            site.set(path, Route(news_page(story).encode()))
        site.set("/private/secret.html", Route(b"<p>secret</p>"))
        listed = [site.url(path) for path in paths] + [site.url("/private/secret.html")]
        index_site.set(f"/sitemap-{h}.xml.gz", Route(_urlset(listed),
                                                     content_type="application/gzip"))
        children.append(index_site.url(f"/sitemap-{h}.xml.gz"))
    items = "".join(f"<sitemap><loc>{url}</loc><lastmod>2025-01-01</lastmod></sitemap>"
                    for url in children)
    index_site.set("/sitemap.xml", Route(
        ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/'
         f'0.9">{items}</sitemapindex>').encode(), content_type="application/xml"))
    return index_site, article_sites


def _backfill(config: Path, work: Path, kill_after: int | None = None) -> tuple[float, str]:
    started = time.monotonic()
    process = subprocess.Popen(command("--config", str(config), "backfill", "archive"),
                               cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=environment())
    if kill_after is not None:
        while len(list((work / "corpus").glob("*.txt"))) < kill_after:
            time.sleep(0.2)
            if process.poll() is not None:
                break
        process.send_signal(signal.SIGKILL)
    out, _ = process.communicate()
    return time.monotonic() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1, help="per_host_delay_seconds")
    parser.add_argument("--resume", action="store_true", help="SIGKILL half-way, then resume")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        index_site, article_sites = _serve(stack, args.urls, args.hosts)
        config = write_config(
            work / "config.toml", database_url=f"sqlite:///{work / 'index.sqlite3'}",
            corpus_dir=work / "corpus", feeds=[],
            fetch={"per_host_delay_seconds": args.delay, "max_concurrency": 32,
                   "per_host_concurrency": 2},
            extra=f'[[feeds]]\nname = "archive"\nkind = "sitemap"\n'
                  f'url = "{index_site.url("/sitemap.xml")}"\n')
        parts = []
        if args.resume:
            parts.append(_backfill(config, work, kill_after=args.urls // 2))
        parts.append(_backfill(config, work))
        stored = len(list((work / "corpus").glob("*.txt")))
        texts = [path.read_text(encoding="utf-8") for path in (work / "corpus").glob("*.txt")]
        print(f"URLs listed {args.urls} on {args.hosts} hosts, per_host_delay_seconds "
              f"{args.delay}, per_host_concurrency 2")
        for number, (seconds, out) in enumerate(parts):
            summary = [line.strip() for line in out.splitlines() if "stored" in line
                       or "run " in line]
            print(f"part {number + 1}: {seconds:.1f} s wall; {'; '.join(summary) or 'killed'}")
        print(f"stored {stored} files, {len(set(texts))} distinct texts")
        twice = 0
        for site in article_sites:
            pages = [(at, path) for at, path in site.log if path.startswith("/news/")]
            hits = {}
            for _, path in pages:
                hits[path] = hits.get(path, 0) + 1
            twice += sum(1 for count in hits.values() if count > 1)
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(pages)]
            span = pages[-1][0] - pages[0][0] if len(pages) > 1 else 0.0
            print(f"  host {site.host}: {len(pages)} page requests, "
                  f"{len(pages) / span if span else 0:.2f}/s, gap median "
                  f"{statistics.median(gaps) if gaps else 0:.3f} s, min "
                  f"{min(gaps) if gaps else 0:.3f} s; robots.txt "
                  f"{site.hit_count('/robots.txt')}, disallowed page "
                  f"{site.hit_count('/private/secret.html')}")
        print(f"pages requested more than once: {twice}; sitemap files requested: "
              f"{sum(index_site.hits.values())}")


if __name__ == "__main__":
    main()
