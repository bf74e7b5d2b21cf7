"""Voice-cue profiles: opt-out and the caller's voice baseline (`carestore/voice_models.py`).

Revision ID: 0004_voice_profile
Revises: 0003_web
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_voice_profile"
down_revision: str | None = "0003_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_profiles",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("cues_opt_out", sa.Boolean(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_voice_profiles_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_voice_profiles")),
    )


def downgrade() -> None:
    op.drop_table("voice_profiles")
