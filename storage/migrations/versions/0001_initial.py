"""The index as it was before migrations existed (what `metadata.create_all` made).

A database created that way is stamped with this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2025-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_table(
        "articles",
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("published", sa.Date, nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_name", sa.String(128), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("writer", sa.String(160), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=True),
        sa.Column("near_duplicate_of", sa.Integer, nullable=True),
    )
    op.create_index("ix_articles_url", "articles", ["url"])
    op.create_index("ix_articles_state", "articles", ["state"])
    op.create_table(
        "signature_bands",
        sa.Column("band", sa.String(40), primary_key=True),
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("config_fingerprint", sa.String(32), nullable=False),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_error_kind", sa.String(40), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("lease_owner", sa.String(160), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("articles_stored", sa.Integer, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("entry_key", sa.String(512), primary_key=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failure_kind", sa.String(40), nullable=True),
        sa.Column("article_sequence", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_entries_url", "entries", ["url"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(160), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("feeds_polled", sa.Integer, nullable=False),
        sa.Column("entries_seen", sa.Integer, nullable=False),
        sa.Column("articles_stored", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("near_duplicates", sa.Integer, nullable=False),
        sa.Column("filtered", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_failures_run", "failures", ["run_id"])


def downgrade() -> None:
    for index_name, table in (("ix_failures_run", "failures"), ("ix_entries_url", "entries"),
                              ("ix_articles_state", "articles"),
                              ("ix_articles_url", "articles")):
        op.drop_index(index_name, table_name=table)
    for table in ("failures", "runs", "entries", "feeds", "signature_bands", "articles",
                  "counters"):
        op.drop_table(table)
