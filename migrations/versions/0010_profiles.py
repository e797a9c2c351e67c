"""household profiles and their allowances

A profile is a ``users`` row with a name: the anonymous per-browser users stay as they are (name
NULL), so every rating, favorite, view and position they have is kept by construction. Named
profiles may be the admin, have a PIN (its Argon2 hash) and be ``restricted`` to the folders and
tags listed in ``profile_allowances``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("avatar", sa.String(16), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("pin_hash", sa.String(256), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def upgrade() -> None:
    for column in _columns():  # plain ADD COLUMN: nothing is copied, no row is touched
        op.add_column("users", column)
    op.create_table(
        "profile_allowances",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(1024), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('folder', 'tag')", name=op.f("ck_profile_allowances_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_profile_allowances_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_allowances")),
        sa.UniqueConstraint(
            "user_id", "kind", "value", name="uq_profile_allowances_user_kind_value"
        ),
    )
    op.create_index(
        op.f("ix_profile_allowances_user_id"), "profile_allowances", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_profile_allowances_user_id"), table_name="profile_allowances")
    op.drop_table("profile_allowances")
    with op.batch_alter_table("users") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
