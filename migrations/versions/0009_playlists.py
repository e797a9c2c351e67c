"""playlists: a person's ordered lists of videos

``playlists`` belong to a user (a browser or a profile); ``playlist_items`` name videos by
fingerprint (``media_hash``), so an item follows its file through renames and moves, at an
integer ``position``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "playlists",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("loop", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_playlists_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    op.create_index("ix_playlists_user_name", "playlists", ["user_id", "name"])
    op.create_table(
        "playlist_items",
        sa.Column("id", _ID, nullable=False),
        sa.Column("playlist_id", _ID, nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_items_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlist_items")),
        sa.UniqueConstraint("playlist_id", "media_hash", name="uq_playlist_items_playlist_media"),
    )
    op.create_index("ix_playlist_items_order", "playlist_items", ["playlist_id", "position", "id"])


def downgrade() -> None:
    op.drop_index("ix_playlist_items_order", table_name="playlist_items")
    op.drop_table("playlist_items")
    op.drop_index("ix_playlists_user_name", table_name="playlists")
    op.drop_table("playlists")
