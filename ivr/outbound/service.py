"""`OutboundService`: the one object the app, the CLI and the routes hold for outbound calls.

It ties the scheduler (making and placing calls), the results (webhooks, the end of a call's
dialog, the outbox's record) and the escalation workflow together (a check-in that reaches
nobody who says how the person is within its attempts, whether unanswered, answered and hung
up or silent, or answered by someone else, raises `checkin_no_answer`; a "no" on the call
raises `checkin_not_well` through the session's transfer, as any caller's request for help
does). `start()` runs
`tick()` in a background thread every `poll_s`: generate, reconcile, place due calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from carestore.db import Store
from carestore.outbound import OutboundCall, OutboundRecords
from carestore.outbound_models import OutboundCallRow
from carestore.timeutil import utcnow
from emergency_contact.polling import PollingLoop
from ivr.outbound import results
from ivr.outbound.config import OutboundConfig
from ivr.outbound.context import OutboundContext, context_for
from ivr.outbound.rules import AttemptEnd, why
from ivr.outbound.scheduler import DueResult, OutboundScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    """One scheduler pass: calls made from the records, attempts reconciled, due calls."""

    generated: int
    reconciled: int
    due: list[DueResult]

    @property
    def queued(self) -> int:
        return sum(1 for d in self.due if d.action == "queued")

    @property
    def deferred(self) -> int:
        return sum(1 for d in self.due if d.action == "deferred")


class OutboundService:
    """Outbound calls on `store`, escalating through `escalation` (an
    `emergency_contact.service.EscalationService`; None: escalations are only logged)."""

    def __init__(
        self,
        store: Store,
        config: OutboundConfig,
        escalation: Any = None,
        *,
        metrics: Any = None,
        default_dialect: str | None = None,
        poll_s: float = 15.0,
    ) -> None:
        self.store = store
        self.config = config
        self.escalation = escalation
        self.metrics = metrics  # ivr.metrics.ServiceMetrics (outbound_attempt), when the app has it
        self.default_dialect = default_dialect
        self.scheduler = OutboundScheduler(store, config)
        self.records = OutboundRecords(store)
        self.wakers: list[Callable[[], None]] = []  # outbox workers to nudge after queueing
        self._loop = PollingLoop(self.tick, poll_s=poll_s, name="outbound")
        self._tick_lock = threading.Lock()

    # ------------------------------------------------------------------ scheduling
    def schedule(self, customer_id: int, kind: str, *, actor: str, **kwargs: Any) -> OutboundCall:
        """One call asked for by staff (see `OutboundScheduler.schedule`); placed when due."""
        call = self.scheduler.schedule(customer_id, kind, actor=actor, **kwargs)
        self.wake()
        return call

    def cancel(self, call_id: int, actor: str) -> OutboundCall:
        """Cancel a call not placed yet."""
        return self.scheduler.cancel(call_id, actor)

    # ------------------------------------------------------------------ the loop
    def tick(self, now: datetime | None = None, limit: int = 20) -> TickReport:
        """One pass: make the calls the records ask for, reconcile attempts with the outbox,
        raise escalations for check-ins nobody answered, put due calls in the outbox."""
        with self._tick_lock:
            now = now or utcnow()
            generated = self.scheduler.generate(now)
            reconciled = self.reconcile(now)
            due = self.scheduler.run_due(now, limit)
            for d in due:
                if d.action == "deferred":
                    self._metric(d.kind, "skipped_quiet_hours")
                elif d.action == "failed":
                    self._metric(d.kind, "failed")
            if any(d.action == "queued" for d in due):
                self._wake_workers()
            return TickReport(generated, reconciled, due)

    def reconcile(self, now: datetime | None = None) -> int:
        """Attempts only the outbox or the clock can end; pending no-answer escalations."""
        found = results.reconcile(self.store, self.config, now)
        for end in found.ended:
            self._ended(end)
        for sid in found.finished_sids:
            self.session_ended(sid)
        raised = self.raise_pending_escalations()
        return len(found.ended) + len(found.finished_sids) + raised

    def start(self) -> OutboundService:
        """Run `tick()` in a background thread until `stop()`."""
        self._loop.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current pass (a call claimed in it is already in the outbox)."""
        self._loop.stop(timeout_s)

    def wake(self) -> None:
        """Run a pass now (a call was scheduled for now)."""
        self._loop.wake()

    def _wake_workers(self) -> None:
        wakers = list(self.wakers)
        if self.escalation is not None:
            wakers += list(getattr(self.escalation, "wakers", []))
        for wake in wakers:
            try:
                wake()
            except Exception:
                log.exception("waking an outbox worker failed")

    # ------------------------------------------------------------------ Twilio webhooks
    def on_answer(self, attempt_id: int, form: Mapping[str, str]) -> results.Answer:
        """The answer webhook (`AnsweredBy` from answering-machine detection)."""
        answer = results.on_answer(self.store, self.config, attempt_id, form)
        if answer.verdict == "human":
            self._metric(answer.kind, "answered")
        if answer.end is not None:
            self._ended(answer.end)
        return answer

    def on_status(self, attempt_id: int, form: Mapping[str, str]) -> None:
        """A status callback of an outbound call."""
        end, finish = results.on_status(self.store, self.config, attempt_id, form)
        if end is not None:
            self._ended(end)
        call_sid = form.get("CallSid", "")
        if finish and call_sid and results.should_finish_after_status(self.store, call_sid):
            self.session_ended(call_sid)

    # ------------------------------------------------------------------ the call session
    def context_for(self, call_sid: str) -> OutboundContext | None:
        """For the call session: the outbound call behind `call_sid` (None: an inbound call)."""
        return context_for(self.store, self.config, call_sid, self.default_dialect)

    def session_ended(self, call_sid: str) -> results.Finished | None:
        """The answered call's dialog is over: outcome, survey answers, promised SMS."""
        done = results.finish(self.store, self.config, call_sid)
        if done is None:
            return None
        log.info("outbound call %s (%s) finished: %s", done.call_id, done.kind, done.outcome)
        if done.sms_queued:
            self._wake_workers()
        if done.end is not None:  # a check-in that did not hear how the person is
            self._ended(done.end, count=False)  # the answer was counted already
            if done.end.retry_at is not None:
                self.wake()
        return done

    # ------------------------------------------------------------------ escalations
    def _ended(self, end: AttemptEnd, *, count: bool = True) -> None:
        if count:
            self._metric(end.kind, end.result)
        if end.retry_at is not None:
            log.info(
                "outbound call %s: %s, trying again at %s",
                end.call_id,
                end.result,
                end.retry_at.isoformat(),
            )
        elif end.final:
            log.warning(
                "outbound call %s (%s): %s (%s)", end.call_id, end.kind, end.final, end.result
            )
        if end.escalate:
            self.raise_pending_escalations()

    def raise_pending_escalations(self) -> int:
        """Check-ins that ended without the person saying how they are (nobody answered, they
        hung up or stayed silent, someone else answered) and no escalation yet: raise
        `checkin_no_answer` (the policy tells the first emergency contact); the evidence says
        what each attempt came to. Safe to repeat: the escalation is keyed by the last call's
        SID (its transcript goes in the hand-off package), and the call keeps its id."""
        with self.store.read() as session:
            ids = session.scalars(
                select(OutboundCallRow.id).where(
                    OutboundCallRow.kind == "checkin",
                    OutboundCallRow.status.in_(("unanswered", "failed")),
                    OutboundCallRow.raised_escalation_id.is_(None),
                )
            ).all()
        raised = 0
        for call_id in ids:
            raised += self._raise_no_answer(call_id)
        return raised

    def _raise_no_answer(self, call_id: int) -> int:
        from emergency_contact.records import Trigger

        call = self.records.call(call_id)
        if call is None or call.raised_escalation_id is not None:
            return 0
        if (call.result or {}).get("escalation_error"):
            return 0
        attempts = self.records.attempts(call_id)
        sid = next((a.provider_sid for a in reversed(attempts) if a.provider_sid), None)
        evidence = {
            "outbound_call_id": call.id,
            "attempts": [
                {
                    "n": a.number,
                    "result": a.result,
                    "outcome": a.outcome,
                    "why": why(a.result, a.outcome),
                    "at": a.started_at.isoformat(),
                }
                for a in attempts
            ],
            "status": call.status,
            "answered": any(a.result == "completed" for a in attempts),  # a person picked up
            "summary": f"not confirmed well after {len(attempts)} attempt(s): "
            + "; ".join(f"{a.number}. {why(a.result, a.outcome)}" for a in attempts),
        }
        if self.escalation is None:
            log.error("check-in %s unanswered but escalations are not set up", call_id)
            return 0
        try:
            decision = self.escalation.trigger(
                sid or f"outbound-{call.id}",
                call.customer_id,
                Trigger("checkin_no_answer", evidence=evidence),
                channel="outbound",
            )
        except Exception as exc:
            log.exception("check-in %s: the no-answer escalation could not start", call_id)
            with self.store.write() as session:
                row = session.get(OutboundCallRow, call_id)
                if row is not None:
                    row.result = {**(row.result or {}), "escalation_error": str(exc)[:300]}
            return 0
        with self.store.write() as session:
            row = session.get(OutboundCallRow, call_id)
            if row is not None:
                row.raised_escalation_id = decision.escalation_id
        log.warning(
            "check-in %s unanswered after %d attempts: escalation %s",
            call_id,
            len(attempts),
            decision.escalation_id,
        )
        return 1

    # ------------------------------------------------------------------ metrics
    def _metric(self, kind: str, outcome: str) -> None:
        """Count an attempt outcome (`ivr.metrics.ServiceMetrics.outbound_attempt`)."""
        if self.metrics is None or not kind:
            return
        try:
            self.metrics.outbound_attempt(kind, outcome)
        except Exception:
            log.exception("outbound metric failed")
