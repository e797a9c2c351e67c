"""dead schema gone: media.seen_at and the two media_stats indexes nothing reads

``media.seen_at`` was never written or read. ``ix_media_stats_rating`` and
``ix_media_stats_views`` were made for sorting, but the library sorts on the copies of those
figures on ``media`` (migration 0004, ``ix_media_by_rating``/``ix_media_by_views``); every
rating and view write still had to update them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_media_stats_views", table_name="media_stats")
    op.drop_index("ix_media_stats_rating", table_name="media_stats")
    # Plain DROP COLUMN on both databases (SQLite 3.35+): a batch (copy-and-rename) table on
    # SQLite would drop the triggers on ``media`` that migration 0004 made.
    op.drop_column("media", "seen_at")


def downgrade() -> None:
    op.add_column("media", sa.Column("seen_at", DateTimeUTC(timezone=True), nullable=True))
    op.create_index("ix_media_stats_rating", "media_stats", ["rating_avg"], unique=False)
    op.create_index("ix_media_stats_views", "media_stats", ["view_count"], unique=False)
