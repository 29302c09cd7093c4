"""Due-feed checks that cost what is due, not what is configured.

`feeds.scheduled`: the feed is in the configuration and enabled, so a scheduled run may poll
it without sending every configured name (an IN list of 100,000 names per claim).
`ix_feeds_due` (suspended, scheduled, next_poll_at): the claim reads the due feeds in next-poll
order from the index and stops at its batch. `ix_feeds_lease_owner`: lease renewal, release and
recovery find one writer's leases without reading every feed. `ix_runs_state`: every run start
looks for runs a dead process left "running", and a service with feeds due at every check
adds a run row every `check_every_seconds`.

Revision ID: 0002_due_feeds
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_due_feeds"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("scheduled", sa.Boolean, nullable=False,
                                   server_default=sa.true()))
    op.create_index("ix_feeds_due", "feeds", ["suspended", "scheduled", "next_poll_at"])
    op.create_index("ix_feeds_lease_owner", "feeds", ["lease_owner"])
    op.create_index("ix_runs_state", "runs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_runs_state", "runs")
    op.drop_index("ix_feeds_lease_owner", "feeds")
    op.drop_index("ix_feeds_due", "feeds")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("scheduled")
