"""Values the index must take or refuse one record at a time (issue 15): entry keys longer
than the column, and text the database cannot hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import FeedSettings
from ingest.records import EntryOutcome
from storage.database import UnstorableValue, utcnow
from storage.index import CorpusIndex, open_index

FEED = FeedSettings(name="world", url="https://news.example/world.xml", interval_seconds=60)


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    opened = open_index(database_url)
    opened.sync_feeds([FEED], utcnow())
    yield opened
    opened.close()


@pytest.mark.parametrize("length", [513, 600, 2048, 100_000])
def test_a_long_entry_key_is_found_again_once_settled(index: CorpusIndex, length: int) -> None:
    key = "https://news.example/" + "a" * length
    near = key[:-1] + "b"  # the same first 512 characters
    index.record_entry("world", key, key, EntryOutcome.FAILED, failure_kind="http_not_found")

    settled = index.settled_entry_keys("world", [key, near], max_attempts=3)

    assert settled == {key}


def test_a_long_key_retried_reaches_max_attempts(index: CorpusIndex) -> None:
    key = "guid:" + "x" * 5000
    for _ in range(3):
        assert key not in index.settled_entry_keys("world", [key], max_attempts=3)
        index.record_entry("world", key, None, EntryOutcome.RETRY, failure_kind="timeout")
    assert index.settled_entry_keys("world", [key], max_attempts=3) == {key}


@pytest.mark.parametrize("key", ["nul\x00key", "lone\ud800surrogate"])
def test_a_value_the_database_refuses_fails_that_record_not_the_database(
        index: CorpusIndex, key: str, database_url: str) -> None:
    if "\x00" in key and database_url.startswith("sqlite"):
        pytest.skip("SQLite stores NUL in text")
    with pytest.raises(UnstorableValue):
        index.record_entry("world", key, None, EntryOutcome.FAILED)
    # The index is still usable.
    index.record_entry("world", "fine", None, EntryOutcome.FAILED)
    assert index.settled_entry_keys("world", ["fine"], max_attempts=3) == {"fine"}
