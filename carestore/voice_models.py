"""Voice-cue profile of a customer: whether they opted out of voice cues, and their voice
baseline (learned from calm answers, so later calls compare with their own normal voice).
Migration: `migrations/versions/0004_voice_profile.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from carestore.models import Base
from carestore.timeutil import utcnow


class VoiceProfileRow(Base):
    """One row per customer who has a baseline or a choice about voice cues."""

    __tablename__ = "voice_profiles"

    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    cues_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
