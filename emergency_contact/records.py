"""Data crossing the package boundary: triggers, escalations, decisions for the call session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emergency_contact.messages import CallerNotice


@dataclass(frozen=True)
class Trigger:
    """Why an escalation starts. `kind` is one of `policy.TRIGGER_KINDS`; `severity` None means
    the policy's; `evidence` is JSON-ready (phrases heard, distress score, key pressed...)."""

    kind: str
    severity: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Escalation:
    """An escalation as stored (the package is fetched separately)."""

    id: int
    call_sid: str | None
    customer_id: int | None
    channel: str
    trigger_kind: str
    severity: str
    evidence: dict[str, Any]
    actions: list[str]
    state: str
    agent_status: str
    agent_id: str | None
    agent_deadline_at: datetime | None
    answered_at: datetime | None
    contact_plan: list[int]
    contact_index: int
    contact_round: int
    accepted_contact_id: int | None
    contact_accepted_at: datetime | None
    confirmed_at: datetime | None
    raised_count: int
    next_check_at: datetime | None
    next_check_kind: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()
        }


@dataclass(frozen=True)
class EscalationEvent:
    """One stored event of an escalation."""

    id: int
    escalation_id: int
    at: datetime
    kind: str
    contact_id: int | None
    data: dict[str, Any] | None


@dataclass(frozen=True)
class Decision:
    """What the call session does now: play `notices` (slowly, not interruptible) and then,
    if `transfer`, hand the call on (the `/twilio/next` answer dials the agent with the
    package link); `handoff_url` is the agent's expiring link."""

    escalation_id: int
    severity: str
    trigger: Trigger
    transfer: bool
    notify_contacts: bool
    notices: list[CallerNotice]
    calm_text: str
    handoff_url: str | None
