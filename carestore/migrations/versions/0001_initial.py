"""Initial schema: customers, accounts, calls, transcript segments, dialog events, tickets with
status history, Twilio status callbacks.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TICKET_STATUSES = "('received', 'in_progress', 'waiting_for_customer', 'resolved')"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("account_number", sa.String(32), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=True),
        sa.Column("preferred_rate_wpm", sa.Integer(), nullable=True),
        sa.Column("keypad_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("phone", name="uq_customers_phone"),
        sa.UniqueConstraint("account_number", name="uq_customers_account_number"),
    )
    op.create_table(
        "twilio_status_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_twilio_status_callbacks"),
    )
    op.create_index("ix_twilio_status_callbacks_call_sid", "twilio_status_callbacks", ["call_sid"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("next_payment_amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("next_payment_date", sa.Date(), nullable=True),
        sa.Column("maturing_product", sa.String(200), nullable=True),
        sa.Column("maturing_date", sa.Date(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("customer_id", name="uq_accounts_customer_id"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_accounts_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=True),
        sa.Column("to_number", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("preferred_rate_wpm", sa.Integer(), nullable=True),
        sa.Column("last_segment_seq", sa.Integer(), nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.CheckConstraint("channel IN ('phone', 'kiosk')", name="ck_calls_channel"),
        sa.CheckConstraint("direction IN ('inbound', 'outbound')", name="ck_calls_direction"),
        sa.UniqueConstraint("call_sid", name="uq_calls_call_sid"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_calls_customer_id_customers",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_calls_customer_id", "calls", ["customer_id"])
    op.create_table(
        "dialog_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("state_from", sa.String(64), nullable=True),
        sa.Column("state_to", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dialog_events"),
        sa.UniqueConstraint("call_id", "seq", name="uq_dialog_events_call_id_seq"),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_dialog_events_call_id_calls", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.CheckConstraint(f"status IN {TICKET_STATUSES}", name="ck_tickets_status"),
        sa.UniqueConstraint("reference", name="uq_tickets_reference"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_tickets_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_tickets_call_id_calls", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_tickets_customer_id", "tickets", ["customer_id"])
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("audio_start_s", sa.Float(), nullable=True),
        sa.Column("audio_end_s", sa.Float(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transcript_segments"),
        sa.UniqueConstraint("call_id", "seq", name="uq_transcript_segments_call_id_seq"),
        sa.CheckConstraint(
            "speaker IN ('caller', 'system', 'agent')", name="ck_transcript_segments_speaker"
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name="fk_transcript_segments_call_id_calls",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "ticket_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("status_from", sa.String(24), nullable=True),
        sa.Column("status_to", sa.String(24), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_status_history"),
        sa.CheckConstraint(
            f"status_to IN {TICKET_STATUSES}", name="ck_ticket_status_history_status_to"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_status_history_ticket_id_tickets",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_ticket_status_history_ticket_id", "ticket_status_history", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_status_history")
    op.drop_table("transcript_segments")
    op.drop_table("tickets")
    op.drop_table("dialog_events")
    op.drop_table("calls")
    op.drop_table("accounts")
    op.drop_table("twilio_status_callbacks")
    op.drop_table("customers")
