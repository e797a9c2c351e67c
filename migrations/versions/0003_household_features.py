"""household features

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:01:15.723154
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

sa.GUID = GUID  # type: ignore[attr-defined]
sa.DateTimeUTC = DateTimeUTC  # type: ignore[attr-defined]


_TAGS_OF = (
    "(SELECT group_concat(t.name, ' ') FROM media_tags mt JOIN tags t ON t.id = mt.tag_id"
    " WHERE mt.media_hash = {hash})"
)

# Full-text search over title, path and tags (SQLite FTS5), kept in step by triggers, so every
# writer (the scanner's bulk inserts, the tag service) updates it without knowing it exists.
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE media_fts USING fts5(title, rel_path, tags,"
    " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
    "INSERT INTO media_fts (rowid, title, rel_path, tags) SELECT id, title, rel_path, '' FROM media",
    "CREATE TRIGGER media_fts_ai AFTER INSERT ON media BEGIN"
    " INSERT INTO media_fts (rowid, title, rel_path, tags) VALUES"
    f" (new.id, new.title, new.rel_path, coalesce({_TAGS_OF.format(hash='new.media_hash')}, ''));"
    " END",
    "CREATE TRIGGER media_fts_ad AFTER DELETE ON media BEGIN"
    " DELETE FROM media_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER media_fts_au AFTER UPDATE OF title, rel_path, media_hash ON media BEGIN"
    " DELETE FROM media_fts WHERE rowid = old.id;"
    " INSERT INTO media_fts (rowid, title, rel_path, tags) VALUES"
    f" (new.id, new.title, new.rel_path, coalesce({_TAGS_OF.format(hash='new.media_hash')}, ''));"
    " END",
    "CREATE TRIGGER media_tags_fts_ai AFTER INSERT ON media_tags BEGIN"
    f" UPDATE media_fts SET tags = coalesce({_TAGS_OF.format(hash='new.media_hash')}, '')"
    " WHERE rowid IN (SELECT id FROM media WHERE media_hash = new.media_hash); END",
    "CREATE TRIGGER media_tags_fts_ad AFTER DELETE ON media_tags BEGIN"
    f" UPDATE media_fts SET tags = coalesce({_TAGS_OF.format(hash='old.media_hash')}, '')"
    " WHERE rowid IN (SELECT id FROM media WHERE media_hash = old.media_hash); END",
)


def upgrade() -> None:
    op.create_table(
        "media_stats",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_avg", sa.Float(), nullable=True),
        sa.Column("view_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_stats")),
        sa.UniqueConstraint("media_hash", name=op.f("uq_media_stats_media_hash")),
    )
    with op.batch_alter_table("media_stats", schema=None) as batch_op:
        batch_op.create_index("ix_media_stats_rating", ["rating_avg"], unique=False)
        batch_op.create_index("ix_media_stats_views", ["view_count"], unique=False)

    op.create_table(
        "tags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("key", name=op.f("uq_tags_key")),
    )
    op.create_table(
        "favorites",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.GUID(length=16), nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint("user_id", "media_hash", name="uq_favorites_user_media"),
    )
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favorites_media_hash"), ["media_hash"], unique=False)

    op.create_table(
        "media_tags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_media_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_tags")),
        sa.UniqueConstraint("media_hash", "tag_id", name="uq_media_tags_media_tag"),
    )
    with op.batch_alter_table("media_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_tags_media_hash"), ["media_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_tags_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.GUID(length=16), nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_positions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("user_id", "media_hash", name="uq_positions_user_media"),
    )
    op.create_table(
        "views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.GUID(length=16), nullable=False),
        sa.Column("media_hash", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_views_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_views")),
    )
    with op.batch_alter_table("views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_views_media_hash"), ["media_hash"], unique=False)
        batch_op.create_index(
            "ix_views_user_media_created", ["user_id", "media_hash", "created_at"], unique=False
        )

    # Household aggregates for ratings already given.
    op.execute(
        "INSERT INTO media_stats (media_hash, rating_sum, rating_count, rating_avg, view_count,"
        " created_at, updated_at)"
        " SELECT media_hash, SUM(value), COUNT(*), AVG(value * 1.0), 0,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM ratings GROUP BY media_hash"
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "media_fts_ai",
            "media_fts_ad",
            "media_fts_au",
            "media_tags_fts_ai",
            "media_tags_fts_ad",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS media_fts")
    with op.batch_alter_table("views", schema=None) as batch_op:
        batch_op.drop_index("ix_views_user_media_created")
        batch_op.drop_index(batch_op.f("ix_views_media_hash"))

    op.drop_table("views")
    op.drop_table("positions")
    with op.batch_alter_table("media_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_tags_tag_id"))
        batch_op.drop_index(batch_op.f("ix_media_tags_media_hash"))

    op.drop_table("media_tags")
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favorites_media_hash"))

    op.drop_table("favorites")
    op.drop_table("tags")
    with op.batch_alter_table("media_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_media_stats_views")
        batch_op.drop_index("ix_media_stats_rating")

    op.drop_table("media_stats")
