"""What `ivr report` says, read from the store (not from a process's in-memory metrics), so it
covers every instance and survives restarts. `build_report(store, since)` returns a
`ServiceReport` of plain dataclasses; SQLite and PostgreSQL alike.

Sources: `calls` (channel, direction, outcome) with their hand-off events; caller segments of
`transcript_segments` (confidence, dialect, whether the answer was matched); `dialog_events`
(`state` entries, `failure` no-match/no-input, `caller_request` repeat/slower/person) for the
prompts callers struggle with, and `step_failed`/`dialog_error` for the faults that sent callers
to a person; `escalations` and `escalation_events` (time to a person, SLA
breaches, notification retries); `tickets`; and `outbound_attempts`/`outbound_calls` when the
database has them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, column, func, inspect, select, table
from sqlalchemy.orm import Session

from carestore.db import Store
from carestore.escalation_models import EscalationEventRow, EscalationRow
from carestore.models import CallRow, EventRow, SegmentRow, TicketRow, TicketStatusRow
from carestore.timeutil import utcnow
from ivr.metrics import WITHIN_S, call_outcome

FAULT_EVENTS = ("step_failed", "dialog_error")  # a backend step, or the dialog itself, failed
REPEAT_INTENTS = ("repeat", "slower")  # "say that again", "say it slower"
PERSON_INTENTS = ("person",)
UNKNOWN = "unknown"


# ------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class CallCount:
    """Calls of one channel (phone, kiosk, outbound) that ended one way."""

    channel: str
    outcome: str  # transferred | completed | caller_hung_up | in_progress
    count: int


@dataclass(frozen=True)
class DialectRecognition:
    """Spoken answers in one dialect: how many, how many were not understood, how sure."""

    dialect: str
    recognitions: int
    no_matches: int
    mean_confidence: float | None
    median_confidence: float | None

    @property
    def no_match_rate(self) -> float | None:
        """Share of answers not understood (None without answers)."""
        return self.no_matches / self.recognitions if self.recognitions else None


@dataclass(frozen=True)
class EscalationCount:
    """Escalations of one trigger kind at one severity."""

    trigger: str
    severity: str
    count: int


@dataclass(frozen=True)
class TimeToPerson:
    """Escalations queued for a person: how fast a person answered, SLA breaches."""

    to_person: int
    answered: int
    answered_within: int  # within `within_s` of the trigger
    within_s: float
    p50_s: float | None
    p95_s: float | None
    sla_breaches: int  # escalations with at least one breach in the period
    waits_s: tuple[float, ...] = ()

    @property
    def share_within(self) -> float | None:
        """Share of escalations queued for a person answered within `within_s` (as
        `EscalationService.stats`); None without any."""
        return self.answered_within / self.to_person if self.to_person else None


@dataclass(frozen=True)
class NotificationCount:
    """Notifications of one kind (contact_call, contact_sms, confirm_call...) that failed and
    were retried, or were given up on."""

    kind: str
    retries: int
    given_up: int


@dataclass(frozen=True)
class OutboundCount:
    """Outbound call attempts of one kind (checkin, reminder, survey) with one result."""

    kind: str
    result: str
    count: int


@dataclass(frozen=True)
class TicketFigures:
    """Tickets opened in the period, resolved in the period, and still open of those opened."""

    opened: int
    resolved: int
    still_open: int


@dataclass(frozen=True)
class PromptTrouble:
    """One question of the dialog (a flow state, named like its prompt) and how often callers
    struggled with it: asked to hear it again (or slower), were not understood, or asked for a
    person there."""

    state: str
    asked: int
    repeats: int
    no_matches: int
    no_inputs: int
    person_requests: int

    @property
    def trouble(self) -> int:
        """Repeats + no-matches + requests for a person (what the ranking sorts by)."""
        return self.repeats + self.no_matches + self.person_requests

    @property
    def trouble_per_ask(self) -> float | None:
        """Trouble per time the question was asked (None if never entered in the period)."""
        return self.trouble / self.asked if self.asked else None


@dataclass(frozen=True)
class FaultCount:
    """Calls sent to a person by a fault of ours at one question: a backend step that
    raised (`step_failed`, `what` = the step) or an error in the dialog itself (`dialog_error`,
    `what` = where the dialog was entered: start, dtmf, speech, no_input...)."""

    kind: str  # step_failed | dialog_error
    state: str  # the question (flow state) the call was at; "" before the first one
    what: str
    count: int


@dataclass(frozen=True)
class ServiceReport:
    """Everything `ivr report` shows for the period [since, until)."""

    since: datetime
    until: datetime
    calls: list[CallCount]
    recognition: list[DialectRecognition]
    escalations: list[EscalationCount]
    time_to_person: TimeToPerson
    notifications: list[NotificationCount]
    tickets: TicketFigures
    prompts: list[PromptTrouble]  # ranked: most trouble first
    outbound: list[OutboundCount] | None = None  # None: no outbound tables in this database
    notes: list[str] = field(default_factory=list)
    faults: list[FaultCount] = field(default_factory=list)  # most frequent first

    @property
    def total_calls(self) -> int:
        """Calls started in the period."""
        return sum(c.count for c in self.calls)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO strings, derived rates included."""
        out = asdict(self)
        out["since"], out["until"] = self.since.isoformat(), self.until.isoformat()
        out["total_calls"] = self.total_calls
        for row, src in zip(out["recognition"], self.recognition, strict=True):
            row["no_match_rate"] = src.no_match_rate
        out["time_to_person"]["share_within"] = self.time_to_person.share_within
        for row, src in zip(out["prompts"], self.prompts, strict=True):
            row["trouble"], row["trouble_per_ask"] = src.trouble, src.trouble_per_ask
        return out


# ------------------------------------------------------------------------------- helpers
def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..1): the smallest value with at least q of the values
    at or below it; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# ------------------------------------------------------------------------------- sections
def _calls(session: Session, since: datetime, until: datetime) -> list[CallCount]:
    handoffs = (
        select(
            EventRow.call_id.label("call_id"),
            func.max(case((EventRow.kind == "handoff_agent", 1), else_=0)).label("agent"),
            func.max(case((EventRow.kind == "handoff_hangup", 1), else_=0)).label("hangup"),
        )
        .where(EventRow.kind.in_(("handoff_agent", "handoff_hangup")))
        .group_by(EventRow.call_id)
        .subquery()
    )
    rows = session.execute(
        select(
            CallRow.channel,
            CallRow.direction,
            CallRow.outcome,
            CallRow.ended_at.is_(None),
            handoffs.c.agent,
            handoffs.c.hangup,
            func.count(),
        )
        .outerjoin(handoffs, handoffs.c.call_id == CallRow.id)
        .where(CallRow.started_at >= since, CallRow.started_at < until)
        .group_by(
            CallRow.channel,
            CallRow.direction,
            CallRow.outcome,
            CallRow.ended_at.is_(None),
            handoffs.c.agent,
            handoffs.c.hangup,
        )
    ).all()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for channel, direction, outcome, open_, agent, hangup, n in rows:
        channel = "outbound" if direction == "outbound" else channel
        if open_:
            label = "in_progress"
        else:
            handoff = "agent" if agent else "hangup" if hangup else ""
            label = call_outcome(handoff, outcome)
        counts[(channel, label)] += n
    return [CallCount(c, o, n) for (c, o), n in sorted(counts.items())]


def _recognition(session: Session, since: datetime, until: datetime) -> list[DialectRecognition]:
    rows = session.execute(
        select(
            SegmentRow.confidence,
            SegmentRow.extra["dialect"].as_string(),
            SegmentRow.extra["input"].as_string(),
            SegmentRow.extra["dtmf"].as_boolean(),
        ).where(
            SegmentRow.speaker == "caller",
            SegmentRow.created_at >= since,
            SegmentRow.created_at < until,
        )
    ).all()
    confidences: dict[str, list[float]] = defaultdict(list)
    answers: dict[str, int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    for confidence, dialect, kind, dtmf in rows:
        if dtmf:  # keys pressed are not recognitions
            continue
        dialect = dialect or UNKNOWN
        answers[dialect] += 1
        if kind == "no_match":
            missed[dialect] += 1
        if confidence is not None:
            confidences[dialect].append(float(confidence))
    return [
        DialectRecognition(
            dialect=d,
            recognitions=answers[d],
            no_matches=missed[d],
            mean_confidence=(sum(confidences[d]) / len(confidences[d])) if confidences[d] else None,
            median_confidence=_median(confidences[d]),
        )
        for d in sorted(answers)
    ]


def _escalations(session: Session, since: datetime, until: datetime) -> list[EscalationCount]:
    rows = session.execute(
        select(EscalationRow.trigger_kind, EscalationRow.severity, func.count())
        .where(EscalationRow.created_at >= since, EscalationRow.created_at < until)
        .group_by(EscalationRow.trigger_kind, EscalationRow.severity)
    ).all()
    return sorted(
        (EscalationCount(t, s, n) for t, s, n in rows), key=lambda e: (-e.count, e.trigger)
    )


def _time_to_person(
    session: Session, since: datetime, until: datetime, within_s: float
) -> TimeToPerson:
    rows = session.execute(
        select(EscalationRow.created_at, EscalationRow.answered_at).where(
            EscalationRow.created_at >= since,
            EscalationRow.created_at < until,
            EscalationRow.agent_status != "none",
        )
    ).all()
    waits = sorted(
        max(0.0, (answered - created).total_seconds())
        for created, answered in rows
        if answered is not None
    )
    breaches = session.scalar(
        select(func.count(func.distinct(EscalationEventRow.escalation_id))).where(
            EscalationEventRow.kind == "sla_breach",
            EscalationEventRow.at >= since,
            EscalationEventRow.at < until,
        )
    )
    return TimeToPerson(
        to_person=len(rows),
        answered=len(waits),
        answered_within=sum(1 for w in waits if w <= within_s),
        within_s=within_s,
        p50_s=percentile(waits, 0.5),
        p95_s=percentile(waits, 0.95),
        sla_breaches=int(breaches or 0),
        waits_s=tuple(waits),
    )


def _notifications(session: Session, since: datetime, until: datetime) -> list[NotificationCount]:
    kind = EscalationEventRow.data["kind"].as_string()
    rows = session.execute(
        select(EscalationEventRow.kind, kind, func.count())
        .where(
            EscalationEventRow.kind.in_(("send_retry", "notification_failed")),
            EscalationEventRow.at >= since,
            EscalationEventRow.at < until,
        )
        .group_by(EscalationEventRow.kind, kind)
    ).all()
    retries: dict[str, int] = defaultdict(int)
    given_up: dict[str, int] = defaultdict(int)
    for event, what, n in rows:
        (retries if event == "send_retry" else given_up)[what or UNKNOWN] += n
    return [NotificationCount(k, retries[k], given_up[k]) for k in sorted({*retries, *given_up})]


def _tickets(session: Session, since: datetime, until: datetime) -> TicketFigures:
    opened = session.execute(
        select(TicketRow.status, func.count())
        .where(TicketRow.created_at >= since, TicketRow.created_at < until)
        .group_by(TicketRow.status)
    ).all()
    resolved = session.scalar(
        select(func.count(func.distinct(TicketStatusRow.ticket_id))).where(
            TicketStatusRow.status_to == "resolved",
            TicketStatusRow.at >= since,
            TicketStatusRow.at < until,
        )
    )
    return TicketFigures(
        opened=sum(n for _, n in opened),
        resolved=int(resolved or 0),
        still_open=sum(n for status, n in opened if status != "resolved"),
    )


def _prompts(session: Session, since: datetime, until: datetime) -> list[PromptTrouble]:
    data = EventRow.data
    state, to = data["state"].as_string(), data["to"].as_string()
    what, intent = data["kind"].as_string(), data["intent"].as_string()
    rows = session.execute(
        select(EventRow.kind, state, to, what, intent, func.count())
        .where(
            EventRow.kind.in_(("state", "failure", "caller_request")),
            EventRow.at >= since,
            EventRow.at < until,
        )
        .group_by(EventRow.kind, state, to, what, intent)
    ).all()
    asked: dict[str, int] = defaultdict(int)
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, in_state, entered, failure, request, n in rows:
        if kind == "state" and entered:
            asked[entered] += n
        elif kind == "failure" and in_state and failure in ("no_match", "no_input"):
            tally[in_state][failure] += n
        elif kind == "caller_request" and in_state:
            if request in REPEAT_INTENTS:
                tally[in_state]["repeat"] += n
            elif request in PERSON_INTENTS:
                tally[in_state]["person"] += n
    ranked = [
        PromptTrouble(
            state=s,
            asked=asked.get(s, 0),
            repeats=t["repeat"],
            no_matches=t["no_match"],
            no_inputs=t["no_input"],
            person_requests=t["person"],
        )
        for s, t in tally.items()
    ]
    ranked = [p for p in ranked if p.trouble or p.no_inputs]
    return sorted(ranked, key=lambda p: (-p.trouble, -p.person_requests, -p.no_inputs, p.state))


def _faults(session: Session, since: datetime, until: datetime) -> list[FaultCount]:
    data = EventRow.data
    state, step, where = (data[k].as_string() for k in ("state", "step", "where"))
    rows = session.execute(
        select(EventRow.kind, state, step, where, func.count())
        .where(EventRow.kind.in_(FAULT_EVENTS), EventRow.at >= since, EventRow.at < until)
        .group_by(EventRow.kind, state, step, where)
    ).all()
    faults = [
        FaultCount(kind, at or "", (failed_step if kind == "step_failed" else entered) or "", n)
        for kind, at, failed_step, entered, n in rows
    ]
    return sorted(faults, key=lambda f: (-f.count, f.kind, f.state, f.what))


_OUTBOUND_CALLS = table("outbound_calls", column("id"), column("kind"))
_OUTBOUND_ATTEMPTS = table(
    "outbound_attempts", column("outbound_call_id"), column("result"), column("started_at")
)


def _outbound(session: Session, since: datetime, until: datetime) -> list[OutboundCount] | None:
    names = set(inspect(session.connection()).get_table_names())
    if not {"outbound_calls", "outbound_attempts"} <= names:
        return None
    c, a = _OUTBOUND_CALLS, _OUTBOUND_ATTEMPTS
    rows = session.execute(
        select(c.c.kind, a.c.result, func.count())
        .select_from(a.join(c, c.c.id == a.c.outbound_call_id))
        .where(a.c.started_at >= since, a.c.started_at < until)
        .group_by(c.c.kind, a.c.result)
    ).all()
    counts = (OutboundCount(k or UNKNOWN, r or UNKNOWN, n) for k, r, n in rows)
    return sorted(counts, key=lambda o: (o.kind, o.result))


# ------------------------------------------------------------------------------- entry point
def build_report(
    store: Store,
    since: datetime | timedelta,
    until: datetime | None = None,
    *,
    within_s: float = WITHIN_S,
) -> ServiceReport:
    """The report for [since, until) (`since` may be a period back from `until`, which
    defaults to now). Read in one read-only transaction."""
    until = until or utcnow()
    start = until - since if isinstance(since, timedelta) else since
    if start >= until:
        raise ValueError(f"the period is empty: {start.isoformat()} is not before {until}")
    with store.read() as session:
        outbound = _outbound(session, start, until)
        notes = [] if outbound is not None else ["no outbound call tables in this database"]
        return ServiceReport(
            since=start,
            until=until,
            calls=_calls(session, start, until),
            recognition=_recognition(session, start, until),
            escalations=_escalations(session, start, until),
            time_to_person=_time_to_person(session, start, until, within_s),
            notifications=_notifications(session, start, until),
            tickets=_tickets(session, start, until),
            prompts=_prompts(session, start, until),
            outbound=outbound,
            notes=notes,
            faults=_faults(session, start, until),
        )
