"""The index: leases shared between processes, backoff and suspension, crash recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config.settings import FeedSettings, ScheduleSettings
from ingest.records import content_hash
from scheduler.policy import SchedulePolicy
from storage.articles import DuplicateArticle
from storage.corpus import corpus_file_name, write_corpus_file
from storage.database import utcnow
from storage.index import CorpusIndex, open_index
from storage.recovery import WriterIdentity, recover_interrupted_writes
from storage.verify import verify_corpus

FEED = FeedSettings(name="world", url="https://news.example/world.xml", interval_seconds=60)
SCHEDULE = ScheduleSettings(jitter_seconds=0, max_backoff_seconds=600,
                            suspend_after_failures=3)
POLICY = SchedulePolicy(SCHEDULE)


@pytest.fixture
def index(database_url: str) -> CorpusIndex:
    opened = open_index(database_url)
    opened.sync_feeds([FEED], utcnow())
    yield opened
    opened.close()


def _reserve(index: CorpusIndex, text: str, writer: str = "host-1-aa") -> tuple[int, str]:
    return index.reserve_article(content_hash=content_hash(text), url="https://n.example/a",
                                 feed="world", title="t", published=None, writer=writer,
                                 file_name_for=corpus_file_name)


def test_a_leased_feed_is_not_claimed_by_another_process(index: CorpusIndex) -> None:
    now = utcnow()
    first = index.claim_feeds("host-1-aa", now, 30, names=["world"], due_only=False)
    second = index.claim_feeds("host-2-bb", now, 30, names=["world"], due_only=False)
    assert [s.name for s in first] == ["world"] and second == []
    later = now + timedelta(seconds=31)
    assert [s.name for s in index.claim_feeds("host-2-bb", later, 30, names=["world"],
                                              due_only=False)] == ["world"]


def test_a_feed_not_yet_due_is_left_for_its_next_poll(index: CorpusIndex) -> None:
    now = utcnow()
    index.record_poll_successes([POLICY.poll_success(FEED, now, None, None)], "host-1-aa")
    # The next poll is the feed's slot nearest to one interval on (scheduler/policy.py).
    assert index.claim_feeds("host-1-aa", now + timedelta(seconds=29), 30) == []
    assert index.claim_feeds("host-1-aa", now + timedelta(seconds=91), 30)


def test_failing_feed_backs_off_doubling_then_is_suspended_and_resumes(
        index: CorpusIndex) -> None:
    now = utcnow()
    state = index.record_poll_failure(FEED.name, "w", now, "http_server_error", "500",
                                      POLICY.after_failure(FEED, now))
    first_delay = (state.next_poll_at - now).total_seconds()
    state = index.record_poll_failure(FEED.name, "w", now, "http_server_error", "500",
                                      POLICY.after_failure(FEED, now))
    assert (state.next_poll_at - now).total_seconds() == pytest.approx(2 * first_delay)
    assert not state.suspended
    state = index.record_poll_failure(FEED.name, "w", now, "http_server_error", "500",
                                      POLICY.after_failure(FEED, now))
    assert state.suspended and state.consecutive_failures == 3
    assert (state.next_poll_at - now).total_seconds() <= SCHEDULE.max_backoff_seconds
    assert index.claim_feeds("w", now + timedelta(days=1), 30) == []
    assert index.resume_feed("world", now)
    assert [s.name for s in index.claim_feeds("w", now, 30)] == ["world"]


def test_changed_feed_configuration_resumes_a_suspended_feed(index: CorpusIndex) -> None:
    now = utcnow()
    for _ in range(3):
        index.record_poll_failure(FEED.name, "w", now, "http_not_found", "404",
                                  POLICY.after_failure(FEED, now))
    moved = FeedSettings(name="world", url="https://news.example/new.xml", interval_seconds=60)
    index.sync_feeds([moved], now)
    state = next(s for s in index.feed_states() if s.name == "world")
    assert not state.suspended and state.url == moved.url


def test_same_hash_twice_is_a_duplicate_and_sequences_stay_unique(index: CorpusIndex) -> None:
    first, _ = _reserve(index, "one")
    with pytest.raises(DuplicateArticle) as caught:
        _reserve(index, "one")
    assert caught.value.sequence == first
    second, name = _reserve(index, "two")
    assert second == first + 1 and name.startswith(f"{second:03d}_")


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


def test_recovery_removes_a_dead_writers_half_done_article(index: CorpusIndex,
                                                           corpus_dir: Path) -> None:
    me = WriterIdentity(host="thishost", pid=4242, token="0b")
    dead = WriterIdentity(host="thishost", pid=4242, token="0a")  # same pid, earlier start
    sequence, name = _reserve(index, "half done", writer=dead.tag)
    write_corpus_file(corpus_dir, name, None, "half done", dead.tag)
    (corpus_dir / f".tmp-{dead.tag}-{name}").write_text("partial")
    report = recover_interrupted_writes(index, corpus_dir, me, utcnow(), 300)
    assert report.rows_removed == 1 and report.files_removed == 2
    assert list(corpus_dir.iterdir()) == []
    assert index.article(sequence) is None
    _reserve(index, "half done", writer=me.tag)  # the article can now be stored again


def test_recovery_leaves_a_live_writers_work_alone(index: CorpusIndex,
                                                   corpus_dir: Path) -> None:
    me = WriterIdentity(host="thishost", pid=4242, token="0c")
    _reserve(index, "in flight", writer=me.tag)
    report = recover_interrupted_writes(index, corpus_dir, me, utcnow(), 300)
    assert report.rows_removed == 0


def test_verify_reports_missing_orphan_temporary_and_tampered_files(index: CorpusIndex,
                                                                    corpus_dir: Path) -> None:
    for text in ("kept", "tampered", "lost"):
        sequence, name = _reserve(index, text)
        write_corpus_file(corpus_dir, name, None, text, "host-1-aa")
        index.complete_article(sequence, "world", f"key-{text}", None)
    assert verify_corpus(index, corpus_dir).ok
    files = {p.read_text(): p for p in corpus_dir.iterdir()}
    files["tampered"].write_text("changed")
    files["lost"].unlink()
    (corpus_dir / corpus_file_name(99, content_hash("orphan"))).write_text("orphan")
    (corpus_dir / ".tmp-host-1-aa-100_0123456789abcdef.txt").write_text("partial")
    kinds = sorted(p.kind for p in verify_corpus(index, corpus_dir).problems)
    assert kinds == ["hash_mismatch", "missing_file", "orphan_file", "temporary_file"]


def test_an_entry_is_retried_until_its_attempts_run_out(index: CorpusIndex) -> None:
    for _ in range(2):
        index.record_entry("world", "k1", "https://n.example/a", "retry",
                           failure_kind="timeout")
    assert index.settled_entry_keys("world", ["k1", "k2"], max_attempts=3) == set()

    index.record_entry("world", "k1", "https://n.example/a", "retry", failure_kind="timeout")

    assert index.settled_entry_keys("world", ["k1", "k2"], max_attempts=3) == {"k1"}


def test_an_entry_stored_after_a_retry_is_settled_and_known_by_its_url(
        index: CorpusIndex) -> None:
    index.record_entry("world", "k2", "https://n.example/b", "retry", failure_kind="timeout")
    assert index.stored_sequences_for_urls(["https://n.example/b"]) == {}

    index.record_entry("world", "k2", "https://n.example/b", "stored", sequence=7)

    assert index.settled_entry_keys("world", ["k2"], max_attempts=10) == {"k2"}
    assert index.stored_sequences_for_urls(["https://n.example/b", "https://n.example/c"]) \
        == {"https://n.example/b": 7}


def test_an_entry_stored_stays_stored_when_a_late_poll_records_it_again(
        index: CorpusIndex) -> None:
    # Two replicas on one feed (the first one's lease ran out mid-poll): the second read the
    # entry as new before the first recorded it stored, then found its article.
    index.record_entry("world", "k3", "https://n.example/c", "stored", sequence=9)

    index.record_entry("world", "k3", "https://n.example/c", "duplicate", sequence=9)
    index.record_entry("world", "k3", "https://n.example/c", "retry", failure_kind="timeout")

    assert index.stored_sequences_for_urls(["https://n.example/c"]) == {"https://n.example/c": 9}
    assert index.settled_entry_keys("world", ["k3"], max_attempts=10) == {"k3"}
    assert index.entry_sequence("world", "k3") == 9


def test_near_duplicate_candidates_are_the_articles_sharing_a_band(index: CorpusIndex) -> None:
    def reserve(text: str, signature: bytes | None, bands: tuple[str, ...]) -> int:
        sequence, _ = index.reserve_article(
            content_hash=content_hash(text), url="https://n.example/a", feed="world",
            title="t", published=None, writer="host-1-aa", file_name_for=corpus_file_name,
            signature=signature, bands=bands)
        return sequence

    first = reserve("first", b"\x01" * 8, ("00:aa", "01:bb"))
    second = reserve("second", b"\x02" * 8, ("00:cc", "01:bb"))
    reserve("third", b"\x03" * 8, ("00:dd", "01:ee"))

    assert index.near_duplicate_candidates(("00:aa", "01:zz")) == {first: b"\x01" * 8}
    assert index.near_duplicate_candidates(("00:cc", "01:bb")) == {first: b"\x01" * 8,
                                                                    second: b"\x02" * 8}
    assert index.near_duplicate_candidates(("00:xx", "01:yy")) == {}
    assert index.near_duplicate_candidates(()) == {}


def test_polls_recorded_together_each_set_their_own_feed(index: CorpusIndex) -> None:
    second = FeedSettings(name="second", url="https://news.example/second.xml",
                          interval_seconds=120)
    index.sync_feeds([FEED, second], utcnow())
    now = utcnow()
    index.claim_feeds("w", now, 30, names=[FEED.name, second.name], due_only=False)
    index.record_poll_successes([
        POLICY.poll_success(FEED, now, '"e1"', None),
        POLICY.poll_success(second, now, None, "Mon, 02 Jan 2026 00:00:00 GMT"),
    ], "w")
    states = {state.name: state for state in index.feed_states()}
    assert (states[FEED.name].etag, states[FEED.name].last_modified) == ('"e1"', None)
    assert (states["second"].etag, states["second"].last_modified) == (
        None, "Mon, 02 Jan 2026 00:00:00 GMT")
    # Both leases released: another writer may take them at once.
    assert {s.name for s in index.claim_feeds("other", now, 30, names=[FEED.name, "second"],
                                              due_only=False)} == {FEED.name, "second"}
