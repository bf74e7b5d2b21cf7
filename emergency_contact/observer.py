"""Who wants to know how escalations go (metrics, alerting): the `EscalationObserver` protocol.

`EscalationService.observers` is an `Observers` fan-out; the application adds its own observer
(the Prometheus metrics of `ivr.metrics` implement this protocol) without this package knowing
the application. Calls arrive after the change is committed, from whichever thread made it (a
request handler, the outbox worker): observers must be thread-safe and quick, and an observer
that raises is logged and never disturbs the workflow.

Labels passed here are bounded sets (trigger kinds, severities, channels): never phone numbers,
names or call ids.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class EscalationObserver(Protocol):
    """What an escalation observer is told."""

    def escalation_started(
        self, trigger: str, severity: str, channel: str, to_person: bool
    ) -> None:
        """A new escalation (`trigger` kind, `severity`, the call's `channel`); `to_person` when
        it was queued for an agent (it counts towards "answered within 15 s")."""

    def person_answered(self, seconds: float, severity: str) -> None:
        """A person (agent) answered an escalation `seconds` after it was triggered."""

    def sla_breached(self, severity: str) -> None:
        """Nobody answered an escalation within the agent SLA of its severity."""

    def notification_retry(self, channel: str) -> None:
        """A notification attempt failed and will be retried (`channel`: call, sms, log)."""


class Observers:
    """A list of observers that is itself an observer: each call goes to every observer; one
    that raises is logged and the others are still told."""

    def __init__(self) -> None:
        self._observers: list[EscalationObserver] = []
        self._lock = threading.Lock()

    def add(self, observer: EscalationObserver) -> None:
        """Tell `observer` from now on (adding the same one twice has no effect)."""
        with self._lock:
            if observer not in self._observers:
                self._observers.append(observer)

    def remove(self, observer: EscalationObserver) -> None:
        """Stop telling `observer` (no error if it was not added)."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def __len__(self) -> int:
        return len(self._observers)

    def _each(self, method: str, *args: object) -> None:
        with self._lock:
            observers = list(self._observers)
        for observer in observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                log.exception("escalation observer %r failed in %s", observer, method)

    def escalation_started(
        self, trigger: str, severity: str, channel: str, to_person: bool
    ) -> None:
        """See `EscalationObserver.escalation_started`."""
        self._each("escalation_started", trigger, severity, channel, to_person)

    def person_answered(self, seconds: float, severity: str) -> None:
        """See `EscalationObserver.person_answered`."""
        self._each("person_answered", seconds, severity)

    def sla_breached(self, severity: str) -> None:
        """See `EscalationObserver.sla_breached`."""
        self._each("sla_breached", severity)

    def notification_retry(self, channel: str) -> None:
        """See `EscalationObserver.notification_retry`."""
        self._each("notification_retry", channel)
