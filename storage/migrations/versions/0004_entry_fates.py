"""Every article's fate and each feed's article health.

`entries.run_id`: the run that last settled the entry, so status counts a feed's articles of
its last run; `entries.failure_detail`: the one-line reason beside its kind, for `articles`
and `/api/entries`. `ix_entries_feed_run` finds a feed's last run; `ix_entries_updated` the
last 24 hours and `--since`. `articles.language`: the detected language of the text.
`article_search`: full-text search of stored articles (storage/search.py): an FTS5 table on
SQLite (contentless: the text stays in the corpus files), a tsvector with a GIN index on
PostgreSQL. Articles stored before it are made searchable by `source-ingest reindex`.

Revision ID: 0004_entry_fates
Revises: 0003_archive
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_entry_fates"
down_revision = "0003_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("run_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("failure_detail", sa.Text, nullable=True))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
    op.create_index("ix_entries_feed_run", "entries", ["feed", "run_id"])
    op.create_index("ix_entries_updated", "entries", ["updated_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE article_search (sequence INTEGER PRIMARY KEY, "
                   "document TSVECTOR NOT NULL)")
        op.execute("CREATE INDEX ix_article_search ON article_search USING GIN (document)")
    else:
        op.execute("CREATE VIRTUAL TABLE article_search USING fts5(title, body, content='')")


def downgrade() -> None:
    op.execute("DROP TABLE article_search")
    op.drop_index("ix_entries_updated", "entries")
    op.drop_index("ix_entries_feed_run", "entries")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("failure_detail")
        batch.drop_column("run_id")
