"""The escalation workflow: `EscalationService` is the one object the application holds.

The call session calls `on_transfer(...)` (or `trigger(...)`) and gets a `Decision`: notices to
play first (the emergency number for life-threatening words), whether to transfer, and the calm
text. Everything after that is persisted: the agent queue (SLA per severity, exclusive accept),
contacts tried in order through the outbox, acceptance by keypress or SMS reply, the call back
to confirm help arrived, supervisors when nobody accepts. Deadlines live on the escalation row,
so a restarted process picks up where the last one stopped (`process_due`).

Contact track states (`ALLOWED` lists the transitions):
  open -> notifying -> accepted -> confirming -> confirmed -> resolved
  notifying -> supervisor (nobody accepted); accepted/confirming -> supervisor (unconfirmed)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carestore.db import Store
from carestore.errors import NotFound
from carestore.escalation_models import (
    ContactRow,
    EscalationEventRow,
    EscalationRow,
    OutboxRow,
)
from carestore.models import CustomerRow
from carestore.timeutil import utcnow
from emergency_contact import messages
from emergency_contact.audit import audit, chain_escalation_event
from emergency_contact.contacts import ContactBook, contact_record
from emergency_contact.links import LinkError, LinkGrant, issue_token, open_token
from emergency_contact.masking import mask_text
from emergency_contact.notifier import OutboundItem, SendResult
from emergency_contact.observer import Observers
from emergency_contact.outbox import enqueue
from emergency_contact.package import build_package, limited_view
from emergency_contact.policy import SEVERITIES, Policy, severity_rank
from emergency_contact.records import Decision, Escalation, EscalationEvent, Trigger
from speech.cues.lexical import find_phrases

log = logging.getLogger(__name__)

ALLOWED: dict[str, tuple[str, ...]] = {
    "open": ("notifying", "supervisor", "resolved"),
    "notifying": ("accepted", "supervisor", "resolved"),
    "accepted": ("confirming", "supervisor", "resolved"),
    "confirming": ("confirmed", "supervisor", "resolved"),
    "supervisor": ("accepted", "resolved"),
    "confirmed": ("resolved",),
    "resolved": (),
}
ANSWERED_DIAL = ("completed", "answered")
TERMINAL_CALL = ("completed", "busy", "failed", "no-answer", "canceled")
REASON_TRIGGERS = {
    "help": "help_request",
    "emergency": "emergency_word",
    "repeated_failure": "repeated_failure",
    "caller_asked": "person_request",
    "identity_not_verified": "repeated_failure",
    "report_problem": "person_request",
    "scam": "scam_signal",
    "distress": "distress",
    "kiosk_button": "kiosk_button",
    "checkin_not_well": "checkin_not_well",  # an outbound check-in call (issue 8)
}


class EscalationError(Exception):
    """Base of the workflow's errors."""


class Conflict(EscalationError):
    """The action lost a race or does not fit the state (an agent accepting a taken item)."""


class UnknownEscalation(EscalationError, LookupError):
    """No escalation with this id."""


@dataclass
class EscalationConfig:
    """Deployment values (the application fills them from its settings)."""

    base_url: Callable[[], str]  # the public https URL Twilio reaches
    service_name: str = "the care line"
    agent_number: str = ""  # E.164, client:name or sip:
    supervisor_number: str = ""
    emergency_number: str = ""  # overrides the policy's per-region numbers
    notice_rate_wpm: int = 110


@dataclass
class Hooks:
    """Listeners for live events (the agent console, alerting): each gets a dict."""

    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def emit(self, event: dict[str, Any]) -> None:
        """Tell every listener; a failing listener is logged, never raised."""
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("escalation hook failed")


def _record(row: EscalationRow) -> Escalation:
    return Escalation(
        id=row.id,
        call_sid=row.call_sid,
        customer_id=row.customer_id,
        channel=row.channel,
        trigger_kind=row.trigger_kind,
        severity=row.severity,
        evidence=dict(row.evidence or {}),
        actions=list(row.actions or []),
        state=row.state,
        agent_status=row.agent_status,
        agent_id=row.agent_id,
        agent_deadline_at=row.agent_deadline_at,
        answered_at=row.answered_at,
        contact_plan=list(row.contact_plan or []),
        contact_index=row.contact_index,
        contact_round=row.contact_round,
        accepted_contact_id=row.accepted_contact_id,
        contact_accepted_at=row.contact_accepted_at,
        confirmed_at=row.confirmed_at,
        raised_count=row.raised_count,
        next_check_at=row.next_check_at,
        next_check_kind=row.next_check_kind,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def classify_words(policy: Policy, texts: Iterable[str]) -> tuple[str | None, dict[str, Any]]:
    """Trigger kind suggested by the caller's words (emergency words, help, scam), with the
    phrases found as evidence; (None, {}) when the words suggest nothing."""
    joined = " | ".join(t for t in texts if t)
    matches = find_phrases(joined)
    cues = sorted({m.cue for m in matches})
    evidence: dict[str, Any] = {"phrases": sorted({m.phrase for m in matches}), "cues": cues}
    life = policy.life_threatening_phrase(joined)
    if life:
        evidence["life_threatening"] = life
        return "emergency_word", evidence
    if "fall" in cues or "pain" in cues:
        return "emergency_word", evidence
    if "asking_for_help" in cues:
        return "help_request", evidence
    if "scam" in cues:
        return "scam_signal", evidence
    return None, {}


class EscalationService:
    """The workflow on a `Store` (all methods are synchronous; async callers use a thread)."""

    def __init__(
        self,
        store: Store,
        policy: Policy | None = None,
        config: EscalationConfig | None = None,
        *,
        contacts: ContactBook | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or Policy.load()
        self.config = config or EscalationConfig(base_url=lambda: "http://127.0.0.1:8080")
        self.contacts = contacts or ContactBook(store)
        self.hooks = Hooks()
        # metrics and alerting (emergency_contact.observer), told after each change commits
        self.observers = Observers()
        self.wakers: list[Callable[[], None]] = []  # workers to nudge when work is queued

    # ================================================================ triggering
    def on_transfer(
        self,
        call_sid: str,
        customer_id: int | None,
        reason: str,
        priority: str = "normal",
        *,
        channel: str = "phone",
        cues: list[dict[str, Any]] | None = None,
    ) -> Decision:
        """The dialog asked to hand the call to a person (`Transfer(reason, priority, ...)`).
        The trigger is read from the reason and the caller's own words (emergency words, a
        keypress of the configured digit...); see `trigger`."""
        trigger = self.trigger_for_call(call_sid, reason, priority)
        if customer_id is None:  # identified earlier in the call (or by caller ID) by the session
            call = self.store.get_call(call_sid)
            customer_id = call.customer_id if call is not None else None
        return self.trigger(call_sid, customer_id, trigger, channel=channel, cues=cues)

    def trigger_for_call(self, call_sid: str, reason: str, priority: str = "normal") -> Trigger:
        """The trigger a transfer stands for, with its evidence from the stored transcript."""
        segments = []
        try:
            segments = [s for s in self.store.transcript(call_sid) if s.speaker == "caller"]
        except NotFound:
            pass
        words = [s.text for s in segments if not (s.extra or {}).get("dtmf")]
        intents = [s.intent for s in segments if s.intent]
        kind = REASON_TRIGGERS.get(reason, "person_request")
        evidence: dict[str, Any] = {"reason": reason, "priority": priority, "intents": intents[-5:]}
        recent = words[-3:]
        word_kind, word_evidence = classify_words(self.policy, recent)
        last_intent = intents[-1] if intents else None
        keypad_digit = self.policy.rule("keypad").digit
        last = segments[-1] if segments else None
        if last is not None and (last.extra or {}).get("dtmf") and keypad_digit:
            if last.text.strip() == f"[key {keypad_digit}]" and reason in ("caller_asked", "help"):
                kind = "keypad"
                evidence["key"] = keypad_digit
        if last_intent == "emergency" or word_kind == "emergency_word":
            kind = "emergency_word"
        elif word_kind == "help_request" and kind in ("person_request", "help_request"):
            kind = "help_request"
        elif word_kind == "scam_signal" and kind == "person_request":
            kind = "scam_signal"
        evidence.update(word_evidence)
        evidence["words"] = [mask_text(w) for w in recent]
        scored = [s for s in segments if (s.extra or {}).get("distress") is not None]
        if scored:  # the session's voice cues: the most distressed utterance is the evidence
            top = max(scored, key=lambda s: float(s.extra["distress"]))
            evidence["distress"] = top.extra["distress"]
            evidence["distress_level"] = top.extra.get("level")
            evidence["distress_at_s"] = top.audio_start_s
            evidence["contributions"] = top.extra.get("contributions", {})
        return Trigger(kind=kind, evidence=evidence)

    def on_assessment(
        self,
        call_sid: str,
        customer_id: int | None,
        assessment: dict[str, Any],
        *,
        channel: str = "phone",
    ) -> Decision | None:
        """A distress assessment (`Assessment.to_dict()`) for one utterance: when the score
        crosses the policy's threshold, an escalation starts (once per call) and the decision
        is returned; otherwise None."""
        rule = self.policy.rule("distress")
        score = float(assessment.get("distress", 0.0))
        if rule.threshold is None or score < rule.threshold:
            return None
        evidence = {
            "distress": round(score, 4),
            "threshold": rule.threshold,
            "cues": [c.get("name") for c in assessment.get("cues", [])],
            "contributions": assessment.get("contributions", {}),
        }
        cues = [dict(c) for c in assessment.get("cues", [])]
        return self.trigger(
            call_sid,
            customer_id,
            Trigger("distress", evidence=evidence),
            channel=channel,
            cues=cues,
        )

    def trigger(
        self,
        call_sid: str | None,
        customer_id: int | None,
        trigger: Trigger,
        *,
        channel: str = "phone",
        cues: list[dict[str, Any]] | None = None,
        actor: str = "system",
    ) -> Decision:
        """Start an escalation (or return the open one of this call, raising its severity if
        this trigger is more severe). NotFound for an unknown customer id; ValueError for an
        unknown trigger kind or severity."""
        rule = self.policy.rule(trigger.kind)
        severity = trigger.severity or rule.severity
        severity_rank(severity)
        evidence = dict(trigger.evidence)
        texts = [str(x) for x in evidence.get("words", [])]
        life = evidence.get("life_threatening") or self.policy.life_threatening_phrase(
            " | ".join(texts)
        )
        if life:
            evidence["life_threatening"] = life
            severity = "critical"
        now = utcnow()
        with self.store.write() as session:
            customer = None
            if customer_id is not None:
                customer = session.get(CustomerRow, customer_id)
                if customer is None:
                    raise NotFound(f"no customer with id {customer_id}")
            existing = None
            if call_sid:
                existing = session.scalars(
                    select(EscalationRow)
                    .where(EscalationRow.call_sid == call_sid, EscalationRow.state != "resolved")
                    .order_by(EscalationRow.id.desc())
                    .limit(1)
                    .with_for_update()
                ).first()
            if existing is not None:
                if severity_rank(severity) > severity_rank(existing.severity):
                    self._event(
                        session,
                        existing,
                        "severity_raised",
                        data={"from": existing.severity, "to": severity, "trigger": trigger.kind},
                    )
                    existing.severity = severity
                # a graver trigger may add actions (a person request that turns into an
                # emergency now also reaches the contacts)
                added = [a for a in rule.actions if a not in (existing.actions or [])]
                if added:
                    existing.actions = list(existing.actions or []) + added
                    self._event(session, existing, "actions_added", data={"actions": added})
                if "transfer" in added and existing.agent_status == "none":
                    self._queue_agent(session, existing, now)
                if "notify_contacts" in added:
                    self._plan_contacts(session, existing, now)
                row = existing
                created = False
            else:
                row = EscalationRow(
                    call_sid=call_sid,
                    customer_id=customer_id,
                    channel=channel,
                    trigger_kind=trigger.kind,
                    severity=severity,
                    evidence=evidence,
                    actions=list(rule.actions),
                    state="open",
                    agent_status="none",
                    contact_plan=[],
                    contact_index=-1,
                    contact_round=0,
                    raised_count=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                created = True
                self._event(
                    session,
                    row,
                    "triggered",
                    data={
                        "kind": trigger.kind,
                        "severity": severity,
                        "evidence": evidence,
                        "actor": actor,
                    },
                )
                if actor != "system":
                    audit(
                        session,
                        actor,
                        "escalation_triggered",
                        "escalation",
                        row.id,
                        customer_id,
                        {"kind": trigger.kind},
                    )
                if "transfer" in rule.actions:
                    self._queue_agent(session, row, now)
                if "notify_contacts" in rule.actions:
                    self._plan_contacts(session, row, now)
            agent_token = issue_token(session, row.id, "agent", self.policy.link_ttl_s)
            escalation = _record(row)
            phone = customer.phone if customer is not None else None
            language = customer.language if customer is not None else "en"
        self._wake()
        if created:
            self._store_package(escalation, cues)
            self.hooks.emit({"type": "escalation_created", "escalation": escalation.to_dict()})
            self.observers.escalation_started(
                escalation.trigger_kind,
                escalation.severity,
                escalation.channel,
                escalation.agent_status != "none",
            )
        notices = []
        if life:
            number = self.policy.emergency_number(phone, self.config.emergency_number)
            notices = messages.emergency_notices(number, language, self.config.notice_rate_wpm)
        return Decision(
            escalation_id=escalation.id,
            severity=escalation.severity,
            trigger=Trigger(trigger.kind, severity, evidence),
            transfer="transfer" in escalation.actions,
            notify_contacts="notify_contacts" in escalation.actions,
            notices=notices,
            calm_text=messages.text("calm_transfer", language),
            handoff_url=self.link_url(agent_token),
        )

    def _queue_agent(self, session: Session, row: EscalationRow, now: datetime) -> None:
        row.agent_status = "queued"
        row.agent_deadline_at = now + timedelta(seconds=self.policy.sla_for(row.severity))
        self._event(session, row, "agent_queued", data={"sla_s": self.policy.sla_for(row.severity)})

    def _plan_contacts(self, session: Session, row: EscalationRow, now: datetime) -> None:
        if row.contact_plan or row.state != "open":
            return
        chosen, skipped = [], []
        if row.customer_id is not None:
            urgent_from = self.policy.contacts.urgent_from
            for r in session.scalars(
                select(ContactRow)
                .where(ContactRow.customer_id == row.customer_id)
                .order_by(ContactRow.position, ContactRow.id)
            ):
                c = contact_record(r)
                if not c.active:
                    skipped.append((c, "inactive"))
                elif not c.has_consent:
                    skipped.append((c, "no consent on record"))
                elif severity_rank(row.severity) < severity_rank(urgent_from) and not (
                    c.within_hours(now)
                ):
                    skipped.append((c, "outside the hours they may be called"))
                else:
                    chosen.append(c)
        for c, why in skipped:
            self._event(session, row, "contact_skipped", c.id, {"reason": why})
        row.contact_plan = [c.id for c in chosen]
        if not chosen:
            why = "caller not identified" if row.customer_id is None else "no consented contact"
            self._move(session, row, "supervisor", {"reason": why})
            self._alert(row, f"no emergency contact can be reached: {why}")
            return
        self._move(session, row, "notifying")
        self._next_contact(session, row, now)

    # ================================================================ contacts
    def _attempt_key(self, row: EscalationRow) -> str:
        cid = row.contact_plan[row.contact_index]
        return f"e{row.id}:r{row.contact_round}:i{row.contact_index}:c{cid}"

    def _next_contact(self, session: Session, row: EscalationRow, now: datetime) -> None:
        """Try the next contact in the plan (or the next round after its backoff, or the
        supervisors when every round is spent)."""
        plan = list(row.contact_plan or [])
        nxt = row.contact_index + 1
        if nxt >= len(plan):
            if row.contact_round + 1 < self.policy.contacts.rounds:
                row.contact_round += 1
                row.contact_index = -1
                backoff = self.policy.contacts.round_backoff_s
                wait = backoff[min(row.contact_round, len(backoff) - 1)] if backoff else 0.0
                self._event(
                    session, row, "round_scheduled", data={"round": row.contact_round, "in_s": wait}
                )
                if wait > 0:
                    self._check(row, now + timedelta(seconds=wait), "next_round")
                    return
                return self._next_contact(session, row, now)
            row.current_attempt = None
            self._check(row, None, None)
            self._move(session, row, "supervisor", {"reason": "nobody accepted"})
            self._event(session, row, "nobody_accepted", data={"rounds": row.contact_round + 1})
            self._alert(row, "no emergency contact accepted")
            return
        row.contact_index = nxt
        contact = session.get(ContactRow, plan[nxt])
        if contact is None or contact.consent_at is None or contact.consent_withdrawn_at:
            self._event(
                session,
                row,
                "contact_skipped",
                plan[nxt],
                {"reason": "removed or consent withdrawn since the plan"},
            )
            return self._next_contact(session, row, now)
        key = self._attempt_key(row)
        row.current_attempt = key
        sent_any = False
        if contact.channel in ("call", "both"):
            sent_any |= enqueue(
                session,
                key=key + ":call",
                kind="contact_call",
                channel="call",
                to_number=contact.phone,
                escalation_id=row.id,
                contact_id=contact.id,
                payload={"attempt": key},
            )
        if contact.channel in ("sms", "both"):
            # the link token is issued when the SMS is sent (never kept in clear in the outbox)
            sent_any |= enqueue(
                session,
                key=key + ":sms",
                kind="contact_sms",
                channel="sms",
                to_number=contact.phone,
                escalation_id=row.id,
                contact_id=contact.id,
                payload={"attempt": key},
            )
        self._event(
            session,
            row,
            "contact_attempt",
            contact.id,
            {
                "attempt": key,
                "channel": contact.channel,
                "position": nxt + 1,
                "round": row.contact_round + 1,
                "queued": sent_any,
            },
        )
        self._check(
            row, now + timedelta(seconds=self.policy.contacts.answer_wait_s), "contact_timeout"
        )

    def advance(self, escalation_id: int, attempt: str, why: str, data: dict | None = None) -> bool:
        """The attempt `attempt` ended without acceptance (`why`: no-answer, busy, failed,
        voicemail, hung up, timed out...): try the next contact. Ignored (False) unless that
        attempt is still the current one, so duplicate callbacks change nothing."""
        with self.store.write() as session:
            row = self._lock(session, escalation_id)
            if row.state != "notifying" or row.current_attempt != attempt:
                return False
            self._event(
                session,
                row,
                "attempt_ended",
                self._contact_of(row),
                {"attempt": attempt, "why": why, **(data or {})},
            )
            self._next_contact(session, row, utcnow())
        self._wake()
        return True

    def accept_contact(self, escalation_id: int, contact_id: int, via: str) -> str:
        """A contact accepts (keypress 1 or SMS reply). "accepted", or "already" when someone
        else accepted first (or the case is closed)."""
        now = utcnow()
        with self.store.write() as session:
            row = self._lock(session, escalation_id)
            if row.accepted_contact_id == contact_id and row.state in (
                "accepted",
                "confirming",
                "confirmed",
            ):
                return "accepted"
            if row.state not in ("notifying", "supervisor") or contact_id not in (
                row.contact_plan or []
            ):
                self._event(session, row, "late_acceptance", contact_id, {"via": via})
                return "already"
            self._move(session, row, "accepted", {"contact_id": contact_id, "via": via})
            row.accepted_contact_id = contact_id
            row.contact_accepted_at = now
            row.current_attempt = None
            self._event(session, row, "contact_accepted", contact_id, {"via": via})
            self._check(
                row, now + timedelta(seconds=self.policy.contacts.confirm_after_s), "confirm_due"
            )
            session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.escalation_id == row.id,
                    OutboxRow.status == "pending",
                    OutboxRow.kind.in_(("contact_call", "contact_sms")),
                )
                .values(status="cancelled", last_error="a contact accepted")
            )
            esc = _record(row)
        self.hooks.emit({"type": "contact_accepted", "escalation": esc.to_dict()})
        return "accepted"

    def confirm(self, escalation_id: int, helped: bool, via: str) -> str:
        """The accepting contact answers the call back: help arrived (closed) or not (raised
        again to the supervisors)."""
        with self.store.write() as session:
            row = self._lock(session, escalation_id)
            if row.state not in ("accepted", "confirming"):
                return row.state
            if helped:
                row.confirmed_at = utcnow()
                self._check(row, None, None)
                self._move(session, row, "confirmed", {"via": via})
                self._event(session, row, "confirmed", row.accepted_contact_id, {"via": via})
            else:
                self._raise_again(session, row, f"contact said help did not arrive ({via})")
            return row.state

    def _raise_again(self, session: Session, row: EscalationRow, why: str) -> None:
        row.raised_count += 1
        self._check(row, None, None)
        self._move(session, row, "supervisor", {"reason": why})
        self._event(session, row, "raised_again", row.accepted_contact_id, {"why": why})
        self._alert(row, f"raised again: {why}")

    # ================================================================ deadlines
    def process_due(self, limit: int = 20) -> int:
        """Run every deadline that has passed (contact timeouts, next rounds, confirmation
        calls, SLA breaches); rows are locked so several workers never run the same one."""
        now = utcnow()
        done = 0
        breaches: list[str] = []  # severities, for the observers once committed
        with self.store.write() as session:
            rows = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.next_check_at <= now)
                .order_by(EscalationRow.next_check_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                kind = row.next_check_kind
                self._check(row, None, None)
                if kind == "contact_timeout" and row.state == "notifying":
                    self._event(
                        session,
                        row,
                        "attempt_ended",
                        self._contact_of(row),
                        {"attempt": row.current_attempt, "why": "not accepted in time"},
                    )
                    self._next_contact(session, row, now)
                elif kind == "next_round" and row.state == "notifying":
                    self._next_contact(session, row, now)
                elif kind == "confirm_due" and row.state == "accepted":
                    self._move(session, row, "confirming")
                    enqueue(
                        session,
                        key=f"e{row.id}:confirm:{row.raised_count}",
                        kind="confirm_call",
                        channel="call",
                        to_number=self._contact_phone(session, row),
                        escalation_id=row.id,
                        contact_id=row.accepted_contact_id,
                        payload={},
                    )
                    self._event(session, row, "confirmation_call", row.accepted_contact_id)
                    self._check(
                        row,
                        now + timedelta(seconds=self.policy.contacts.confirm_wait_s),
                        "confirm_timeout",
                    )
                elif kind == "confirm_timeout" and row.state == "confirming":
                    self._raise_again(session, row, "help not confirmed in time")
                done += 1
            breached = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.agent_status == "queued")
                .where(EscalationRow.agent_deadline_at <= now)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in breached:
                row.agent_status = "breached"
                breaches.append(row.severity)
                late = (now - row.agent_deadline_at).total_seconds() if row.agent_deadline_at else 0
                self._event(
                    session,
                    row,
                    "sla_breach",
                    data={"sla_s": self.policy.sla_for(row.severity), "late_s": late},
                )
                self._alert(row, f"agent SLA breached ({row.severity})")
                self._fallback(session, row, now, "agent SLA breached")
                done += 1
        if done:
            self._wake()
        for severity in breaches:
            self.observers.sla_breached(severity)
        return done

    def _fallback(self, session: Session, row: EscalationRow, now: datetime, why: str) -> None:
        rule = self.policy.rule(row.trigger_kind)
        self._event(session, row, "fallback", data={"why": why, "actions": list(rule.fallback)})
        if "notify_contacts" in rule.fallback and row.state == "open":
            actions = list(row.actions or [])
            if "notify_contacts" not in actions:
                row.actions = actions + ["notify_contacts"]
            self._plan_contacts(session, row, now)
        if "supervisor" in rule.fallback:
            enqueue(
                session,
                key=f"e{row.id}:supervisor:{why}",
                kind="supervisor_alert",
                channel="log",
                to_number=self.config.supervisor_number or None,
                escalation_id=row.id,
                payload={"why": why},
            )

    # ================================================================ agents
    def accept_agent(self, escalation_id: int, agent: str) -> Escalation:
        """An agent takes the item. Exclusive: a second agent gets `Conflict`."""
        if not agent or not agent.strip():
            raise ValueError("the accepting agent must be named")
        now = utcnow()
        with self.store.write() as session:
            result = session.execute(
                update(EscalationRow)
                .where(
                    EscalationRow.id == escalation_id,
                    EscalationRow.agent_status.in_(("queued", "breached")),
                )
                .values(agent_status="accepted", agent_id=agent.strip(), accepted_at=now)
            )
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise UnknownEscalation(f"no escalation {escalation_id}")
            if not result.rowcount:
                raise Conflict(
                    f"escalation {escalation_id} is not waiting for an agent "
                    f"(agent status {row.agent_status}, held by {row.agent_id or 'nobody'})"
                )
            waited = None if row.answered_at is not None else (now - row.created_at)
            if row.answered_at is None:
                row.answered_at = now
            self._event(session, row, "agent_accepted", data={"agent": agent})
            audit(session, agent, "escalation_accepted", "escalation", row.id, row.customer_id)
            esc = _record(row)
        self.hooks.emit({"type": "agent_accepted", "escalation": esc.to_dict()})
        if waited is not None:
            self.observers.person_answered(waited.total_seconds(), esc.severity)
        return esc

    def agent_answered(self, escalation_id: int, data: dict | None = None) -> None:
        """The agent's phone was answered (the `<Dial>` leg's status callback)."""
        waited = None
        with self.store.write() as session:
            row = self._lock(session, escalation_id)
            if row.answered_at is None:
                row.answered_at = utcnow()
                self._event(session, row, "agent_answered", data=data or {})
                waited = (row.answered_at - row.created_at, row.severity)
            if row.agent_status in ("queued", "breached"):
                row.agent_status = "answered"
        if waited is not None:
            self.observers.person_answered(waited[0].total_seconds(), waited[1])

    def dial_ended(self, call_sid: str, dial_status: str) -> Escalation | None:
        """The `<Dial>` to the agent ended: unanswered runs the policy's fallback at once."""
        with self.store.write() as session:
            row = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.call_sid == call_sid)
                .order_by(EscalationRow.id.desc())
                .limit(1)
                .with_for_update()
            ).first()
            if row is None:
                return None
            self._event(session, row, "dial_ended", data={"status": dial_status})
            waited = breached = None
            if dial_status in ANSWERED_DIAL:
                if row.answered_at is None:
                    row.answered_at = utcnow()
                    waited = row.answered_at - row.created_at
                if row.agent_status in ("queued", "breached"):
                    row.agent_status = "answered"
            elif row.agent_status in ("queued", "breached"):
                if row.agent_status == "queued":  # the <Dial> rang for the SLA: a breach
                    breached = row.severity
                    self._event(
                        session,
                        row,
                        "sla_breach",
                        data={
                            "sla_s": self.policy.sla_for(row.severity),
                            "dial_status": dial_status,
                        },
                    )
                row.agent_status = "breached"
                self._alert(row, f"agent did not answer ({dial_status or 'no status'})")
                self._fallback(session, row, utcnow(), f"dial {dial_status or 'not answered'}")
            esc = _record(row)
        self._wake()
        if waited is not None:
            self.observers.person_answered(waited.total_seconds(), esc.severity)
        if breached is not None:
            self.observers.sla_breached(breached)
        return esc

    def resolve(self, escalation_id: int, actor: str, note: str = "") -> Escalation:
        """Close the escalation (a person decided it is over)."""
        with self.store.write() as session:
            row = self._lock(session, escalation_id)
            if row.state != "resolved":
                self._check(row, None, None)
                self._move(session, row, "resolved", {"by": actor, "note": note})
                if row.agent_status in ("queued", "breached"):
                    row.agent_status = "done"
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.escalation_id == row.id, OutboxRow.status == "pending")
                    .values(status="cancelled", last_error="escalation resolved")
                )
                audit(
                    session,
                    actor,
                    "escalation_resolved",
                    "escalation",
                    row.id,
                    row.customer_id,
                    {"note": note},
                )
            return _record(row)

    def queue(self) -> list[Escalation]:
        """Items waiting for an agent: most severe first, then longest waiting."""
        with self.store.read() as session:
            rows = session.scalars(
                select(EscalationRow).where(EscalationRow.agent_status.in_(("queued", "breached")))
            ).all()
            items = [_record(r) for r in rows]
        return sorted(items, key=lambda e: (-severity_rank(e.severity), e.created_at, e.id))

    def stats(self, within_s: float = 15.0) -> dict[str, Any]:
        """Queue figures: escalations handed to agents, how many a person answered, the share
        answered within `within_s` seconds, SLA breaches, waiting now."""
        with self.store.read() as session:
            rows = [
                _record(r)
                for r in session.scalars(
                    select(EscalationRow).where(EscalationRow.agent_status != "none")
                )
            ]
            breaches = session.scalars(
                select(EscalationEventRow.escalation_id).where(
                    EscalationEventRow.kind == "sla_breach"
                )
            ).all()
        answered = [r for r in rows if r.answered_at is not None]
        fast = [r for r in answered if (r.answered_at - r.created_at).total_seconds() <= within_s]
        waits = sorted((r.answered_at - r.created_at).total_seconds() for r in answered)
        return {
            "escalations": len(rows),
            "answered": len(answered),
            "answered_within_s": within_s,
            "answered_within": len(fast),
            "share_answered_within": (len(fast) / len(rows)) if rows else None,
            "median_answer_s": waits[len(waits) // 2] if waits else None,
            "sla_breaches": len(set(breaches)),
            "waiting": sum(1 for r in rows if r.agent_status in ("queued", "breached")),
            "by_severity": {s: sum(1 for r in rows if r.severity == s) for s in SEVERITIES},
        }

    # ================================================================ reading
    def get(self, escalation_id: int) -> Escalation:
        """One escalation; UnknownEscalation if absent."""
        with self.store.read() as session:
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise UnknownEscalation(f"no escalation {escalation_id}")
            return _record(row)

    def for_call(self, call_sid: str) -> Escalation | None:
        """The latest escalation of a call."""
        with self.store.read() as session:
            row = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.call_sid == call_sid)
                .order_by(EscalationRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _record(row)

    def events(self, escalation_id: int) -> list[EscalationEvent]:
        """The escalation's history, oldest first."""
        with self.store.read() as session:
            rows = session.scalars(
                select(EscalationEventRow)
                .where(EscalationEventRow.escalation_id == escalation_id)
                .order_by(EscalationEventRow.id)
            )
            return [
                EscalationEvent(r.id, r.escalation_id, r.at, r.kind, r.contact_id, r.data)
                for r in rows
            ]

    def package(self, escalation_id: int) -> dict[str, Any]:
        """The hand-off package (built now if it was not stored yet)."""
        with self.store.read() as session:
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise UnknownEscalation(f"no escalation {escalation_id}")
            stored = row.package
            esc = _record(row)
        if stored is None:
            stored = self._store_package(esc, None)
        stored = dict(stored)
        stored["escalation"] = self._package_head(esc)
        return stored

    def open_link(self, token: str, viewer: str) -> tuple[LinkGrant, dict[str, Any]]:
        """The limited view an expiring link opens (audited); `LinkError` if invalid."""
        error: LinkError | None = None
        with self.store.write() as session:  # commits the audit row of a refused link too
            try:
                grant = open_token(session, token, viewer)
            except LinkError as exc:
                error = exc
        if error is not None:
            raise error
        return grant, limited_view(self.package(grant.escalation_id), grant.audience)

    def link_url(self, token: str) -> str:
        """The public URL of a hand-off link."""
        return f"{self.config.base_url().rstrip('/')}/handoff/{token}"

    def _package_head(self, esc: Escalation) -> dict[str, Any]:
        head = esc.to_dict()
        head["evidence"] = esc.evidence
        return head

    def _store_package(self, esc: Escalation, cues: list[dict[str, Any]] | None) -> dict:
        try:
            package = build_package(
                self.store,
                escalation=self._package_head(esc),
                call_sid=esc.call_sid,
                customer_id=esc.customer_id,
                cues=cues,
            )
        except Exception:  # the package must never stop the escalation itself
            log.exception("hand-off package for escalation %s failed", esc.id)
            package = {"escalation": self._package_head(esc), "error": "package incomplete"}
        with self.store.write() as session:
            session.execute(
                update(EscalationRow).where(EscalationRow.id == esc.id).values(package=package)
            )
        return package

    # ================================================================ outbox rendering
    def _url(self, path: str, **query: Any) -> str:
        base = self.config.base_url().rstrip("/")
        return f"{base}{path}?{urlencode(query)}" if query else f"{base}{path}"

    def render(self, item: OutboundItem) -> OutboundItem:
        """Fill in what goes to the provider (URLs, the SMS text) at send time."""
        payload = dict(item.payload)
        if item.kind in ("contact_call", "confirm_call"):
            page = "contact-call" if item.kind == "contact_call" else "confirm-call"
            payload["url"] = self._url(f"/escalation/twilio/{page}", o=item.id)
            payload["status_callback"] = self._url("/escalation/twilio/call-status", o=item.id)
        elif item.kind == "contact_sms":
            payload["body"] = self._sms_text(item)
            payload["status_callback"] = self._url("/escalation/twilio/sms-status", o=item.id)
        return replace(item, payload=payload)

    def message_values(self, escalation_id: int, contact_id: int | None) -> dict[str, str]:
        """The words that fill the contact's messages (caller, relationship, time, reason)."""
        with self.store.read() as session:
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise UnknownEscalation(f"no escalation {escalation_id}")
            customer = session.get(CustomerRow, row.customer_id) if row.customer_id else None
            contact = session.get(ContactRow, contact_id) if contact_id else None
            language = contact.language if contact is not None else "en"
            relationship = contact.relationship if contact is not None else "relative"
            tz = contact.timezone if contact is not None else "UTC"
            from zoneinfo import ZoneInfo

            local = row.created_at.astimezone(ZoneInfo(tz))
            agent_note = ""
            if "transfer" in (row.actions or []):
                agent_note = (
                    "One of our team is with them on the phone." if language == "en" else ""
                )
            return {
                "service": self.config.service_name,
                "caller": customer.name if customer is not None else "your relative",
                "relationship": relationship,
                "time": local.strftime("%H:%M"),
                "reason": messages.text(messages.reason_key(row.trigger_kind), language),
                "them": messages.text("them", language),
                "agent_note": agent_note,
                "language": language,
                "caller_phone": (customer.phone or "") if customer is not None else "",
                "trigger": row.trigger_kind,  # picks the wording (`messages.for_trigger`)
            }

    def _sms_text(self, item: OutboundItem) -> str:
        escalation_id = self._escalation_of_item(item.id)
        values = self.message_values(escalation_id, item.contact_id)
        with self.store.write() as session:
            token = issue_token(
                session,
                escalation_id,
                "contact",
                self.policy.contact_link_ttl_s,
                contact_id=item.contact_id,
            )
        language = values.pop("language")
        values.pop("caller_phone")
        key = messages.for_trigger("sms", values.get("trigger"))
        return messages.text(key, language, link=self.link_url(token), **values)

    def _escalation_of_item(self, item_id: int) -> int:
        with self.store.read() as session:
            row = session.get(OutboxRow, item_id)
            if row is None or row.escalation_id is None:
                raise UnknownEscalation(f"outbox item {item_id} has no escalation")
            return row.escalation_id

    def outbox_item(self, item_id: int) -> OutboxRow:
        """The outbox row behind a webhook's `o` parameter (detached copy)."""
        with self.store.read() as session:
            row = session.get(OutboxRow, item_id)
            if row is None:
                raise UnknownEscalation(f"no outbox item {item_id}")
            session.expunge(row)
            return row

    # worker callbacks ------------------------------------------------------------------
    def sent(self, item: OutboundItem, result: SendResult) -> None:
        """The provider accepted a notification."""
        self._item_event(
            item,
            "notification_sent",
            {
                "sid": result.sid,
                "status": result.status,
                "dry_run": result.dry_run,
                "kind": item.kind,
                "channel": item.channel,
            },
        )

    def failed(self, item: OutboundItem, error: str, outcome: str) -> None:
        """An attempt failed: "retry" is only recorded; "dead" moves the workflow on."""
        self._item_event(
            item,
            "notification_failed" if outcome == "dead" else "send_retry",
            {"error": error, "attempts": item.attempts, "kind": item.kind},
        )
        if outcome == "retry":
            self.observers.notification_retry(item.channel)
        if outcome != "dead" or item.escalation_id is None:
            return  # other outbox users (outbound calls) read their own rows' outcome
        esc_id = self._escalation_of_item(item.id)
        if item.kind in ("contact_call", "contact_sms"):
            self.advance(
                esc_id, item.payload.get("attempt", ""), "could not be sent", {"error": error}
            )
        elif item.kind == "confirm_call":
            with self.store.write() as session:
                row = self._lock(session, esc_id)
                if row.state == "confirming":
                    self._raise_again(session, row, "confirmation call could not be made")

    def _item_event(self, item: OutboundItem, kind: str, data: dict[str, Any]) -> None:
        with self.store.write() as session:
            row = session.get(OutboxRow, item.id)
            if row is None or row.escalation_id is None:
                return
            event = EscalationEventRow(
                escalation_id=row.escalation_id,
                at=utcnow(),
                kind=kind,
                contact_id=row.contact_id,
                data=data,
            )
            session.add(event)
            esc = session.get(EscalationRow, row.escalation_id)
            chain_escalation_event(session, event, esc.customer_id if esc else None)

    def record(
        self, escalation_id: int, kind: str, contact_id: int | None, data: dict[str, Any]
    ) -> None:
        """Store one event (an answer, a voicemail, a status callback...)."""
        with self.store.write() as session:
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise UnknownEscalation(f"no escalation {escalation_id}")
            self._event(session, row, kind, contact_id, data)

    def escalation_for_sms_reply(self, phone: str) -> tuple[int, int] | None:
        """(escalation id, contact id) an SMS reply from `phone` answers: the latest
        escalation still looking for a contact that texted this number."""
        with self.store.read() as session:
            found = session.execute(
                select(OutboxRow.escalation_id, OutboxRow.contact_id)
                .join(EscalationRow, EscalationRow.id == OutboxRow.escalation_id)
                .where(
                    OutboxRow.to_number == phone,
                    OutboxRow.kind == "contact_sms",
                    OutboxRow.status == "sent",
                    EscalationRow.state.in_(("notifying", "supervisor", "accepted")),
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            ).first()
            return None if found is None else (int(found[0]), int(found[1]))

    # ================================================================ helpers
    def _lock(self, session: Session, escalation_id: int) -> EscalationRow:
        row = session.scalars(
            select(EscalationRow).where(EscalationRow.id == escalation_id).with_for_update()
        ).first()
        if row is None:
            raise UnknownEscalation(f"no escalation {escalation_id}")
        return row

    def _move(self, session: Session, row: EscalationRow, new: str, data: dict | None = None):  # noqa: ANN202
        if new not in ALLOWED[row.state]:
            raise Conflict(f"escalation {row.id}: cannot go from {row.state} to {new}")
        self._event(session, row, "state", data={"from": row.state, "to": new, **(data or {})})
        row.state = new
        row.updated_at = utcnow()

    @staticmethod
    def _check(row: EscalationRow, at: datetime | None, kind: str | None) -> None:
        row.next_check_at = at
        row.next_check_kind = kind

    @staticmethod
    def _event(
        session: Session,
        row: EscalationRow,
        kind: str,
        contact_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        event = EscalationEventRow(
            escalation_id=row.id, at=utcnow(), kind=kind, contact_id=contact_id, data=data
        )
        session.add(event)
        chain_escalation_event(session, event, row.customer_id)

    @staticmethod
    def _contact_of(row: EscalationRow) -> int | None:
        plan = row.contact_plan or []
        return plan[row.contact_index] if 0 <= row.contact_index < len(plan) else None

    @staticmethod
    def _contact_phone(session: Session, row: EscalationRow) -> str | None:
        contact = (
            session.get(ContactRow, row.accepted_contact_id) if row.accepted_contact_id else None
        )
        return contact.phone if contact is not None else None

    def _alert(self, row: EscalationRow, what: str) -> None:
        log.warning("ESCALATION %s (%s, %s): %s", row.id, row.severity, row.trigger_kind, what)
        self.hooks.emit(
            {"type": "alert", "escalation_id": row.id, "severity": row.severity, "what": what}
        )

    def _wake(self) -> None:
        for wake in list(self.wakers):
            try:
                wake()
            except Exception:
                log.exception("waking a worker failed")
