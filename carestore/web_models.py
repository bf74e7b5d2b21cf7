"""Tables of the web pages (agent console and kiosk): staff users and their sign-in attempts,
agents' notes on escalations, and follow-up / satisfaction call-backs to make later.

Every view of personal data through the pages goes to the existing `audit_log` table
(`carestore.escalation_models.AuditRow`, action "viewed").
Migration: `migrations/versions/0003_web.py` writes the same schema out explicitly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carestore.models import Base, _in
from carestore.timeutil import utcnow

ROLES = ("agent", "kiosk_staff", "supervisor", "admin")
NOTE_KINDS = ("note", "outcome", "ticket")
FOLLOW_UP_KINDS = ("follow_up", "satisfaction")
FOLLOW_UP_STATUSES = ("pending", "done", "cancelled")


class UserRow(Base):
    """A member of staff who signs in to the pages."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)  # bump: sign out everywhere
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class LoginAttemptRow(Base):
    """One sign-in attempt (lock-out counts the recent failures of a username)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    client: Mapped[str | None] = mapped_column(String(64))


class AgentNoteRow(Base):
    """A note an agent wrote on an escalation (also outcomes and ticket changes they made)."""

    __tablename__ = "agent_notes"
    __table_args__ = (CheckConstraint(_in("kind", NOTE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="note")
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUpRow(Base):
    """A call to make later: a follow-up, or a satisfaction call-back (a scheduler runs them)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint(_in("kind", FOLLOW_UP_KINDS), name="kind"),
        CheckConstraint(_in("status", FOLLOW_UP_STATUSES), name="status"),
        Index("ix_follow_ups_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
