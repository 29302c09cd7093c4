"""The sitemap files of sitemap sources as last read (issue 18): each child's lastmod as its
index lists it, its validators, and whether it is an index itself.

Revision ID: 0005_sitemap_files
Revises: 0004_entry_fates
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_sitemap_files"
down_revision = "0004_entry_fates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sitemap_files",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("parent", sa.String(2048), nullable=False),
        sa.Column("lastmod", sa.String(64), nullable=True),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("is_index", sa.Boolean, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sitemap_files")
