"""End-to-end corpus quality: real saved pages behind a generated feed, ingested for real.

Usage: .venv/bin/python bench/ingest_quality.py [--data DIR] [--feed-dates]

Serves every NAME.html of DIR (default ../shared/data/articles) from a loopback HTTP server,
behind a generated RSS feed (titles and links; no dates unless --feed-dates, so dates must come
from the pages), runs `source-ingest fetch` as a subprocess against a temporary SQLite index and
corpus folder, then scores each stored file against NAME.txt: bag-of-words token F1 (as
bench/extraction.py) and exact publication date where the index knows it.
"""

from __future__ import annotations

import argparse
import html
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from bench.extraction import token_scores  # noqa: E402
from ingest.extract.dates import parse_publisher_date  # noqa: E402
from storage.corpus import read_corpus_file  # noqa: E402
from tests.cli_runner import command, environment, write_config  # noqa: E402
from tests.loopback import Route, serve_site  # noqa: E402

DEFAULT_DATA = _REPO.parent / "shared" / "data" / "articles"


def _feed(items: list[tuple[str, str, str, str]]) -> bytes:
    rendered = "\n".join(
        f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        f"<guid isPermaLink=\"false\">{html.escape(guid)}</guid>{extra}</item>"
        for guid, title, link, extra in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>bench</title><link>http://bench.invalid/</link><description>b</description>"
            f"{rendered}</channel></rss>").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--feed-dates", action="store_true",
                        help="put the known dates in the feed (pubDate)")
    args = parser.parse_args(argv)
    records = json.loads((args.data / "index.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch, serve_site() as site:
        work = Path(scratch)
        items = []
        for record in records:
            name = record["name"]
            body = (args.data / f"{name}.html").read_bytes()
            charset = record.get("html_declared_charset")
            content_type = f"text/html; charset={charset}" if charset else "text/html"
            site.set(f"/articles/{name}.html", Route(body, content_type=content_type))
            extra = ""
            known = parse_publisher_date(record["published"]) if record.get("published") \
                else None
            if args.feed_dates and known:
                extra = f"<pubDate>{known.strftime('%a, %d %b %Y')} 12:00:00 +0000</pubDate>"
            items.append((name, record.get("title") or "", site.url(f"/articles/{name}.html"),
                          extra))
        site.set("/feed.xml", Route(_feed(items), content_type="application/rss+xml"))
        corpus = work / "seeds"
        database = work / "index.sqlite3"
        config = write_config(work / "config.toml", database_url=f"sqlite:///{database}",
                              corpus_dir=corpus, feeds=[("bench", site.url("/feed.xml"))],
                              extra="[dedupe]\nnear_duplicates = false\n")
        started = time.perf_counter()
        result = subprocess.run(command("--config", str(config), "fetch"), cwd=work,
                                capture_output=True, text=True, env=environment(),
                                timeout=600)
        seconds = time.perf_counter() - started
        print(result.stdout)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            return 1
        with sqlite3.connect(database) as conn:
            by_url = dict(conn.execute("SELECT url, file_name FROM articles"))
        total_f1 = 0.0
        dated = right = 0
        print(f"{'page':40} {'F1':>6}  date")
        for record in records:
            name = record["name"]
            file_name = by_url.get(site.url(f"/articles/{name}.html"))
            truth = (args.data / f"{name}.txt").read_text(encoding="utf-8")
            text, published = "", None
            if file_name:
                document = read_corpus_file(corpus / file_name)
                text, published = document.text, document.published
            f1 = token_scores(text, truth).f1
            total_f1 += f1
            known = parse_publisher_date(record["published"]) if record.get("published") \
                else None
            cell = "-"
            if known is not None:
                dated += 1
                right += published == known
                cell = "ok" if published == known else f"got {published} want {known}"
            print(f"{name[:40]:40} {f1:6.3f}  {cell}{'' if file_name else '  (not stored)'}")
        print(f"\npages {len(records)}  stored {len(by_url)}  mean token F1 "
              f"{total_f1 / len(records):.4f}  dates right {right}/{dated}  "
              f"fetch wall time {seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
