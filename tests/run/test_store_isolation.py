"""One bad article fails alone: a store batch never fails for its neighbour, and what a page
or its JSON-LD carries is made storable before it is hashed (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import FeedSettings
from ingest.records import Article, EntryOutcome, FeedEntry, content_hash
from ingest.run.page_work import extract_page
from ingest.run.store import Storage, StoreRequest, store_batch
from storage.corpus import read_corpus_file
from storage.database import utcnow
from storage.index import CorpusIndex, open_index
from storage.verify import verify_corpus

FEED = FeedSettings(name="world", url="https://news.example/world.xml", interval_seconds=60)
PROSE = ("The council met on {n} and approved the budget after a debate that went on well into "
         "the night, with members arguing over road repairs, school meals and the library.")


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    opened = open_index(database_url)
    opened.sync_feeds([FEED], utcnow())
    yield opened
    opened.close()


def _request(key: str, title: str, text: str, url: str | None = None) -> StoreRequest:
    article = Article(feed_name="world", url=url or f"https://news.example/{key}",
                      title=title, text=text, published=None, content_hash=content_hash(text))
    return StoreRequest(feed="world", entry_key=key, entry_url=article.url, article=article,
                        signature=None)


@pytest.mark.parametrize(("bad_title", "bad_url"), [
    ("lone \ud800 surrogate", None),
    ("nul \x00 title", None),
    ("fine", "https://news.example/\udc80"),
    ("x" * 10, "https://news.example/\x00"),
])
def test_one_unstorable_article_fails_alone_and_its_neighbours_are_stored(
        index: CorpusIndex, tmp_path: Path, database_url: str, bad_title: str,
        bad_url: str | None) -> None:
    if database_url.startswith("sqlite") and "\x00" in bad_title + (bad_url or ""):
        pytest.skip("SQLite stores NUL in text")
    corpus = tmp_path / "seeds"
    storage = Storage(index=index, corpus_dir=corpus, writer="host-1-aa",
                      near_duplicates=False, near_duplicate_threshold=0.8,
                      store_near_duplicates=False)
    requests = [_request("a", "A", PROSE.format(n="Monday")),
                _request("bad", bad_title, PROSE.format(n="Tuesday"), bad_url),
                _request("c", "C", PROSE.format(n="Wednesday"))]

    results = store_batch(storage, requests)

    assert results[0] == EntryOutcome.STORED and results[2] == EntryOutcome.STORED
    assert isinstance(results[1], Exception)
    texts = sorted(read_corpus_file(path).text for path in corpus.glob("*.txt"))
    assert texts == sorted([PROSE.format(n="Monday"), PROSE.format(n="Wednesday")])
    assert verify_corpus(index, corpus).ok


@pytest.mark.parametrize("page", [
    "<html><head><title>T\x00itle</title></head><body><article><p>{p}</p><p>{p}\x00</p>"
    "</article></body></html>",
    '<html><head><script type="application/ld+json">{ld}</script></head><body><article>'
    "<p>{p}</p><p>{p}</p></article></body></html>",
    "<html><body><article><p>{p}&#xD800;</p><p>{p}&#0;</p></article></body></html>",
])
def test_a_page_with_nul_or_lone_surrogates_gives_a_storable_article(page: str) -> None:
    ld = json.dumps({"@type": "NewsArticle", "headline": "Head \\ud800 line",
                     "articleBody": "Body \\udfff text. " * 40}).replace("\\\\", "\\")
    html = page.format(p=(PROSE.format(n="Friday") + " ") * 2, ld=ld)
    entry = FeedEntry(feed_name="world", key="k", url="https://news.example/k", title="",
                      summary_html="", content_html="", published=None)

    extraction = extract_page(FEED, entry, html.encode("utf-8", "surrogatepass"), "utf-8",
                              "https://news.example/k", near_duplicates=False)

    assert extraction.article is not None
    for value in (extraction.article.title, extraction.article.text):
        value.encode("utf-8")
        assert "\x00" not in value
