"""shows, seasons and folders: what a file's name says, and the scan's progress

Parsed from the path at scan time (``lvs.library.titles``): the show, season and episode of an
episode, a year, a date in the name, and the top-level folder (a collection). ``title_version``
0 means "not parsed yet": the next scan fills these in from the path alone, without reading the
file. ``scan_status`` is one row that the scanning process keeps up to date, so that every web
worker can say that a scan is running and how far it got.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("show_title", sa.String(256), nullable=True),
        sa.Column("show_key", sa.String(256), nullable=True),
        sa.Column("season", sa.SmallInteger(), nullable=True),
        sa.Column("episode", sa.Integer(), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("dated_on", sa.Date(), nullable=True),
        sa.Column("top_folder", sa.String(1024), nullable=True),
        sa.Column("title_version", sa.SmallInteger(), nullable=False, server_default="0"),
    )


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch (copy-and-rename) table on SQLite would drop
    # the triggers on ``media`` that migration 0004 made.
    for column in _columns():
        op.add_column("media", column)
    op.create_index("ix_media_by_show", "media", ["missing", "show_key", "season", "episode", "id"])
    op.create_index("ix_media_by_top_folder", "media", ["missing", "top_folder", "rel_path"])
    op.create_table(
        "scan_status",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("finished_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("heartbeat_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("files_found", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("files_done", sa.Integer(), nullable=False, server_default="0"),
        sa.CheckConstraint("id = 1", name=op.f("ck_scan_status_single_row")),
    )
    op.execute("INSERT INTO scan_status (id, files_found, files_done) VALUES (1, 0, 0)")


def downgrade() -> None:
    op.drop_table("scan_status")
    op.drop_index("ix_media_by_top_folder", table_name="media")
    op.drop_index("ix_media_by_show", table_name="media")
    for column in reversed(_columns()):
        op.drop_column("media", column.name)
