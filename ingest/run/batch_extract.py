"""Extract every saved page of a folder in one process, as the pipeline would store each.

`source-ingest extract --input-dir DIR --output-dir OUT` runs this: each `NAME.html` of DIR
is decoded, extracted and normalised exactly as a fetched page is (`build_article`), and
`OUT/NAME.txt` gets the corpus-file text the pipeline would write for it, date header
included. When DIR has an `index.json` (a list of records with `name`, `url` and `title`,
the layout of the shared evaluation data), each page's URL and title are used as a feed
entry's would be. Users check a site's extraction over many saved pages this way.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from config.settings import FeedSettings
from ingest.fetch.decode import decode_html
from ingest.records import FeedEntry, IngestFailure
from ingest.run.page_work import build_article
from storage.corpus import format_corpus_text


@dataclass(frozen=True)
class _Listed:
    url: str
    title: str


@dataclass(frozen=True)
class BatchSummary:
    """What a batch extraction did: pages read, those that gave no text, time taken."""

    pages: int
    without_text: tuple[str, ...]  # names of the pages that gave no article text
    seconds: float
    methods: tuple[tuple[str, int], ...]  # extraction method and how many pages it gave

    def lines(self) -> list[str]:
        lines = [
            f"pages: {self.pages}",
            f"pages with no text: {len(self.without_text)}",
            f"seconds: {self.seconds:.2f}",
        ]
        if self.methods:
            lines.append("methods: " + ", ".join(f"{m} {n}" for m, n in self.methods))
        lines.extend(f"no text: {name}" for name in self.without_text)
        return lines


def extract_directory(input_dir: Path, output_dir: Path, feed: FeedSettings) -> BatchSummary:
    """Extract every NAME.html of `input_dir` into `output_dir`/NAME.txt."""
    listed = _read_index(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    without_text: list[str] = []
    methods: Counter[str] = Counter()
    pages = sorted(input_dir.glob("*.html"))
    for path in pages:
        name = path.stem
        known = listed.get(name)
        url = known.url if known and known.url else path.resolve().as_uri()
        entry = FeedEntry(feed_name=feed.name, key=url, url=url,
                          title=known.title if known else "", summary_html="",
                          content_html="", published=None)
        html = decode_html(path.read_bytes(), None).text
        try:
            article = build_article(feed, entry, html, url)
        except IngestFailure:
            without_text.append(name)
            continue
        methods[article.method.value] += 1
        (output_dir / f"{name}.txt").write_text(
            format_corpus_text(article.published, article.text), encoding="utf-8"
        )
    return BatchSummary(
        pages=len(pages),
        without_text=tuple(without_text),
        seconds=time.perf_counter() - started,
        methods=tuple(sorted(methods.items())),
    )


def _read_index(input_dir: Path) -> dict[str, _Listed]:
    """URL and title of each page by name, from `index.json` when the folder has one."""
    path = input_dir / "index.json"
    if not path.exists():
        return {}
    records = json.loads(path.read_text(encoding="utf-8"))
    listed: dict[str, _Listed] = {}
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            listed[record["name"]] = _Listed(
                url=str(record.get("url") or ""), title=str(record.get("title") or "")
            )
    return listed
