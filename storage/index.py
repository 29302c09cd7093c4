"""The SQL index: one object over the tables, opened (and migrated) once per process.

All database I/O of source-ingest goes through `CorpusIndex`; what it stores is split by table:
`storage/feeds.py` (poll state and leases), `storage/entries.py`, `storage/articles.py` and
`storage/runs.py` (runs and failures), on the engine of `storage/database.py`.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from storage.adopt import AdoptRows
from storage.archive_rows import ArchiveRows
from storage.article_stream import ArticleStreamRows
from storage.articles import ARTICLE_SEQUENCE, ArticleRows
from storage.corpus_guard import CorpusGuardRows
from storage.database import DatabaseError, create_database_engine, one_line, redact_database_url
from storage.entry_fates import EntryFateRows
from storage.failed_pages import FailedPageRows
from storage.feeds import FeedRows
from storage.health_rows import HealthRows
from storage.migrate import SchemaError, upgrade_schema
from storage.rewrite import RewriteRows
from storage.runs import RunRows
from storage.schema import counters
from storage.search import SearchRows
from storage.sitemaps import SitemapRows


class CorpusIndex(FeedRows, ArticleRows, RunRows, ArchiveRows, HealthRows, RewriteRows,
                  EntryFateRows, SearchRows, CorpusGuardRows, AdoptRows, ArticleStreamRows,
                  SitemapRows, FailedPageRows):
    """Feeds and leases, entries, articles, runs, the archive's records (stored articles' and
    failed pages') and sitemap files, in one database."""


def open_index(database_url: str) -> CorpusIndex:
    """Connect, apply pending schema migrations (under a lock), and return the index."""
    try:
        engine = create_database_engine(database_url)
        upgrade_schema(engine)
        with engine.begin() as conn:
            exists = conn.execute(
                select(counters.c.value).where(counters.c.name == ARTICLE_SEQUENCE)
            ).first()
            if exists is None:
                # Another process may create it first; the savepoint keeps this transaction
                # usable on PostgreSQL after the unique violation.
                with contextlib.suppress(IntegrityError), conn.begin_nested():
                    conn.execute(insert(counters).values(name=ARTICLE_SEQUENCE, value=-1))
    except SchemaError as exc:
        raise DatabaseError(f"database {redact_database_url(database_url)}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot open database {redact_database_url(database_url)}: "
            f"{one_line(exc)}"
        ) from exc
    return CorpusIndex(engine)

