"""library totals and sortable figures on media, kept by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BUMP = "UPDATE library_totals SET present = present + ({delta}) WHERE id = 1"

SQLITE = (
    "CREATE TRIGGER media_count_ai AFTER INSERT ON media WHEN NOT new.missing BEGIN "
    + _BUMP.format(delta="1")
    + "; END",
    "CREATE TRIGGER media_count_ad AFTER DELETE ON media WHEN NOT old.missing BEGIN "
    + _BUMP.format(delta="-1")
    + "; END",
    "CREATE TRIGGER media_count_au AFTER UPDATE OF missing ON media"
    " WHEN old.missing IS NOT new.missing BEGIN "
    + _BUMP.format(delta="CASE WHEN new.missing THEN -1 ELSE 1 END")
    + "; END",
)

_FIGURES = "rating_avg, rating_count, view_count"
SQLITE_FIGURES = (
    # media_stats -> every media row of that fingerprint
    "CREATE TRIGGER media_stats_ai AFTER INSERT ON media_stats BEGIN"
    " UPDATE media SET rating_avg = new.rating_avg, rating_count = new.rating_count,"
    " view_count = new.view_count WHERE media_hash = new.media_hash; END",
    "CREATE TRIGGER media_stats_au AFTER UPDATE ON media_stats BEGIN"
    " UPDATE media SET rating_avg = new.rating_avg, rating_count = new.rating_count,"
    " view_count = new.view_count WHERE media_hash = new.media_hash; END",
    # a new (or changed) file takes the figures its fingerprint already has
    "CREATE TRIGGER media_figures_ai AFTER INSERT ON media BEGIN"
    f" UPDATE media SET ({_FIGURES}) = (SELECT {_FIGURES} FROM media_stats"
    " WHERE media_hash = new.media_hash) WHERE id = new.id"
    " AND EXISTS (SELECT 1 FROM media_stats WHERE media_hash = new.media_hash); END",
    "CREATE TRIGGER media_figures_au AFTER UPDATE OF media_hash ON media BEGIN"
    f" UPDATE media SET ({_FIGURES}) = (SELECT coalesce(max(rating_avg), NULL),"
    " coalesce(max(rating_count), 0), coalesce(max(view_count), 0) FROM media_stats"
    " WHERE media_hash = new.media_hash) WHERE id = new.id; END",
)

POSTGRESQL_FIGURES = (
    """
    CREATE FUNCTION lvs_media_stats_sync() RETURNS trigger AS $$
    BEGIN
      UPDATE media SET rating_avg = NEW.rating_avg, rating_count = NEW.rating_count,
                       view_count = NEW.view_count
       WHERE media_hash = NEW.media_hash;
      RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER media_stats_sync AFTER INSERT OR UPDATE ON media_stats"
    " FOR EACH ROW EXECUTE FUNCTION lvs_media_stats_sync()",
    """
    CREATE FUNCTION lvs_media_figures() RETURNS trigger AS $$
    DECLARE s media_stats%ROWTYPE;
    BEGIN
      SELECT * INTO s FROM media_stats WHERE media_hash = NEW.media_hash;
      NEW.rating_avg := s.rating_avg;
      NEW.rating_count := coalesce(s.rating_count, 0);
      NEW.view_count := coalesce(s.view_count, 0);
      RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER media_figures BEFORE INSERT OR UPDATE OF media_hash ON media"
    " FOR EACH ROW EXECUTE FUNCTION lvs_media_figures()",
)

POSTGRESQL = (
    """
    CREATE FUNCTION lvs_media_count() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF NOT NEW.missing THEN UPDATE library_totals SET present = present + 1 WHERE id = 1; END IF;
        RETURN NEW;
      ELSIF TG_OP = 'DELETE' THEN
        IF NOT OLD.missing THEN UPDATE library_totals SET present = present - 1 WHERE id = 1; END IF;
        RETURN OLD;
      ELSE
        IF OLD.missing IS DISTINCT FROM NEW.missing THEN
          UPDATE library_totals
             SET present = present + (CASE WHEN NEW.missing THEN -1 ELSE 1 END) WHERE id = 1;
        END IF;
        RETURN NEW;
      END IF;
    END
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER media_count AFTER INSERT OR DELETE OR UPDATE OF missing ON media"
    " FOR EACH ROW EXECUTE FUNCTION lvs_media_count()",
)


def upgrade() -> None:
    op.create_table(
        "library_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("present", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_library_totals_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_totals")),
    )
    op.execute(
        "INSERT INTO library_totals (id, present) SELECT 1, COUNT(*) FROM media WHERE NOT missing"
    )
    op.add_column("media", sa.Column("rating_avg", sa.Float(), nullable=True))
    op.add_column(
        "media", sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "media", sa.Column("view_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(
        f"UPDATE media SET ({_FIGURES}) = (SELECT {_FIGURES} FROM media_stats"
        " WHERE media_stats.media_hash = media.media_hash)"
        " WHERE media_hash IN (SELECT media_hash FROM media_stats)"
    )
    op.create_index("ix_media_by_rating", "media", ["missing", "rating_avg", "rating_count", "id"])
    op.create_index("ix_media_by_views", "media", ["missing", "view_count", "id"])
    op.create_index("ix_media_by_duration", "media", ["missing", "duration", "id"])
    op.create_index("ix_media_by_title", "media", ["missing", sa.text("lower(title)"), "id"])
    op.create_index("ix_media_by_folder", "media", ["missing", "rel_path"])
    dialect = op.get_bind().dialect.name
    for statement in (
        SQLITE + SQLITE_FIGURES if dialect == "sqlite" else POSTGRESQL + POSTGRESQL_FIGURES
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "media_count_ai",
            "media_count_ad",
            "media_count_au",
            "media_stats_ai",
            "media_stats_au",
            "media_figures_ai",
            "media_figures_au",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS media_count ON media")
        op.execute("DROP FUNCTION IF EXISTS lvs_media_count()")
        op.execute("DROP TRIGGER IF EXISTS media_stats_sync ON media_stats")
        op.execute("DROP FUNCTION IF EXISTS lvs_media_stats_sync()")
        op.execute("DROP TRIGGER IF EXISTS media_figures ON media")
        op.execute("DROP FUNCTION IF EXISTS lvs_media_figures()")
    for name in (
        "ix_media_by_folder",
        "ix_media_by_title",
        "ix_media_by_duration",
        "ix_media_by_views",
    ):
        op.drop_index(name, table_name="media")
    op.drop_index("ix_media_by_rating", table_name="media")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild of ``media`` would
    # drop the search triggers that migration 0003 made.
    for column in ("view_count", "rating_count", "rating_avg"):
        op.execute(f"ALTER TABLE media DROP COLUMN {column}")
    op.drop_table("library_totals")
