"""The index tables (SQLAlchemy Core). SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    true,
)

metadata = MetaData()

# A single-row counter: sequence numbers come from the database so that every process
# (a manual fetch beside the service, or several replicas) gets unique ones.
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)

articles = Table(
    "articles",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("feed", String(64), nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("published", Date, nullable=True),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    Column("file_name", String(128), nullable=False, unique=True),
    # "writing" while the file is being written, "stored" once it is in place; a crashed
    # writer leaves "writing" rows that recovery removes with their file.
    Column("state", String(16), nullable=False),
    Column("writer", String(160), nullable=False),
    Column("signature", LargeBinary, nullable=True),  # MinHash signature for near duplicates
    Column("near_duplicate_of", Integer, nullable=True),
    # The page's WARC response and metadata records (storage/archive.py): file, offset of the
    # first and length of both; null when the archive is off or for articles stored before it.
    Column("archive_file", String(200), nullable=True),
    Column("archive_offset", BigInteger, nullable=True),
    Column("archive_length", Integer, nullable=True),
    Column("extractor_version", String(64), nullable=True),
    Column("method", String(16), nullable=True),  # ExtractionMethod
    # Extraction health's signals (ingest/run/extraction_health.py).
    Column("text_length", Integer, nullable=True),
    Column("paragraphs", Integer, nullable=True),
    Column("summary_found", Boolean, nullable=True),  # null: the entry had no summary
    Column("language", String(16), nullable=True),  # detected from the text; None: unknown
)
Index("ix_articles_url", articles.c.url)
Index("ix_articles_state", articles.c.state)
Index("ix_articles_archive_file", articles.c.archive_file)
Index("ix_articles_feed", articles.c.feed, articles.c.sequence)

# What re-extraction did to stored articles: the job status log's per-article events.
article_events = Table(
    "article_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("feed", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # rewritten | duplicate | recovered
    Column("old_file", String(128), nullable=False),
    Column("new_file", String(128), nullable=True),
    Column("similarity", Float, nullable=True),
    Column("duplicate_of", Integer, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_article_events_run", article_events.c.run_id)

# Pages that gave no text, archived all the same: where their records are, so that
# `reextract` can try them again when the extractor or site rules change.
failed_pages = Table(
    "failed_pages",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("entry_key", String(512), primary_key=True),
    Column("url", Text, nullable=False),  # the page's final URL
    Column("failure_kind", String(40), nullable=False),
    Column("archive_file", String(200), nullable=False),
    Column("archive_offset", BigInteger, nullable=False),
    Column("archive_length", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_failed_pages_archive_file", failed_pages.c.archive_file)

# Locality-sensitive hash bands of stored articles: candidates for near-duplicate checks.
signature_bands = Table(
    "signature_bands",
    metadata,
    Column("band", String(40), primary_key=True),
    Column("sequence", Integer, primary_key=True),
)

feeds = Table(
    "feeds",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("config_fingerprint", String(32), nullable=False),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("last_poll_at", DateTime(timezone=True), nullable=True),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
    Column("next_poll_at", DateTime(timezone=True), nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error_kind", String(40), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("suspended", Boolean, nullable=False, default=False),
    Column("lease_owner", String(160), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("articles_stored", Integer, nullable=False, default=0),
    # In the configuration and enabled (`sync_feeds` keeps it): what a scheduled run polls.
    Column("scheduled", Boolean, nullable=False, default=True, server_default=true()),
    # The one-line reason while the feed's extraction is degraded, else null.
    Column("extraction_degraded", Text, nullable=True),
)
# The due-feed check reads due feeds in next-poll order from here and stops at its batch:
# its cost follows the feeds due, not the feeds configured (bench/scale_sources.py).
Index("ix_feeds_due", feeds.c.suspended, feeds.c.scheduled, feeds.c.next_poll_at)
Index("ix_feeds_lease_owner", feeds.c.lease_owner)

entries = Table(
    "entries",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("entry_key", String(512), primary_key=True),
    Column("url", Text, nullable=True),  # normalised link
    # stored | duplicate | near_duplicate | filtered | failed (terminal) | retry
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("failure_kind", String(40), nullable=True),
    Column("article_sequence", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer, nullable=True),  # the run that last settled it
    Column("failure_detail", Text, nullable=True),
)
Index("ix_entries_url", entries.c.url)
# A feed's last run (status counts its articles) and the last 24 hours / `--since`.
Index("ix_entries_feed_run", entries.c.feed, entries.c.run_id)
Index("ix_entries_updated", entries.c.updated_at)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger", String(16), nullable=False),  # schedule | manual
    Column("owner", String(160), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("state", String(16), nullable=False),  # running | finished | interrupted | failed
    Column("feeds_polled", Integer, nullable=False, default=0),
    Column("entries_seen", Integer, nullable=False, default=0),
    Column("articles_stored", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("near_duplicates", Integer, nullable=False, default=0),
    Column("filtered", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
)
# Every run start looks for runs left "running" by a dead process; the service starts a run
# per check that finds feeds due (every 10 s with 100,000 feeds), so the table grows fast.
Index("ix_runs_state", runs.c.state)

failures = Table(
    "failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("feed", String(64), nullable=False),
    Column("url", Text, nullable=True),
    Column("kind", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_failures_run", failures.c.run_id)

# The sitemap files of sitemap sources as last read: a poll fetches a child again only when
# its parent lists a new lastmod, and with a conditional GET.
# Each article URL a sitemap source's files list, with its lastmod, as last read (issue 18);
# which URLs are new is told by `entries`, keyed alike.
sitemap_urls = Table(
    "sitemap_urls",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("entry_key", String(512), primary_key=True),  # as `entries.entry_key`
    Column("lastmod", Date, nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

sitemap_files = Table(
    "sitemap_files",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("url", String(2048), primary_key=True),
    Column("parent", String(2048), nullable=False, default=""),  # "" for the source's URL
    Column("lastmod", String(64), nullable=True),  # as the parent lists it
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("is_index", Boolean, nullable=False, default=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
)
