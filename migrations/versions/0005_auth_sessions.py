"""auth sessions: one row per logged-in browser, so logout and sign-out-everywhere revoke

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

sa.DateTimeUTC = DateTimeUTC  # type: ignore[attr-defined]


def upgrade() -> None:
    # ``id`` is the SHA-256 of the random token in the browser's signed session cookie (a copy
    # of this table names no usable cookie); ``password_tag`` ties the login to the password it
    # was made with, so changing LVS_PASSWORD ends every session made with the old one.
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("password_tag", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )


def downgrade() -> None:
    op.drop_table("auth_sessions")
