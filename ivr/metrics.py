"""Prometheus metrics of the service: `ServiceMetrics`, one per app, on its own registry.

What is measured (all names start with `ivr_`; labels are small fixed sets, never phone
numbers, names or call ids):

| metric | type | labels |
| --- | --- | --- |
| `ivr_calls_in_progress` | gauge | channel (phone, kiosk, outbound) |
| `ivr_calls_handled_total` | counter | channel, outcome (transferred, completed, caller_hung_up) |
| `ivr_recognitions_total` | counter | dialect |
| `ivr_recognition_no_match_total` | counter | dialect |
| `ivr_recognition_confidence` | histogram | dialect |
| `ivr_escalations_total` | counter | trigger, severity |
| `ivr_escalation_time_to_person_seconds` | histogram | severity |
| `ivr_escalations_answered_within_15s_ratio` | gauge | |
| `ivr_escalation_sla_breaches_total` | counter | severity |
| `ivr_outbound_attempts_total` | counter | kind, outcome |
| `ivr_notification_retries_total` | counter | channel |
| `ivr_dialog_errors_total` | counter | channel, where (start, dtmf, speech, no_input, ...) |
| `ivr_reply_latency_seconds` | histogram | |

Rates are derived in Prometheus, e.g. the no-match rate by dialect:
`rate(ivr_recognition_no_match_total[1h]) / rate(ivr_recognitions_total[1h])`; the share of
escalations a person answered within 15 s over a window:
`increase(ivr_escalation_time_to_person_seconds_bucket{le="15.0"}[1d])` summed over severity,
divided by the escalations queued for a person. The ratio gauge gives the same figure since this
process started (NaN before any escalation was queued, so an alert on `< 0.9` stays quiet).

Where the figures come from: call-session events (`ivr.session.events.SessionEvent`, through
`on_session_event`, added to `SessionDeps.listeners` by the app), the escalation workflow (this
object implements `emergency_contact.observer.EscalationObserver`) and outbound calls
(`outbound_attempt`).

Metrics are per process, as Prometheus expects: several instances (or `ivr escalation worker`
processes) each expose their own figures and Prometheus sums them (`sum by (...)`). Counters
start at zero when a process starts; the durable history is in the database (`ivr report`).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ivr.session.events import SessionEvent
from ivr.session.faults import DIALOG_ERROR

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics", "WITHIN_S"]

WITHIN_S = 15.0  # "answered within 15 seconds"
TIME_TO_PERSON_BUCKETS = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
REPLY_LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
OTHER = "other"
UNKNOWN = "unknown"
_LABEL_VALUE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")


class _BoundedLabels:
    """Keeps each label's values to a small set: a value that does not look like a short
    identifier, or one beyond the first `limit` distinct values of that label, becomes "other"
    (so a caller's words or a bug can never create unbounded time series)."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, value: object) -> str:
        text = str(value or "").strip().lower() or UNKNOWN
        if not _LABEL_VALUE.match(text):
            return OTHER
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if text in seen:
                return text
            if len(seen) >= self.limit:
                return OTHER
            seen.add(text)
            return text


@dataclass
class _Call:
    channel: str
    handoff: str = ""  # "agent" or "hangup" once the session hands the call on


class ServiceMetrics:
    """The service's metrics on a registry of its own (several apps in one process, as in
    the tests, never collide); `exposition()` is what GET /metrics returns."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._label = _BoundedLabels()
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self._to_person = 0
        self._within = 0
        r = self.registry
        self.calls_in_progress = Gauge(
            "ivr_calls_in_progress",
            "Calls and kiosk visits now in progress, by channel.",
            ["channel"],
            registry=r,
        )
        self.calls_handled = Counter(
            "ivr_calls_handled",
            "Calls ended, by channel and outcome (transferred to a person, completed by the "
            "service, caller hung up).",
            ["channel", "outcome"],
            registry=r,
        )
        self.recognitions = Counter(
            "ivr_recognitions",
            "Caller answers run through the recognizer, by dialect.",
            ["dialect"],
            registry=r,
        )
        self.no_matches = Counter(
            "ivr_recognition_no_match",
            "Caller answers the recognizer could not match to anything expected, by dialect.",
            ["dialect"],
            registry=r,
        )
        self.confidence = Histogram(
            "ivr_recognition_confidence",
            "Recognizer confidence of caller answers (0-1), by dialect.",
            ["dialect"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "ivr_escalations",
            "Escalations started, by trigger and severity.",
            ["trigger", "severity"],
            registry=r,
        )
        self.time_to_person = Histogram(
            "ivr_escalation_time_to_person_seconds",
            "Seconds from an escalation's trigger to a person (agent) answering.",
            ["severity"],
            buckets=TIME_TO_PERSON_BUCKETS,
            registry=r,
        )
        self.answered_within = Gauge(
            "ivr_escalations_answered_within_15s_ratio",
            "Share of escalations queued for a person that a person answered within 15 s, "
            "since this process started (NaN before the first).",
            registry=r,
        )
        self.answered_within.set(math.nan)
        self.sla_breaches = Counter(
            "ivr_escalation_sla_breaches",
            "Escalations nobody answered within the agent SLA of their severity.",
            ["severity"],
            registry=r,
        )
        self.outbound = Counter(
            "ivr_outbound_attempts",
            "Outbound call attempts the service placed, by kind (checkin, reminder, survey) "
            "and outcome (answered_human, machine, no_answer, busy, failed...).",
            ["kind", "outcome"],
            registry=r,
        )
        self.notification_retries = Counter(
            "ivr_notification_retries",
            "Notification attempts (calls, texts to contacts) that failed and will be retried.",
            ["channel"],
            registry=r,
        )
        self.dialog_errors = Counter(
            "ivr_dialog_errors",
            "Faults in the dialog itself: the caller heard an apology and was put through to a "
            "person. By channel and by where the dialog was entered (start, dtmf, speech, "
            "no_input, ...).",
            ["channel", "where"],
            registry=r,
        )
        self.reply_latency = Histogram(
            "ivr_reply_latency_seconds",
            "From the end of the caller's speech to the first audio of the reply.",
            buckets=REPLY_LATENCY_BUCKETS,
            registry=r,
        )

    # ------------------------------------------------------------------ exposition
    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (`generate_latest`)."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ call sessions
    def on_session_event(self, event: SessionEvent) -> None:
        """For `SessionDeps.listeners`: count what a call session reports."""
        kind = event.kind
        if kind == "start":
            self._call_started(event)
        elif kind == "action":
            with self._lock:
                call = self._calls.get(event.call_sid)
                if call is not None:
                    call.handoff = str(event.data.get("kind") or "")
        elif kind == "stop":
            self._call_ended(event)
        elif kind == "heard":
            dialect = self._label("dialect", event.data.get("dialect") or UNKNOWN)
            self.recognitions.labels(dialect).inc()
            confidence = event.data.get("confidence")
            if isinstance(confidence, int | float) and math.isfinite(confidence):
                self.confidence.labels(dialect).observe(float(confidence))
            if event.data.get("input_kind") == "no_match":
                self.no_matches.labels(dialect).inc()
        elif kind == DIALOG_ERROR:
            self.dialog_errors.labels(
                self._label("channel", event.channel or UNKNOWN),
                self._label("where", event.data.get("where") or UNKNOWN),
            ).inc()
        elif kind == "reply_latency":
            reply_ms = event.data.get("reply_ms")
            if isinstance(reply_ms, int | float) and reply_ms >= 0:
                self.reply_latency.observe(reply_ms / 1000.0)

    def _call_started(self, event: SessionEvent) -> None:
        channel = self._label("channel", event.channel or UNKNOWN)
        with self._lock:
            if event.call_sid in self._calls:
                return
            self._calls[event.call_sid] = _Call(channel)
        self.calls_in_progress.labels(channel).inc()

    def _call_ended(self, event: SessionEvent) -> None:
        with self._lock:
            call = self._calls.pop(event.call_sid, None)
        if call is not None:
            self.calls_in_progress.labels(call.channel).dec()
            channel, handoff = call.channel, call.handoff
        else:  # the start was never seen (it failed): counted, the gauge left alone
            channel, handoff = self._label("channel", event.channel or UNKNOWN), ""
        self.calls_handled.labels(channel, call_outcome(handoff, event.data.get("outcome"))).inc()

    # ------------------------------------------------------------------ escalations
    # (emergency_contact.observer.EscalationObserver)
    def escalation_started(
        self, trigger: str, severity: str, channel: str, to_person: bool
    ) -> None:
        """An escalation began (`channel` is not a label here: trigger and severity are)."""
        self.escalations.labels(
            self._label("trigger", trigger), self._label("severity", severity)
        ).inc()
        if to_person:
            with self._lock:
                self._to_person += 1
                self._update_share()

    def person_answered(self, seconds: float, severity: str) -> None:
        """A person answered an escalation `seconds` after its trigger."""
        seconds = max(0.0, float(seconds))
        self.time_to_person.labels(self._label("severity", severity)).observe(seconds)
        if seconds <= WITHIN_S:
            with self._lock:
                self._within += 1
                self._update_share()

    def sla_breached(self, severity: str) -> None:
        """Nobody answered an escalation within its SLA."""
        self.sla_breaches.labels(self._label("severity", severity)).inc()

    def notification_retry(self, channel: str) -> None:
        """A notification attempt failed and will be retried."""
        self.notification_retries.labels(self._label("channel", channel)).inc()

    def _update_share(self) -> None:
        # an escalation queued before a restart may be answered after it: never above 1
        if self._to_person:
            self.answered_within.set(min(1.0, self._within / self._to_person))

    # ------------------------------------------------------------------ outbound calls
    def outbound_attempt(self, kind: str, outcome: str) -> None:
        """One outbound call attempt and its result, for the outbound scheduler: `kind` as in
        `carestore.outbound_models.OUTBOUND_KINDS` ("checkin", "reminder", "survey"), `outcome`
        an attempt result ("answered_human", "machine", "no_answer", "busy", "failed",
        "completed", "dry_run", "no_status"). Short lowercase identifiers; anything else (or
        more than 32 distinct values of a label) is counted as "other". The app's instance is
        `app.state.metrics`."""
        self.outbound.labels(self._label("kind", kind), self._label("outcome", outcome)).inc()


def call_outcome(handoff: str, session_outcome: object) -> str:
    """The outcome label of an ended call: "transferred" (handed to a person), "completed"
    (the service said goodbye and hung up) or "caller_hung_up". `ivr.reporting` classifies
    stored calls the same way."""
    if handoff == "agent":
        return "transferred"
    if handoff == "hangup":
        return "completed"
    if session_outcome == "handed_off":
        return "completed"
    return "caller_hung_up"
