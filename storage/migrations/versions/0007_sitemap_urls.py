"""Each article URL of a sitemap source with its lastmod, as its files last listed it
(issue 18).

Revision ID: 0007_sitemap_urls
Revises: 0006_failed_pages
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sitemap_urls"
down_revision = "0006_failed_pages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sitemap_urls",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("entry_key", sa.String(512), primary_key=True),
        sa.Column("lastmod", sa.Date, nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sitemap_urls")
