"""Failed pages in the archive.

`failed_pages`: for each entry whose page was fetched but gave no text (no_article_text and
the other extraction failures), where its archived records are, so `reextract` can try the
page again and store the article when the extractor now finds text.

Revision ID: 0006_failed_pages
Revises: 0005_sitemap_files
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_failed_pages"
down_revision = "0005_sitemap_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_pages",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("entry_key", sa.String(512), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("failure_kind", sa.String(40), nullable=False),
        sa.Column("archive_file", sa.String(200), nullable=False),
        sa.Column("archive_offset", sa.BigInteger, nullable=False),
        sa.Column("archive_length", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_failed_pages_archive_file", "failed_pages", ["archive_file"])


def downgrade() -> None:
    op.drop_index("ix_failed_pages_archive_file", "failed_pages")
    op.drop_table("failed_pages")
