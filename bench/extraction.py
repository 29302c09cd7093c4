"""Article extraction benchmark: our extractor and trafilatura side by side, in one run.

Usage: .venv/bin/python bench/extraction.py [--data DIR] [--only PREFIX] [--repeat N]

Reads NAME.html + NAME.txt (ground truth) pairs listed in DIR/index.json (default: the shared
data folder beside the repository) and prints, per page, per source group (the name's prefix
before the first "-") and overall, bag-of-words token precision, recall and F1 against the
ground truth, pages per second for each extractor with the slope of time against page size,
date accuracy (exact calendar date) where the index knows the publication date, and which of
our methods produced each article. Trafilatura is a benchmark-only extra
(`pip install -e .[bench]`); it is never imported by `ingest/`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:  # run as a script: make `ingest` importable
    sys.path.insert(0, str(_REPO))

import trafilatura  # noqa: E402
from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from ingest.dedupe.normalize import normalize_text  # noqa: E402
from ingest.extract.article import extract_article  # noqa: E402
from ingest.extract.dates import parse_publisher_date  # noqa: E402
from ingest.records import ExtractionHints  # noqa: E402

DEFAULT_DATA = _REPO.parent / "shared" / "data" / "articles"
_TOKEN = re.compile(r"\w+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    title: str
    html: str
    truth: str
    published: date | None


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Run:
    """One extractor's output for every page, and the time its extraction calls took."""

    texts: dict[str, str]
    dates: dict[str, date | None]
    seconds: float
    page_seconds: dict[str, float]  # best of the repetitions, per page
    methods: dict[str, str]  # how each article was found ("" for trafilatura)


def token_scores(extracted: str, truth: str) -> Score:
    """Bag-of-words precision/recall/F1 of lower-case `\\w+` tokens, counted with multiplicity."""
    got = Counter(_TOKEN.findall(extracted.lower()))
    want = Counter(_TOKEN.findall(truth.lower()))
    common = sum((got & want).values())
    if not got or not want:
        same = not got and not want
        return Score(float(same), float(same), float(same))
    precision = common / sum(got.values())
    recall = common / sum(want.values())
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return Score(precision, recall, f1)


def _decoder() -> Callable[[bytes], str]:
    """The pipeline's decoder when it exists, else a simple stand-in (utf-8, meta, cp1252)."""
    try:
        from ingest.fetch.decode import decode_html  # type: ignore[import-not-found]
    except ImportError:
        return _simple_decode
    return lambda body: decode_html(body, None).text


def _simple_decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(body[:4096])
    if match:
        try:
            return body.decode(match.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return body.decode("cp1252", errors="replace")


def load_pages(data: Path, only: str) -> list[Page]:
    decode = _decoder()
    records = json.loads((data / "index.json").read_text(encoding="utf-8"))
    pages = []
    for record in records:
        name = record["name"]
        if only and not name.startswith(only):
            continue
        published = record.get("published")
        pages.append(
            Page(
                name=name,
                url=record.get("url") or "",
                title=record.get("title") or "",
                html=decode((data / f"{name}.html").read_bytes()),
                truth=(data / f"{name}.txt").read_text(encoding="utf-8"),
                published=parse_publisher_date(published) if published else None,
            )
        )
    return pages


def run_ours(pages: list[Page], repeat: int) -> Run:
    texts: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    methods: dict[str, str] = {}
    page_seconds: dict[str, float] = {}
    started = time.perf_counter()
    for _ in range(repeat):
        for page in pages:
            begun = time.perf_counter()
            article = extract_article(page.html, page.url, ExtractionHints(title=page.title))
            _keep_best(page_seconds, page.name, time.perf_counter() - begun)
            texts[page.name] = normalize_text(article.paragraphs)
            dates[page.name] = article.published
            methods[page.name] = str(getattr(article, "method", ""))
    return Run(texts, dates, (time.perf_counter() - started) / repeat, page_seconds, methods)


def run_trafilatura(pages: list[Page], repeat: int) -> Run:
    texts: dict[str, str] = {}
    page_seconds: dict[str, float] = {}
    started = time.perf_counter()
    for _ in range(repeat):
        for page in pages:
            begun = time.perf_counter()
            texts[page.name] = (
                trafilatura.extract(page.html, url=page.url, include_comments=False) or ""
            )
            _keep_best(page_seconds, page.name, time.perf_counter() - begun)
    seconds = (time.perf_counter() - started) / repeat
    # Dates are read in a separate, untimed pass so the timing above is text extraction alone.
    dates: dict[str, date | None] = {}
    for page in pages:
        metadata = trafilatura.extract_metadata(page.html, default_url=page.url)
        found = getattr(metadata, "date", None) if metadata is not None else None
        dates[page.name] = parse_publisher_date(found) if found else None
    return Run(texts, dates, seconds, page_seconds, {page.name: "" for page in pages})


def _keep_best(seconds: dict[str, float], name: str, taken: float) -> None:
    seconds[name] = min(taken, seconds.get(name, taken))


def element_counts(pages: list[Page]) -> dict[str, int]:
    """Elements of each page as lexbor parses it: the size that extraction time should follow."""
    counts: dict[str, int] = {}
    for page in pages:
        root = LexborHTMLParser(page.html).root
        counts[page.name] = sum(1 for _ in root.traverse()) if root is not None else 0
    return counts


def time_slope(sizes: dict[str, int], run: Run) -> tuple[float, float]:
    """(ms per 1,000 elements from a least-squares line of time against size, and the exponent
    b of time ~ size^b fitted on log-log scales: 1.0 is linear, 2.0 quadratic)."""
    names = [name for name in run.page_seconds if sizes.get(name, 0) > 0]
    if len(names) < 2:
        return 0.0, 0.0
    xs = [float(sizes[name]) for name in names]
    ys = [run.page_seconds[name] for name in names]
    slope = _least_squares(xs, ys) * 1e6  # seconds per element -> ms per 1,000 elements
    exponent = _least_squares(
        [math.log(x) for x in xs], [math.log(max(y, 1e-7)) for y in ys]
    )
    return slope, exponent


def _least_squares(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def _date_accuracy(pages: list[Page], run: Run) -> tuple[int, int, int]:
    """(exact, wrong, known): pages with a known date that got it right / got another date."""
    known = [page for page in pages if page.published is not None]
    exact = sum(1 for page in known if run.dates[page.name] == page.published)
    wrong = sum(
        1 for page in known if run.dates[page.name] not in (None, page.published)
    )
    return exact, wrong, len(known)


def _date_cell(page: Page, run: Run) -> str:
    if page.published is None:
        return "-"
    found = run.dates[page.name]
    if found == page.published:
        return "ok"
    return "none" if found is None else f"WRONG {found}"


def group_table(
    pages: list[Page], our_scores: dict[str, Score], their_scores: dict[str, Score]
) -> list[str]:
    """Lines of the per-source-group table: mean F1 and mean (1 - F1) of both, and their ratio."""
    groups: dict[str, list[str]] = {}
    for page in pages:
        groups.setdefault(page.name.split("-", 1)[0], []).append(page.name)
    lines = [
        f"{'group':10} {'pages':>5} {'F1':>6} {'tF1':>6} {'1-F1':>6} {'t1-F1':>6} {'ratio':>6}"
    ]
    for group, names in sorted(groups.items()):
        ours = sum(our_scores[name].f1 for name in names) / len(names)
        theirs = sum(their_scores[name].f1 for name in names) / len(names)
        ratio = (1 - ours) / (1 - theirs) if theirs < 1 else float("inf")
        lines.append(
            f"{group:10} {len(names):5} {ours:6.3f} {theirs:6.3f} {1 - ours:6.3f} "
            f"{1 - theirs:6.3f} {ratio:6.2f}"
        )
    return lines


def report(pages: list[Page], ours: Run, theirs: Run) -> None:
    header = (
        f"{'page':40} {'P':>5} {'R':>5} {'F1':>5} | "
        f"{'tP':>5} {'tR':>5} {'tF1':>5} | date  / t-date"
    )
    print(header)
    print("-" * len(header))
    our_scores: dict[str, Score] = {}
    their_scores: dict[str, Score] = {}
    for page in pages:
        mine = our_scores[page.name] = token_scores(ours.texts[page.name], page.truth)
        other = their_scores[page.name] = token_scores(theirs.texts[page.name], page.truth)
        print(
            f"{page.name[:40]:40} {mine.precision:5.3f} {mine.recall:5.3f} {mine.f1:5.3f} | "
            f"{other.precision:5.3f} {other.recall:5.3f} {other.f1:5.3f} | "
            f"{_date_cell(page, ours)} / {_date_cell(page, theirs)}"
        )
    count = len(pages)
    mean_ours = sum(s.f1 for s in our_scores.values()) / count
    mean_theirs = sum(s.f1 for s in their_scores.values()) / count
    loss_ours, loss_theirs = 1 - mean_ours, 1 - mean_theirs
    loss_ratio = loss_ours / loss_theirs if loss_theirs else float("inf")
    rate_ours = count / ours.seconds if ours.seconds else float("inf")
    rate_theirs = count / theirs.seconds if theirs.seconds else float("inf")
    collapses = [
        name
        for name in our_scores
        if our_scores[name].f1 < 0.5 and their_scores[name].f1 > 0.8
    ]
    exact_ours, wrong_ours, known = _date_accuracy(pages, ours)
    exact_theirs, wrong_theirs, _ = _date_accuracy(pages, theirs)
    share = exact_ours / known if known else 1.0
    worst = sorted(our_scores, key=lambda name: our_scores[name].f1)[:5]

    def mean(scores: dict[str, Score], part: str) -> float:
        return sum(getattr(s, part) for s in scores.values()) / count

    print("-" * len(header))
    print(
        f"{'overall (mean of pages)':40} {mean(our_scores, 'precision'):5.3f} "
        f"{mean(our_scores, 'recall'):5.3f} {mean_ours:5.3f} | "
        f"{mean(their_scores, 'precision'):5.3f} {mean(their_scores, 'recall'):5.3f} "
        f"{mean_theirs:5.3f} |"
    )
    print()
    print("per source group (target: ratio <= 1.00 in every group):")
    for line in group_table(pages, our_scores, their_scores):
        print("  " + line)
    print()
    print(f"pages: {count}")
    print(f"mean F1: ours {mean_ours:.4f} vs trafilatura {mean_theirs:.4f}")
    print(
        f"mean (1-F1): ours {loss_ours:.4f} vs trafilatura {loss_theirs:.4f}, "
        f"ratio {loss_ratio:.2f} (target <= 0.60)"
    )
    print(f"pages where ours < 0.5 while trafilatura > 0.8: {len(collapses)} {collapses}")
    print(
        f"pages/s: ours {rate_ours:.1f} vs trafilatura {rate_theirs:.1f}, "
        f"ratio {rate_ours / rate_theirs:.1f}x (target >= 2x)"
    )
    sizes = element_counts(pages)
    slope_ours, exponent_ours = time_slope(sizes, ours)
    slope_theirs, exponent_theirs = time_slope(sizes, theirs)
    print(
        f"time per page against its elements: ours {slope_ours:.2f} ms per 1,000 elements "
        f"(exponent {exponent_ours:.2f}) vs trafilatura {slope_theirs:.2f} "
        f"(exponent {exponent_theirs:.2f}); exponent 1.0 is linear"
    )
    methods = Counter(ours.methods.values())
    print("our methods: " + ", ".join(f"{m or '?'} {n}" for m, n in sorted(methods.items())))
    print(
        f"date exact: ours {exact_ours}/{known} ({wrong_ours} wrong) vs "
        f"trafilatura {exact_theirs}/{known} ({wrong_theirs} wrong); ours {share:.1%} exact "
        f"(target >= 97%, fewer wrong than trafilatura)"
    )
    print("worst pages (ours): " + ", ".join(f"{n} {our_scores[n].f1:.3f}" for n in worst))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with index.json")
    parser.add_argument("--only", default="", help="only pages whose name starts with this")
    parser.add_argument("--repeat", type=int, default=1, help="timing repetitions")
    args = parser.parse_args(argv)
    pages = load_pages(args.data, args.only)
    if not pages:
        print(f"no pages found in {args.data}", file=sys.stderr)
        return 0
    ours = run_ours(pages, max(1, args.repeat))
    theirs = run_trafilatura(pages, max(1, args.repeat))
    report(pages, ours, theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
