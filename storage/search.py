"""Full-text search over stored articles, in the index database itself: SQLite's FTS5
(a contentless table: the text stays in the corpus files) or PostgreSQL's tsvector with a GIN
index. No external engine to run beside the service.

`article_search` is made by migration 0003 and is not in `storage/schema.py`'s metadata: its
form differs by dialect (a virtual table on SQLite)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from storage.database import Database

SEARCH_TABLE = "article_search"
_WORD = re.compile(r"\w+", re.UNICODE)
# PostgreSQL's 'simple' configuration: no stemming or stop words of one language, so a corpus
# of many languages is searched alike (SQLite's unicode61 tokenizer behaves the same way).
_PG_CONFIG = "simple"


@dataclass(frozen=True)
class SearchText:
    sequence: int
    title: str
    text: str


def insert_search_texts(conn: Connection, dialect: str, texts: Sequence[SearchText]) -> None:
    """Make these articles findable, inside the caller's transaction."""
    if not texts:
        return
    rows = [{"p_sequence": item.sequence, "p_title": item.title, "p_body": item.text}
            for item in texts]
    if dialect == "postgresql":
        conn.execute(text(
            f"INSERT INTO {SEARCH_TABLE} (sequence, document) VALUES (:p_sequence, "
            f"to_tsvector('{_PG_CONFIG}', :p_title || ' ' || :p_body)) "
            f"ON CONFLICT (sequence) DO NOTHING"), rows)
        return
    known = {row[0] for row in conn.execute(
        text(f"SELECT rowid FROM {SEARCH_TABLE} WHERE rowid IN "
             f"({','.join(str(int(item.sequence)) for item in texts)})"))}
    fresh = [row for row in rows if row["p_sequence"] not in known]
    if fresh:
        conn.execute(text(f"INSERT INTO {SEARCH_TABLE} (rowid, title, body) "
                          f"VALUES (:p_sequence, :p_title, :p_body)"), fresh)


def search_words(words: str) -> list[str]:
    return _WORD.findall(words)


class SearchRows(Database):
    def index_search_texts(self, texts: Sequence[SearchText]) -> None:
        with self._transaction() as conn:
            insert_search_texts(conn, self.dialect, texts)

    def search_articles(self, words: str, limit: int = 10000) -> list[int]:
        """Sequences of stored articles whose title or text has every word, best first."""
        terms = search_words(words)
        if not terms:
            return []
        with self._transaction() as conn:
            if self.dialect == "postgresql":
                rows = conn.execute(text(
                    f"SELECT sequence FROM {SEARCH_TABLE} "
                    f"WHERE document @@ plainto_tsquery('{_PG_CONFIG}', :p_words) "
                    f"ORDER BY ts_rank(document, plainto_tsquery('{_PG_CONFIG}', :p_words)) "
                    f"DESC, sequence LIMIT :p_limit"),
                    {"p_words": " ".join(terms), "p_limit": limit})
            else:
                # Each word quoted: FTS5 syntax (AND, NEAR, *, column:) in the words is text.
                match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
                rows = conn.execute(text(
                    f"SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH :p_match "
                    f"ORDER BY rank LIMIT :p_limit"), {"p_match": match, "p_limit": limit})
            return [row[0] for row in rows]

    def searchable_sequences(self) -> set[int]:
        column = "sequence" if self.dialect == "postgresql" else "rowid"
        with self._transaction() as conn:
            return {row[0] for row in conn.execute(text(f"SELECT {column} FROM {SEARCH_TABLE}"))}
