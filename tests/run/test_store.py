"""The store stage, a batch at a time: the same outcomes as one article at a time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import FeedSettings
from ingest.dedupe.near_duplicates import text_signature
from ingest.records import Article, EntryOutcome, FailureKind, IngestFailure, content_hash
from ingest.run.store import Storage, StoreRequest, store_batch
from ingest.run.store_lane import StoreLane
from storage.articles import StoreLookup
from storage.corpus import read_corpus_file
from storage.database import utcnow
from storage.index import CorpusIndex, open_index
from storage.schema import entries
from storage.verify import verify_corpus

FEED = FeedSettings(name="world", url="https://news.example/world.xml", interval_seconds=60)
WRITER = "host-1-aa"

WIRE = ("The regional council approved the new budget on Tuesday after a long debate that "
        "lasted well into the night, with members arguing over road repairs, school meals "
        "and the cost of the new library. The final vote was eleven to four, and the mayor "
        "said the money would reach the districts before the end of the year.")
OTHER = ("A storm closed the mountain pass for the third time this winter, and the highway "
         "authority said snow ploughs would work through the weekend. Drivers were told to "
         "use the coastal road, which adds about an hour to the journey between the two "
         "valleys, and the bus company cancelled its evening services.")


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    opened = open_index(database_url)
    opened.sync_feeds([FEED], utcnow())
    yield opened
    opened.close()


def _storage(index: CorpusIndex, corpus: Path) -> Storage:
    return Storage(index=index, corpus_dir=corpus, writer=WRITER, near_duplicates=True,
                   near_duplicate_threshold=0.8, store_near_duplicates=False)


def _request(key: str, text: str) -> StoreRequest:
    article = Article(feed_name="world", url=f"https://news.example/{key}", title=key,
                      text=text, published=None, content_hash=content_hash(text))
    return StoreRequest(feed="world", entry_key=key, entry_url=article.url, article=article,
                        signature=text_signature(text))


def _entry_states(index: CorpusIndex) -> dict[str, tuple[str, int | None]]:
    with index._transaction() as conn:
        rows = conn.execute(select(entries.c.entry_key, entries.c.status,
                                   entries.c.article_sequence))
        return {row.entry_key: (row.status, row.article_sequence) for row in rows}


def test_a_batch_dedupes_against_itself_as_one_article_at_a_time_would(
        index: CorpusIndex, tmp_path: Path) -> None:
    corpus = tmp_path / "seeds"
    republished = WIRE.replace("on Tuesday", "on Tuesday evening") + " Reporting by staff."
    requests = [_request("a", WIRE), _request("a-again", WIRE),
                _request("a-republished", republished), _request("b", OTHER)]

    results = store_batch(_storage(index, corpus), requests)

    assert results == ["stored", "duplicate", "near_duplicate", "stored"]
    files = sorted(corpus.glob("*.txt"))
    assert [read_corpus_file(path).text for path in files] == [WIRE, OTHER]
    first = read_corpus_file(files[0]).sequence
    states = _entry_states(index)
    assert states == {"a": ("stored", first), "a-again": ("duplicate", first),
                      "a-republished": ("near_duplicate", first),
                      "b": ("stored", first + 1)}
    assert verify_corpus(index, corpus).ok


def test_a_later_batch_finds_the_articles_already_stored(index: CorpusIndex,
                                                         tmp_path: Path) -> None:
    storage = _storage(index, tmp_path / "seeds")
    assert store_batch(storage, [_request("a", WIRE)]) == ["stored"]

    assert store_batch(storage, [_request("b", OTHER), _request("a-elsewhere", WIRE)]) == [
        "stored", "duplicate"]
    assert len(list((tmp_path / "seeds").glob("*.txt"))) == 2


def test_a_hash_taken_by_another_process_meanwhile_is_settled_one_by_one(
        index: CorpusIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _storage(index, tmp_path / "seeds")
    other = Storage(index=index, corpus_dir=tmp_path / "seeds", writer="host-2-bb",
                    near_duplicates=True, near_duplicate_threshold=0.8,
                    store_near_duplicates=False)
    assert store_batch(other, [_request("theirs", WIRE)]) == ["stored"]
    # As if the other process stored it between this batch's lookup and its reservation.
    monkeypatch.setattr(index, "store_lookup",
                        lambda hashes, bands: StoreLookup(holders={}, banded={}))

    results = store_batch(storage, [_request("b", OTHER), _request("mine", WIRE)])

    assert results == ["stored", "duplicate"]
    assert sorted(read_corpus_file(p).text for p in (tmp_path / "seeds").glob("*.txt")) == \
        sorted([WIRE, OTHER])
    assert verify_corpus(index, tmp_path / "seeds").ok


def test_a_file_that_cannot_be_written_fails_that_article_only(
        index: CorpusIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.run.store as store

    original = store.write_corpus_file

    def refuse_the_wire_story(corpus_dir: Path, file_name: str, published: object,
                              text: str, writer: str, **kwargs: object) -> Path:
        if text == WIRE:
            raise OSError(28, "No space left on device")
        return original(corpus_dir, file_name, published, text, writer,  # type: ignore[arg-type]
                        **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_corpus_file", refuse_the_wire_story)

    results = store_batch(_storage(index, tmp_path / "seeds"),
                          [_request("a", WIRE), _request("a-again", WIRE), _request("b", OTHER)])

    assert isinstance(results[0], IngestFailure)
    assert results[0].kind is FailureKind.STORAGE_ERROR
    assert isinstance(results[1], IngestFailure) and results[2] == "stored"
    assert [read_corpus_file(p).text for p in (tmp_path / "seeds").glob("*.txt")] == [OTHER]
    assert index.writing_articles() == []  # the failed reservation is gone, not left behind
    assert verify_corpus(index, tmp_path / "seeds").ok


def test_the_lane_gathers_waiting_requests_into_batches_and_answers_each() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def store(requests: list[int]) -> list[str | Exception]:
        release.wait(5)
        batches.append(requests)
        return [IngestFailure(FailureKind.STORAGE_ERROR, "odd") if n % 2 else f"stored {n}"
                for n in requests]

    async def scenario() -> list[object]:
        lane: StoreLane[int] = StoreLane(store, max_batch=8, gather_seconds=0.05)
        waiters = [asyncio.ensure_future(lane.store(n, late=lambda outcome: None))
                   for n in range(20)]
        await asyncio.sleep(0.2)
        release.set()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        await lane.drain()
        lane.close()
        return results

    results = asyncio.run(scenario())

    assert [n for batch in batches for n in batch] == list(range(20))
    assert len(batches) <= 4 and max(len(batch) for batch in batches) == 8
    for n, result in enumerate(results):
        if n % 2:
            assert isinstance(result, IngestFailure) and result.kind is FailureKind.STORAGE_ERROR
        else:
            assert result == f"stored {n}"


def test_a_stopped_waiter_still_has_its_outcome_counted() -> None:
    counted: list[str] = []
    started = threading.Event()
    release = threading.Event()

    def store(requests: list[int]) -> list[EntryOutcome | Exception]:
        started.set()
        release.wait(5)
        return [EntryOutcome.STORED] * len(requests)

    async def scenario() -> None:
        lane: StoreLane[int] = StoreLane(store, gather_seconds=0.0)
        waiter = asyncio.ensure_future(lane.store(1, late=counted.append))
        while not started.is_set():
            await asyncio.sleep(0.01)
        waiter.cancel()
        release.set()
        await lane.drain()
        lane.close()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(scenario())

    assert counted == ["stored"]


def test_a_failed_write_does_not_use_up_a_sequence_number(
        index: CorpusIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.run.store as store

    original = store.write_corpus_file
    broken = {"on": True}

    def full_disk(corpus_dir: Path, file_name: str, published: object, text: str,
                  writer: str, **kwargs: object) -> Path:
        if broken["on"]:
            raise OSError(28, "No space left on device")
        return original(corpus_dir, file_name, published, text, writer,  # type: ignore[arg-type]
                        **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_corpus_file", full_disk)
    storage = _storage(index, tmp_path / "seeds")
    failed = store_batch(storage, [_request("a", WIRE), _request("b", OTHER)])
    assert all(isinstance(result, IngestFailure) for result in failed)
    broken["on"] = False
    assert store_batch(storage, [_request("a", WIRE), _request("b", OTHER)]) == [
        "stored", "stored"]
    names = sorted(path.name for path in (tmp_path / "seeds").glob("*.txt"))
    assert [name[:4] for name in names] == ["000_", "001_"]
