"""Expiring hand-off link tokens: random, only their SHA-256 stored, every view audited."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carestore.escalation_models import HandoffTokenRow
from carestore.timeutil import utcnow
from emergency_contact.audit import audit

AUDIENCES = ("agent", "contact")


class LinkError(LookupError):
    """The token is unknown or expired (the message says which)."""


@dataclass(frozen=True)
class LinkGrant:
    """What a valid token opens."""

    escalation_id: int
    audience: str
    contact_id: int | None
    expires_at: datetime
    views: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    escalation_id: int,
    audience: str,
    ttl_s: float,
    contact_id: int | None = None,
) -> str:
    """A new token for the escalation's package (stored hashed) valid for `ttl_s` seconds."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    token = secrets.token_urlsafe(24)
    now = utcnow()
    session.add(
        HandoffTokenRow(
            token_hash=_digest(token),
            escalation_id=escalation_id,
            audience=audience,
            contact_id=contact_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    return token


def open_token(session: Session, token: str, viewer: str) -> LinkGrant:
    """Check a token and audit the view (viewer: e.g. the client address); LinkError if the
    token is unknown or expired (expired attempts are audited too)."""
    row = session.scalars(
        select(HandoffTokenRow).where(HandoffTokenRow.token_hash == _digest(token or ""))
    ).first()
    if row is None:
        raise LinkError("this link is not valid")
    now = utcnow()
    if row.expires_at <= now:
        audit(
            session,
            viewer,
            "handoff_link_expired",
            "escalation",
            row.escalation_id,
            None,
            {"token_id": row.id, "audience": row.audience},
        )
        raise LinkError("this link has expired")
    session.execute(
        update(HandoffTokenRow)
        .where(HandoffTokenRow.id == row.id)
        .values(views=HandoffTokenRow.views + 1)
    )
    audit(
        session,
        viewer,
        "handoff_link_viewed",
        "escalation",
        row.escalation_id,
        None,
        {"token_id": row.id, "audience": row.audience, "contact_id": row.contact_id},
    )
    return LinkGrant(row.escalation_id, row.audience, row.contact_id, row.expires_at, row.views + 1)
