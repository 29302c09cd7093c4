"""The corpus file format: names, date header, atomic writes and exact round trips."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from ingest.dedupe.normalize import normalize_text
from ingest.records import content_hash
from storage.corpus import (
    CorpusFormatError,
    corpus_file_name,
    format_corpus_text,
    parse_corpus_text,
    read_corpus_file,
    write_corpus_file,
)
from tests.shared_data import SHARED_SEEDS


def test_file_name_is_zero_padded_sequence_and_hash_prefix() -> None:
    digest = content_hash("text")
    assert corpus_file_name(7, digest) == f"007_{digest[:16]}.txt"
    assert corpus_file_name(1234, digest) == f"1234_{digest[:16]}.txt"


def test_dated_article_starts_with_date_header_and_has_no_trailing_newline(tmp_path: Path) -> None:
    text = normalize_text(["First  paragraph\nwraps.", "", "Second paragraph."])
    path = write_corpus_file(tmp_path, corpus_file_name(0, content_hash(text)),
                             date(2025, 10, 9), text, "host-1-ab")
    assert path.read_bytes() == b" date 2025-10-09 First paragraph wraps.\n\nSecond paragraph."


def test_undated_article_is_the_text_alone(tmp_path: Path) -> None:
    path = write_corpus_file(tmp_path, corpus_file_name(1, content_hash("Alone.")), None,
                             "Alone.", "host-1-ab")
    assert path.read_bytes() == b"Alone."
    document = read_corpus_file(path)
    assert (document.sequence, document.published, document.text) == (1, None, "Alone.")


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_corpus_file(tmp_path, corpus_file_name(2, content_hash("x")), None, "x", "host-1-ab")
    assert [p.name for p in tmp_path.iterdir()] == [corpus_file_name(2, content_hash("x"))]


@pytest.mark.parametrize("name", ["../escape.txt", "000_abc.txt", "/etc/passwd", "a/000_x.txt"])
def test_writer_refuses_names_that_could_leave_the_corpus_folder(tmp_path: Path,
                                                                  name: str) -> None:
    with pytest.raises(CorpusFormatError):
        write_corpus_file(tmp_path, name, None, "text", "host-1-ab")


@pytest.mark.parametrize("content", [
    " date 2023-09-18 18 Sep. 13:00\n\nBody text.",
    "Headline\nLine two\nLine three",  # single newlines between paragraphs
    " date 2025-01-01 ",
    "No header but ends with newline\n",
    " date 2025-13-40 not a real date",
])
def test_reading_then_writing_gives_the_same_bytes(content: str) -> None:
    published, text = parse_corpus_text(content)
    assert format_corpus_text(published, text) == content


def test_reader_does_not_require_hash_to_match_text(tmp_path: Path) -> None:
    path = tmp_path / "003_0123456789abcdef.txt"
    path.write_bytes(b" date 2024-02-29 Leap day text.")
    document = read_corpus_file(path)
    assert document.hash_prefix == "0123456789abcdef"
    assert document.published == date(2024, 2, 29)
    assert document.text == "Leap day text."


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="../shared/seeds not present")
def test_reference_documents_round_trip_exactly() -> None:
    paths = sorted(SHARED_SEEDS.glob("*.txt"))
    assert paths
    for path in paths:
        document = read_corpus_file(path)
        rewritten = format_corpus_text(document.published, document.text).encode("utf-8")
        assert rewritten == path.read_bytes(), path.name
    undated = [read_corpus_file(p) for p in paths if p.name.startswith("002_")]
    assert undated and undated[0].published is None
    dated = [read_corpus_file(p) for p in paths if p.name.startswith("000_")]
    assert dated and dated[0].published is not None


def test_write_is_atomic_under_a_failing_rename(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_corpus_file(tmp_path, corpus_file_name(0, content_hash("y")), None, "y",
                          "host-1-ab")
    assert list(tmp_path.iterdir()) == []
