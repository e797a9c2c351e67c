"""stream facts on media, for playback plans (direct, remux, transcode)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("video_tag", sa.String(8), nullable=True),
        sa.Column("video_profile", sa.String(32), nullable=True),
        sa.Column("video_level", sa.Integer(), nullable=True),
        sa.Column("pix_fmt", sa.String(32), nullable=True),
        sa.Column("bit_depth", sa.SmallInteger(), nullable=True),
        sa.Column("frame_rate", sa.Float(), nullable=True),
        sa.Column("rotation", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("interlaced", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("audio_channels", sa.SmallInteger(), nullable=True),
        sa.Column("audio_sample_rate", sa.Integer(), nullable=True),
        # 0: probed before stream facts were recorded; the next scan probes the file again.
        sa.Column("probe_version", sa.SmallInteger(), nullable=False, server_default="0"),
    )


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch (copy-and-rename) table on SQLite would drop
    # the triggers on ``media`` that migration 0004 made.
    for column in _columns():
        op.add_column("media", column)


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column("media", column.name)
