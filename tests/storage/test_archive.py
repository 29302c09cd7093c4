"""The page archive: WARC records standard tools read, a file per writer, torn records cut."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from config.settings import FeedSettings
from ingest.records import Article, EntryOutcome, ExtractionMethod, content_hash
from ingest.run.store import Storage, StoreRequest, store_batch
from storage.archive import (
    ArchivedEntry,
    ArchivedPage,
    ArchiveItem,
    ArchiveLocation,
    ArchiveWriter,
    item_bytes,
    read_archived,
)
from storage.database import utcnow
from storage.index import CorpusIndex, open_index
from storage.recovery import WriterIdentity, new_writer_identity, recover_interrupted_writes
from storage.verify import verify_corpus
from tests.shared_data import SHARED_ARTICLES

WARCIO = str(Path(sys.executable).with_name("warcio"))
FEED = FeedSettings(name="world", url="https://news.example/world.xml", interval_seconds=60)
PAGE = (SHARED_ARTICLES / "fundus-ca-CBCNews_2024_08_08.html").read_bytes()


def _page(number: int) -> ArchivedPage:
    return ArchivedPage(url=f"https://news.example/story-{number}", status=200,
                        headers=(("Content-Type", "text/html; charset=utf-8"),
                                 ("Content-Encoding", "gzip"), ("Content-Length", "123")),
                        body=PAGE)


def _item(number: int) -> ArchiveItem:
    entry = ArchivedEntry(feed="world", entry_key=f"guid-{number}", title=f"Story {number}",
                          summary_html="<p>The summary.</p>", content_html="",
                          published=None)
    return ArchiveItem(page=_page(number), entry=entry, sequence=number,
                       extractor_version="0.1.0+test", method="main")


def test_records_read_back_and_standard_tools_read_them(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path, "host-1-aa")
    locations = writer.append([_item(0), _item(1)])
    writer.close()

    archived = read_archived(tmp_path, locations[1])
    assert (archived.sequence, archived.page.url, archived.page.status) == \
        (1, "https://news.example/story-1", 200)
    assert archived.page.body == PAGE and archived.page.charset == "utf-8"
    assert archived.entry.title == "Story 1" and archived.extractor_version == "0.1.0+test"
    # The body is stored decoded: the wire's encoding and length do not describe it.
    names = [name.lower() for name, _ in archived.page.headers]
    assert "content-encoding" not in names and names.count("content-length") == 1

    path = tmp_path / locations[0].file_name
    listing = subprocess.run([WARCIO, "index", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert [line.count('"response"') + 2 * line.count('"metadata"') for line in listing] == \
        [1, 2, 1, 2]
    extracted = subprocess.run([WARCIO, "extract", "--payload", str(path),
                                str(locations[1].offset)], capture_output=True, check=True)
    assert extracted.stdout == PAGE


def test_each_writer_has_its_own_files_and_they_rotate_by_size(tmp_path: Path) -> None:
    first, second = ArchiveWriter(tmp_path, "host-1-aa"), ArchiveWriter(tmp_path, "host-2-bb")
    # Two runs of one process write at once: the second takes another file, never the same.
    record_bytes = len(item_bytes(_item(2)))
    same_process = ArchiveWriter(tmp_path, "host-1-aa", max_file_bytes=int(record_bytes * 2.5))
    a = first.append([_item(0)])
    b = second.append([_item(1)])
    c = same_process.append([_item(2), _item(3), _item(4)])
    for writer in (first, second, same_process):
        writer.close()
    assert a[0].file_name == "host-1-aa-00001.warc.gz"
    assert b[0].file_name == "host-2-bb-00001.warc.gz"
    assert [location.file_name for location in c] == [
        "host-1-aa-00002.warc.gz", "host-1-aa-00002.warc.gz", "host-1-aa-00003.warc.gz"]
    for location, number in zip(c, (2, 3, 4), strict=True):
        assert read_archived(tmp_path, location).sequence == number


@pytest.fixture
def index(database_url: str) -> Iterator[CorpusIndex]:
    opened = open_index(database_url)
    opened.sync_feeds([FEED], utcnow())
    yield opened
    opened.close()


def _request(number: int) -> StoreRequest:
    text = f"Story number {number} tells of the council's budget and the new library."
    article = Article(feed_name="world", url=f"https://news.example/story-{number}",
                      title=f"Story {number}", text=text, published=None,
                      content_hash=content_hash(text), method=ExtractionMethod.MAIN)
    return StoreRequest(feed="world", entry_key=f"guid-{number}", entry_url=article.url,
                        article=article, signature=None, page=_page(number))


def test_a_dead_writers_torn_record_is_cut_and_verify_checks_every_record(
        index: CorpusIndex, tmp_path: Path) -> None:
    corpus, archive = tmp_path / "corpus", tmp_path / "archive"
    me = new_writer_identity()
    dead = WriterIdentity(host=me.host, pid=_exited_pid(), token="deadbeef")
    writer = ArchiveWriter(archive, dead.tag)
    storage = Storage(index=index, corpus_dir=corpus, writer=dead.tag, near_duplicates=False,
                      near_duplicate_threshold=0.8, store_near_duplicates=False,
                      archive=writer, extractor_version="0.1.0+test")
    assert store_batch(storage, [_request(0), _request(1)]) == ["stored", "stored"]
    rows = list(index.iter_articles())
    assert all(row.archive_file == f"{dead.tag}-00001.warc.gz" for row in rows)
    path = archive / rows[0].archive_file  # type: ignore[operator]
    whole = path.stat().st_size
    # The crash: a record half written, its article never marked stored.
    torn = writer.append([_item(2)])[0]
    writer.close()
    with path.open("r+b") as handle:
        handle.truncate(torn.offset + torn.length // 2)
    assert verify_corpus(index, corpus, archive).ok

    report = recover_interrupted_writes(index, corpus, me, utcnow(), 300, archive)

    assert report.archive_bytes_cut == torn.length // 2
    assert path.stat().st_size == whole
    for row in rows:
        archived = read_archived(archive, ArchiveLocation(
            row.archive_file or "", row.archive_offset or 0, row.archive_length or 0))
        assert archived.sequence == row.sequence
    # A record damaged afterwards is a problem verify names.
    data = bytearray(path.read_bytes())
    data[rows[1].archive_offset + 40] ^= 0xFF  # type: ignore[operator]
    path.write_bytes(bytes(data))
    report_after = verify_corpus(index, corpus, archive)
    assert [(problem.kind, problem.file_name) for problem in report_after.problems] == \
        [("bad_archive_record", rows[1].file_name)]


def test_an_open_archive_file_is_never_cut_even_when_its_writer_looks_dead(
        index: CorpusIndex, tmp_path: Path) -> None:
    # A replica of another host (a container) quiet for longer than the stale limit, with a
    # batch between its records' sync and its commit: judged by the file's age alone it
    # looked dead, and cutting its file lost the records it was about to record.
    corpus, archive = tmp_path / "corpus", tmp_path / "archive"
    me = new_writer_identity()
    elsewhere = WriterIdentity(host=f"other-{me.host}", pid=me.pid, token="cafef00d")
    writer = ArchiveWriter(archive, elsewhere.tag)
    storage = Storage(index=index, corpus_dir=corpus, writer=elsewhere.tag,
                      near_duplicates=False, near_duplicate_threshold=0.8,
                      store_near_duplicates=False, archive=writer,
                      extractor_version="0.1.0+test")
    assert store_batch(storage, [_request(0)]) == ["stored"]
    pending = writer.append([_item(1)])[0]  # synced, not yet recorded in the index
    path = archive / f"{elsewhere.tag}-00001.warc.gz"
    size = path.stat().st_size
    os.utime(path, (0, 0))  # older than any stale limit

    report = recover_interrupted_writes(index, corpus, me, utcnow(), 3, archive)

    assert report.archive_bytes_cut == 0
    assert path.stat().st_size == size
    writer.close()  # the writer is gone now: what it never recorded is cut
    report = recover_interrupted_writes(index, corpus, me, utcnow(), 3, archive)
    assert report.archive_bytes_cut == pending.length


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_rewrite_stopped_after_its_commit_is_finished_at_the_next_start(
        index: CorpusIndex, tmp_path: Path) -> None:
    from storage.articles import ArticleSignals
    from storage.corpus import corpus_file_name, read_corpus_file, temp_file_name
    from storage.rewrite import ArticleEvent, EventKind, NewText

    corpus = tmp_path / "corpus"
    storage = Storage(index=index, corpus_dir=corpus, writer="host-1-aa", near_duplicates=False,
                      near_duplicate_threshold=0.8, store_near_duplicates=False)
    assert store_batch(storage, [_request(0)]) == ["stored"]
    row = next(iter(index.iter_articles()))
    me = new_writer_identity()
    dead = WriterIdentity(host=me.host, pid=_exited_pid(), token="deadbeef")
    text = "The whole story of number 0, as the fixed extractor reads it, at last."
    new = NewText(text=text, content_hash=content_hash(text), published=None, signature=None,
                  bands=(), signals=ArticleSignals(len(text), 1, "site_rules", None, "v2"))
    new_file = corpus_file_name(row.sequence, new.content_hash)
    run_id = index.start_run("reextract", dead.tag, utcnow())
    # The dead rewriter had synced its temporary file and committed, but not renamed it.
    (corpus / temp_file_name(new_file, dead.tag)).write_text(text, encoding="utf-8")
    index.repoint_article(sequence=row.sequence, old_hash=row.content_hash, new=new,
                          new_file=new_file, event=ArticleEvent(
                              run_id=run_id, sequence=row.sequence, feed="world",
                              kind=EventKind.REWRITTEN, old_file=row.file_name,
                              new_file=new_file, similarity=0.5, duplicate_of=None,
                              at=utcnow()))

    recover_interrupted_writes(index, corpus, me, utcnow(), 300)

    assert [path.name for path in corpus.iterdir()] == [new_file]
    assert read_corpus_file(corpus / new_file).text == text
    assert verify_corpus(index, corpus).ok


def test_the_archive_goes_beside_the_corpus_folder_unless_configured_or_off() -> None:
    from config.loading import parse_settings

    default = parse_settings({"storage": {"corpus_dir": "/data/seeds"}}, {}).storage
    assert default.archive and default.archive_path == Path("/data/archive")
    moved = parse_settings({"storage": {"archive_dir": "/warc"}}, {}).storage
    assert moved.archive_path == Path("/warc")
    off = parse_settings({"storage": {"archive": False}}, {}).storage
    assert not off.archive
    from ingest.run.archiving import open_archive

    assert open_archive(off, "host-1-aa") is None


def test_a_failed_pages_records_are_kept_by_recovery_and_listed_while_the_entry_is_failed(
        index: CorpusIndex, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    me = new_writer_identity()
    dead = WriterIdentity(host=me.host, pid=_exited_pid(), token="deadbeef")
    writer = ArchiveWriter(archive, dead.tag)
    failed = replace(_item(7), sequence=None, method="", failure_kind="no_article_text")
    location = writer.append([failed])[0]
    index.record_entry("world", "guid-7", "https://news.example/story-7", EntryOutcome.FAILED,
                       failure_kind="no_article_text")
    index.record_failed_page("world", "guid-7", "https://news.example/story-7",
                             "no_article_text", (location.file_name, location.offset,
                                                 location.length), utcnow())
    # The crash: the next failed page's records torn, never named in the index.
    torn = writer.append([replace(failed, entry=replace(failed.entry, entry_key="guid-8"))])[0]
    writer.close()
    path = archive / location.file_name
    with path.open("r+b") as handle:
        handle.truncate(torn.offset + torn.length // 3)

    report = recover_interrupted_writes(index, tmp_path / "corpus", me, utcnow(), 300, archive)

    assert report.archive_bytes_cut == torn.length // 3
    assert path.stat().st_size == location.offset + location.length
    archived = read_archived(archive, location)
    assert (archived.sequence, archived.failure_kind, archived.entry.entry_key) == \
        (None, "no_article_text", "guid-7")
    rows = index.failed_archived_pages(["world"])
    assert [(row.entry_key, row.entry_url, row.archive_file) for row in rows] == \
        [("guid-7", "https://news.example/story-7", location.file_name)]
    # Once the entry is stored (say, by reextract), it is no longer a failed page to try.
    index.record_entry("world", "guid-7", "https://news.example/story-7", EntryOutcome.STORED,
                       sequence=1)
    assert index.failed_archived_pages() == []
