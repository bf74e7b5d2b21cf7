"""Outbound calls (issue 8): preferences, plans with consent, calls, attempts, survey answers
(`carestore/outbound_models.py`).

Revision ID: 0006_outbound
Revises: 0005_audit_chain
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_outbound"
down_revision: str | None = "0005_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
KINDS = "kind IN ('checkin', 'reminder', 'survey')"


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "outbound_preferences",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("window_from", sa.String(length=5), nullable=True),
        sa.Column("window_until", sa.String(length=5), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _fk("outbound_preferences", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_outbound_preferences")),
    )
    op.create_table(
        "outbound_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("time_of_day", sa.String(length=5), nullable=True),
        sa.Column("consent_by", sa.String(length=200), nullable=True),
        sa.Column("consent_at", TS, nullable=True),
        sa.Column("consent_method", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(KINDS, name=op.f("ck_outbound_plans_kind")),
        sa.CheckConstraint(
            "consent_method IN ('phone', 'kiosk', 'staff', 'written')",
            name=op.f("ck_outbound_plans_consent_method"),
        ),
        sa.CheckConstraint(
            "weekday IS NULL OR weekday BETWEEN 0 AND 6", name=op.f("ck_outbound_plans_weekday")
        ),
        _fk("outbound_plans", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_plans")),
        sa.UniqueConstraint("customer_id", "kind", name=op.f("uq_outbound_plans_customer_id_kind")),
    )
    op.create_table(
        "outbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("scheduled_for", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_after_s", sa.Integer(), nullable=False),
        sa.Column("deferred_count", sa.Integer(), nullable=False),
        sa.Column("deferred_reason", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("raised_escalation_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(KINDS, name=op.f("ck_outbound_calls_kind")),
        sa.CheckConstraint(
            "status IN ('scheduled', 'dialing', 'in_progress', 'completed', 'unanswered', "
            "'failed', 'cancelled', 'dry_run')",
            name=op.f("ck_outbound_calls_status"),
        ),
        _fk("outbound_calls", "customer_id", "customers", "CASCADE"),
        _fk("outbound_calls", "plan_id", "outbound_plans", "SET NULL"),
        _fk("outbound_calls", "ticket_id", "tickets", "SET NULL"),
        _fk("outbound_calls", "escalation_id", "escalations", "SET NULL"),
        _fk("outbound_calls", "raised_escalation_id", "escalations", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_calls")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_calls_idempotency_key")),
    )
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbound_calls_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_outbound_calls_status_due_at", ["status", "due_at"], unique=False)
    op.create_table(
        "outbound_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbound_call_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("outbox_key", sa.String(length=128), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_by", sa.String(length=32), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.CheckConstraint(
            "result IN ('queued', 'answered_human', 'machine', 'no_answer', 'busy', 'failed', "
            "'completed', 'dry_run', 'no_status')",
            name=op.f("ck_outbound_attempts_result"),
        ),
        _fk("outbound_attempts", "outbound_call_id", "outbound_calls", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_attempts")),
        sa.UniqueConstraint(
            "outbound_call_id", "number", name=op.f("uq_outbound_attempts_outbound_call_id_number")
        ),
    )
    with op.batch_alter_table("outbound_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbound_attempts_outbound_call_id"), ["outbound_call_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_attempts_provider_sid"), ["provider_sid"], unique=False
        )
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbound_call_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "score IS NULL OR score BETWEEN 1 AND 5", name=op.f("ck_survey_responses_score")
        ),
        sa.CheckConstraint(
            "via IN ('voice', 'keypad', 'both')", name=op.f("ck_survey_responses_via")
        ),
        _fk("survey_responses", "outbound_call_id", "outbound_calls", "CASCADE"),
        _fk("survey_responses", "customer_id", "customers", "SET NULL"),
        _fk("survey_responses", "ticket_id", "tickets", "SET NULL"),
        _fk("survey_responses", "escalation_id", "escalations", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("outbound_call_id", name=op.f("uq_survey_responses_outbound_call_id")),
    )
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_responses_agent"), ["agent"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_survey_responses_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_responses_customer_id"))
        batch_op.drop_index(batch_op.f("ix_survey_responses_agent"))
    op.drop_table("survey_responses")
    with op.batch_alter_table("outbound_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_attempts_provider_sid"))
        batch_op.drop_index(batch_op.f("ix_outbound_attempts_outbound_call_id"))
    op.drop_table("outbound_attempts")
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_calls_status_due_at")
        batch_op.drop_index(batch_op.f("ix_outbound_calls_customer_id"))
    op.drop_table("outbound_calls")
    op.drop_table("outbound_plans")
    op.drop_table("outbound_preferences")
