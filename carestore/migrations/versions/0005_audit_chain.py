"""Hash-chained audit log (issue 8): `seq`, `prev_hash` and `entry_hash` on every audit entry
(existing entries are chained in id order), the one-row chain head, and `purged_at` (with an
index on `created_at`) on transcript segments for the retention purge.

Revision ID: 0005_audit_chain
Revises: 0004_voice_profile
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from carestore.audit_chain import CHAIN_STARTED, GENESIS_HASH, HEAD_ID, ChainFields
from carestore.audit_records import COVERED
from carestore.timeutil import UTCDateTime, utcnow

revision: str = "0005_audit_chain"
down_revision: str | None = "0004_voice_profile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# the audit table as this revision knows it (never the live model: later revisions change it)
_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity", sa.String()),
    sa.column("entity_id", sa.Integer()),
    sa.column("customer_id", sa.Integer()),
    sa.column("data", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("entry_hash", sa.String()),
)
_head = sa.table(
    "audit_chain_head",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("entry_hash", sa.String()),
    sa.column("updated_at", UTCDateTime()),
)


def _chain_existing_entries() -> tuple[int, str]:
    """Chain the entries written before this revision, oldest (lowest id) first."""
    bind = op.get_bind()
    seq, prev = 0, GENESIS_HASH
    rows = bind.execute(
        sa.select(
            _log.c.id,
            _log.c.at,
            _log.c.actor,
            _log.c.action,
            _log.c.entity,
            _log.c.entity_id,
            _log.c.customer_id,
            _log.c.data,
        ).order_by(_log.c.id)
    ).all()
    for row in rows:
        seq += 1
        digest = ChainFields(
            seq,
            row.at,
            row.actor,
            row.action,
            row.entity,
            row.entity_id,
            row.customer_id,
            row.data,
            prev,
        ).digest()
        bind.execute(
            sa.update(_log)
            .where(_log.c.id == row.id)
            .values(seq=seq, prev_hash=prev, entry_hash=digest)
        )
        prev = digest
    return seq, prev


def _start_chain(seq: int, prev: str) -> tuple[int, str]:
    """Append the entry that says which records predate the chain (they have no entry)."""
    bind = op.get_bind()
    before = {}
    for table in sorted(COVERED):
        ids = sa.table(table, sa.column("id", sa.Integer()))
        before[table] = int(bind.scalar(sa.select(sa.func.coalesce(sa.func.max(ids.c.id), 0))))
    seq, at, data = seq + 1, utcnow(), {"recorded_before_chain": before}
    digest = ChainFields(
        seq, at, "system", CHAIN_STARTED, "audit_log", None, None, data, prev
    ).digest()
    bind.execute(
        sa.insert(_log).values(
            seq=seq,
            at=at,
            actor="system",
            action=CHAIN_STARTED,
            entity="audit_log",
            entity_id=None,
            customer_id=None,
            data=data,
            prev_hash=prev,
            entry_hash=digest,
        )
    )
    return seq, digest


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))

    last_seq, last_hash = _start_chain(*_chain_existing_entries())

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])
        batch_op.create_index("ix_audit_log_entity_entity_id", ["entity", "entity_id"])

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.get_bind().execute(
        sa.insert(_head).values(id=HEAD_ID, seq=last_seq, entry_hash=last_hash, updated_at=utcnow())
    )

    with op.batch_alter_table("transcript_segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", TS, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_transcript_segments_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transcript_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcript_segments_created_at"))
        batch_op.drop_column("purged_at")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity_entity_id")
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
