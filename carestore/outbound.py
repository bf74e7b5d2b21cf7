"""Outbound calls as plain records, and the reads the application makes of them.

Writes (scheduling, claiming due calls with row locks, recording attempts) live with the rules
that make them in `ivr.outbound`; this module only turns rows into frozen records and answers
questions about what is stored (`OutboundRecords(store)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from carestore.db import Store
from carestore.outbound_models import (
    OutboundAttemptRow,
    OutboundCallRow,
    OutboundPlanRow,
    OutboundPreferencesRow,
    SurveyResponseRow,
)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class OutboundPreferences:
    """When a customer may be called (local times in `timezone`)."""

    customer_id: int
    timezone: str
    window_from: str | None
    window_until: str | None


@dataclass(frozen=True)
class OutboundPlan:
    """What a customer agreed to be called for, with the consent on record."""

    id: int
    customer_id: int
    kind: str
    opted_in: bool
    weekday: int | None
    time_of_day: str | None
    consent_by: str | None
    consent_at: datetime | None
    consent_method: str | None
    active: bool
    created_by: str
    created_at: datetime

    @property
    def has_consent(self) -> bool:
        """True when a consent (who, when, how) is on record."""
        return bool(self.consent_by and self.consent_at and self.consent_method)

    @property
    def callable(self) -> bool:
        """True when this plan may lead to calls: active, opted in, consent on record."""
        return self.active and self.opted_in and self.has_consent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class OutboundAttempt:
    """One dial of an outbound call."""

    id: int
    outbound_call_id: int
    number: int
    outbox_key: str
    to_number: str
    provider_sid: str | None
    started_at: datetime
    answered_by: str | None
    result: str
    outcome: str | None
    detail: dict[str, Any] | None
    ended_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class OutboundCall:
    """One call the service places, as stored."""

    id: int
    key: str
    customer_id: int
    kind: str
    topic: str | None
    plan_id: int | None
    ticket_id: int | None
    escalation_id: int | None
    agent: str | None
    scheduled_for: datetime
    due_at: datetime
    status: str
    attempts: int
    max_attempts: int
    retry_after_s: int
    deferred_count: int
    deferred_reason: str | None
    outcome: str | None
    result: dict[str, Any] | None
    raised_escalation_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SurveyResponse:
    """The answers of one satisfaction call-back."""

    id: int
    outbound_call_id: int
    customer_id: int | None
    ticket_id: int | None
    escalation_id: int | None
    agent: str | None
    score: int | None
    resolved: bool | None
    via: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {k: _iso(v) for k, v in asdict(self).items()}


def preferences_record(row: OutboundPreferencesRow) -> OutboundPreferences:
    """The record of a preferences row."""
    return OutboundPreferences(row.customer_id, row.timezone, row.window_from, row.window_until)


def plan_record(row: OutboundPlanRow) -> OutboundPlan:
    """The record of a plan row."""
    return OutboundPlan(
        id=row.id,
        customer_id=row.customer_id,
        kind=row.kind,
        opted_in=bool(row.opted_in),
        weekday=row.weekday,
        time_of_day=row.time_of_day,
        consent_by=row.consent_by,
        consent_at=row.consent_at,
        consent_method=row.consent_method,
        active=bool(row.active),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def call_record(row: OutboundCallRow) -> OutboundCall:
    """The record of an outbound call row."""
    return OutboundCall(
        id=row.id,
        key=row.idempotency_key,
        customer_id=row.customer_id,
        kind=row.kind,
        topic=row.topic,
        plan_id=row.plan_id,
        ticket_id=row.ticket_id,
        escalation_id=row.escalation_id,
        agent=row.agent,
        scheduled_for=row.scheduled_for,
        due_at=row.due_at,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        retry_after_s=row.retry_after_s,
        deferred_count=row.deferred_count,
        deferred_reason=row.deferred_reason,
        outcome=row.outcome,
        result=dict(row.result) if row.result is not None else None,
        raised_escalation_id=row.raised_escalation_id,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def attempt_record(row: OutboundAttemptRow) -> OutboundAttempt:
    """The record of an attempt row."""
    return OutboundAttempt(
        id=row.id,
        outbound_call_id=row.outbound_call_id,
        number=row.number,
        outbox_key=row.outbox_key,
        to_number=row.to_number,
        provider_sid=row.provider_sid,
        started_at=row.started_at,
        answered_by=row.answered_by,
        result=row.result,
        outcome=row.outcome,
        detail=dict(row.detail) if row.detail is not None else None,
        ended_at=row.ended_at,
    )


def survey_record(row: SurveyResponseRow) -> SurveyResponse:
    """The record of a survey response row."""
    return SurveyResponse(
        id=row.id,
        outbound_call_id=row.outbound_call_id,
        customer_id=row.customer_id,
        ticket_id=row.ticket_id,
        escalation_id=row.escalation_id,
        agent=row.agent,
        score=row.score,
        resolved=row.resolved,
        via=row.via,
        created_at=row.created_at,
    )


class OutboundRecords:
    """Reads of outbound calls, attempts, plans, preferences and survey answers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def call(self, call_id: int) -> OutboundCall | None:
        """One outbound call (None if there is no such call)."""
        with self.store.read() as session:
            row = session.get(OutboundCallRow, call_id)
            return None if row is None else call_record(row)

    def calls(
        self,
        *,
        status: tuple[str, ...] | None = None,
        due_before: datetime | None = None,
        customer_id: int | None = None,
        kind: str | None = None,
        limit: int = 200,
    ) -> list[OutboundCall]:
        """Outbound calls, soonest due first."""
        query = select(OutboundCallRow)
        if status:
            query = query.where(OutboundCallRow.status.in_(status))
        if due_before is not None:
            query = query.where(OutboundCallRow.due_at <= due_before)
        if customer_id is not None:
            query = query.where(OutboundCallRow.customer_id == customer_id)
        if kind is not None:
            query = query.where(OutboundCallRow.kind == kind)
        query = query.order_by(OutboundCallRow.due_at, OutboundCallRow.id).limit(limit)
        with self.store.read() as session:
            return [call_record(r) for r in session.scalars(query)]

    def attempts(self, call_id: int) -> list[OutboundAttempt]:
        """Every attempt of a call, in order."""
        with self.store.read() as session:
            rows = session.scalars(
                select(OutboundAttemptRow)
                .where(OutboundAttemptRow.outbound_call_id == call_id)
                .order_by(OutboundAttemptRow.number)
            )
            return [attempt_record(r) for r in rows]

    def attempt(self, attempt_id: int) -> OutboundAttempt | None:
        """One attempt by id."""
        with self.store.read() as session:
            row = session.get(OutboundAttemptRow, attempt_id)
            return None if row is None else attempt_record(row)

    def attempt_by_sid(self, provider_sid: str) -> OutboundAttempt | None:
        """The attempt whose provider call SID is `provider_sid`, if any."""
        with self.store.read() as session:
            row = session.scalars(
                select(OutboundAttemptRow)
                .where(OutboundAttemptRow.provider_sid == provider_sid)
                .order_by(OutboundAttemptRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else attempt_record(row)

    def plans(self, customer_id: int) -> list[OutboundPlan]:
        """The customer's plans."""
        with self.store.read() as session:
            rows = session.scalars(
                select(OutboundPlanRow)
                .where(OutboundPlanRow.customer_id == customer_id)
                .order_by(OutboundPlanRow.kind)
            )
            return [plan_record(r) for r in rows]

    def plan(self, customer_id: int, kind: str) -> OutboundPlan | None:
        """The customer's plan of `kind`, if any."""
        with self.store.read() as session:
            row = session.scalars(
                select(OutboundPlanRow).where(
                    OutboundPlanRow.customer_id == customer_id, OutboundPlanRow.kind == kind
                )
            ).first()
            return None if row is None else plan_record(row)

    def preferences(self, customer_id: int) -> OutboundPreferences | None:
        """The customer's stored preferences (None: the deployment's defaults apply)."""
        with self.store.read() as session:
            row = session.get(OutboundPreferencesRow, customer_id)
            return None if row is None else preferences_record(row)

    def survey_responses(
        self,
        *,
        ticket_id: int | None = None,
        escalation_id: int | None = None,
        agent: str | None = None,
    ) -> list[SurveyResponse]:
        """Survey answers, oldest first, optionally for one ticket, escalation or agent."""
        query = select(SurveyResponseRow).order_by(SurveyResponseRow.id)
        if ticket_id is not None:
            query = query.where(SurveyResponseRow.ticket_id == ticket_id)
        if escalation_id is not None:
            query = query.where(SurveyResponseRow.escalation_id == escalation_id)
        if agent is not None:
            query = query.where(SurveyResponseRow.agent == agent)
        with self.store.read() as session:
            return [survey_record(r) for r in session.scalars(query)]
