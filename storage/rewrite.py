"""Rewriting a stored article in place: same sequence number, new text, new hash and name.

The new file is written and synced under a temporary name first; one transaction then points
the index row at it (hash, name, date, near-duplicate signature and bands, signals) and records
the event; only then is the file renamed into place and the old one removed. A crash before the
commit leaves a temporary file recovery removes; after it, recovery finishes the rename
(storage/recovery.py), so the index never names a file that is not there for long.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage.articles import ArticleSignals
from storage.corpus import (
    corpus_file_name,
    format_corpus_text,
    sync_corpus_directory,
    temp_file_name,
)
from storage.database import Database, as_utc
from storage.schema import article_events, articles, signature_bands


class EventKind(StrEnum):
    REWRITTEN = "rewritten"  # the text changed: new hash and file name, same sequence
    DUPLICATE = "duplicate"  # the new text is another article's: reported, not merged
    RECOVERED = "recovered"  # a page that gave no text now does: stored as a new article


@dataclass(frozen=True)
class NewText:
    """An article's text as the current extractor gives it."""

    text: str
    content_hash: str
    published: date | None
    signature: bytes | None
    bands: tuple[str, ...]
    signals: ArticleSignals


@dataclass(frozen=True)
class ArticleEvent:
    run_id: int
    sequence: int
    feed: str
    kind: EventKind
    old_file: str
    new_file: str | None
    similarity: float | None
    duplicate_of: int | None
    at: datetime


class RewriteConflict(Exception):
    """The row changed meanwhile (another rewrite), or its new hash is another article's."""

    def __init__(self, duplicate_of: int | None) -> None:
        super().__init__(f"duplicate of {duplicate_of}" if duplicate_of is not None
                         else "the article changed meanwhile")
        self.duplicate_of = duplicate_of


class RewriteRows(Database):
    def repoint_article(self, *, sequence: int, old_hash: str, new: NewText, new_file: str,
                        event: ArticleEvent) -> None:
        """Point the row at its new text and record the event, in one transaction; raises
        RewriteConflict (nothing changed) when the hash is taken or the row moved on."""
        try:
            with self._transaction() as conn:
                changed = conn.execute(update(articles).where(
                    articles.c.sequence == sequence, articles.c.content_hash == old_hash).values(
                    content_hash=new.content_hash, file_name=new_file,
                    published=new.published, signature=new.signature,
                    **new.signals.columns())).rowcount
                if changed != 1:
                    raise RewriteConflict(None)
                conn.execute(delete(signature_bands).where(
                    signature_bands.c.sequence == sequence))
                if new.bands:
                    conn.execute(insert(signature_bands), [
                        {"band": band, "sequence": sequence} for band in new.bands])
                conn.execute(insert(article_events).values(**_event_columns(event)))
        except IntegrityError as exc:
            holder = self._hash_holder(new.content_hash)
            raise RewriteConflict(holder) from exc

    def record_article_event(self, event: ArticleEvent) -> None:
        with self._transaction() as conn:
            conn.execute(insert(article_events).values(**_event_columns(event)))

    def article_events(self, run_ids: Sequence[int]) -> list[ArticleEvent]:
        if not run_ids:
            return []
        with self._transaction() as conn:
            rows = conn.execute(select(article_events).where(
                article_events.c.run_id.in_(list(run_ids))).order_by(article_events.c.id))
            return [ArticleEvent(run_id=row.run_id, sequence=row.sequence, feed=row.feed,
                                 kind=EventKind(row.kind), old_file=row.old_file,
                                 new_file=row.new_file, similarity=row.similarity,
                                 duplicate_of=row.duplicate_of,
                                 at=as_utc(row.at) or row.at) for row in rows]

    def rewritten_old_files(self) -> list[tuple[str, str]]:
        """(old file, new file) of every rewrite: what a rewrite stopped by a crash after its
        rename may have left behind."""
        with self._transaction() as conn:
            return [(row.old_file, row.new_file) for row in conn.execute(
                select(article_events.c.old_file, article_events.c.new_file).where(
                    article_events.c.kind == EventKind.REWRITTEN))]

    def stored_file_exists_in_index(self, file_name: str) -> bool:
        with self._transaction() as conn:
            return conn.execute(select(articles.c.sequence).where(
                articles.c.file_name == file_name)).first() is not None

    def _hash_holder(self, content_hash: str) -> int | None:
        with self._transaction() as conn:
            return conn.execute(select(articles.c.sequence).where(
                articles.c.content_hash == content_hash)).scalar()


def _event_columns(event: ArticleEvent) -> dict[str, object]:
    return {"run_id": event.run_id, "sequence": event.sequence, "feed": event.feed,
            "kind": event.kind.value, "old_file": event.old_file, "new_file": event.new_file,
            "similarity": event.similarity, "duplicate_of": event.duplicate_of,
            "at": event.at}


def rewrite_article(index: RewriteRows, corpus_dir: Path, writer: str, *, sequence: int,
                    old_file: str, old_hash: str, new: NewText,
                    event: ArticleEvent) -> str:
    """Rewrite one stored article; returns its new file name. Raises RewriteConflict (the
    new file removed, the old one untouched) when the index would not take it."""
    new_file = corpus_file_name(sequence, new.content_hash)
    temporary = corpus_dir / temp_file_name(new_file, writer)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(format_corpus_text(new.published, new.text).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        index.repoint_article(sequence=sequence, old_hash=old_hash, new=new,
                              new_file=new_file, event=event)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, corpus_dir / new_file)
    if old_file != new_file:
        (corpus_dir / old_file).unlink(missing_ok=True)
    sync_corpus_directory(corpus_dir)
    return new_file


def remove_rewritten_leftovers(index: RewriteRows, corpus_dir: Path) -> int:
    """Old files of rewrites stopped between their rename and the old file's removal."""
    removed = 0
    for old_file, new_file in index.rewritten_old_files():
        old = corpus_dir / old_file
        if new_file and (corpus_dir / new_file).exists() and old.exists() \
                and not index.stored_file_exists_in_index(old_file):
            old.unlink(missing_ok=True)
            removed += 1
    return removed
