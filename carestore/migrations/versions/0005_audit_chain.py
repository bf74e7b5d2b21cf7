"""Hash-chained audit log (issue 8): placeholder, filled in by the audit work.

Revision ID: 0005_audit_chain
Revises: 0004_voice_profile
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005_audit_chain"
down_revision: str | None = "0004_voice_profile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
