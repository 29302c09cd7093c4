"""The page archive, re-extraction and extraction health.

`articles`: where each article's page is archived (WARC file, offset and length of its
response and metadata records), the extractor version and method that gave its text, and the
signals extraction health reads (text length, paragraphs, whether the feed's summary was
found in the text). `feeds.extraction_degraded`: the one-line reason while a feed's extraction
is degraded, else null. `article_events`: what re-extraction changed, per article.

Revision ID: 0003_archive
Revises: 0002_due_feeds
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_archive"
down_revision = "0002_due_feeds"
branch_labels = None
depends_on = None

_ARTICLE_COLUMNS = (
    ("archive_file", sa.String(200)),
    ("archive_offset", sa.BigInteger),
    ("archive_length", sa.Integer),
    ("extractor_version", sa.String(64)),
    ("method", sa.String(16)),
    ("text_length", sa.Integer),
    ("paragraphs", sa.Integer),
    ("summary_found", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        for name, kind in _ARTICLE_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_index("ix_articles_archive_file", "articles", ["archive_file"])
    op.create_index("ix_articles_feed", "articles", ["feed", "sequence"])
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("extraction_degraded", sa.Text, nullable=True))
    op.create_table(
        "article_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("old_file", sa.String(128), nullable=False),
        sa.Column("new_file", sa.String(128), nullable=True),
        sa.Column("similarity", sa.Float, nullable=True),
        sa.Column("duplicate_of", sa.Integer, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_article_events_run", "article_events", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_article_events_run", "article_events")
    op.drop_table("article_events")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("extraction_degraded")
    op.drop_index("ix_articles_feed", "articles")
    op.drop_index("ix_articles_archive_file", "articles")
    with op.batch_alter_table("articles") as batch:
        for name, _ in reversed(_ARTICLE_COLUMNS):
            batch.drop_column(name)
