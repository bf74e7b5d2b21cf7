"""The agent hand-off package: everything a person needs so the caller never explains twice.

Transcript (the caller's own words and the canonical intents), cues with their timeline, the
trigger and its evidence, the caller's profile, dialect and preferred speech rate, recent
history across phone and kiosk, open tickets. Personal numbers are masked throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from carestore.db import Store
from carestore.errors import UnknownCall
from emergency_contact.masking import mask_number, mask_text
from speech.cues.lexical import lexical_cues

OPEN_TICKET_STATUSES = ("received", "in_progress", "waiting_for_customer")
CuesProvider = Callable[[], Iterable[dict[str, Any]]]


def _segments(store: Store, call_sid: str | None) -> list[Any]:
    if not call_sid:
        return []
    try:
        return store.transcript(call_sid)
    except UnknownCall:
        return []


def transcript_entries(segments: list[Any]) -> list[dict[str, Any]]:
    """The transcript, masked: speaker, words, intent, audio span, time."""
    out = []
    for s in segments:
        out.append(
            {
                "seq": s.seq,
                "speaker": s.speaker,
                "text": mask_text(s.text),
                "intent": s.intent,
                "confidence": None if s.confidence is None else round(s.confidence, 3),
                "start_s": s.audio_start_s,
                "end_s": s.audio_end_s,
                "at": s.created_at.isoformat(),
            }
        )
    return out


def lexical_timeline(segments: list[Any]) -> list[dict[str, Any]]:
    """Lexical cues of each caller utterance, on the call's timeline (from the stored words)."""
    cues: list[dict[str, Any]] = []
    recent: list[str] = []
    for s in segments:
        if s.speaker != "caller" or (s.extra or {}).get("dtmf"):
            continue
        start = s.audio_start_s or 0.0
        end = s.audio_end_s or start
        for cue in lexical_cues(s.text, start_s=start, end_s=end, recent_texts=recent):
            entry = cue.to_dict()
            entry["evidence"] = mask_text(entry["evidence"])
            cues.append(entry)
        recent = (recent + [s.text])[-4:]
    return cues


def build_package(
    store: Store,
    *,
    escalation: dict[str, Any],
    call_sid: str | None,
    customer_id: int | None,
    cues: Iterable[dict[str, Any]] | None = None,
    history_limit: int = 10,
) -> dict[str, Any]:
    """The hand-off package as JSON-ready data. `cues` are the session's assessments (each a
    `Cue.to_dict()` or `Assessment.to_dict()` with `t`); without them, the lexical cues of the
    stored words are used."""
    segments = _segments(store, call_sid)
    call = store.get_call(call_sid) if call_sid else None
    customer = store.get_customer(customer_id) if customer_id is not None else None
    profile = None
    history: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    if customer is not None:
        profile = {
            "customer_id": customer.id,
            "name": customer.name,
            "account_number": mask_number(customer.account_number),
            "phone": mask_number(customer.phone, keep=4),
            "language": customer.language,
            "dialect": customer.dialect,
            "preferred_rate_wpm": customer.preferred_rate_wpm,
            "keypad_only": customer.keypad_only,
        }
        for c in store.calls_for_customer(customer.id, limit=history_limit + 1):
            if c.call_sid == call_sid:
                continue
            history.append(
                {
                    "call_sid": c.call_sid,
                    "channel": c.channel,
                    "started_at": c.started_at.isoformat(),
                    "ended_at": c.ended_at.isoformat() if c.ended_at else None,
                    "outcome": c.outcome,
                }
            )
        for t in store.tickets_for_customer(customer.id):
            if t.status in OPEN_TICKET_STATUSES:
                tickets.append(
                    {
                        "reference": t.reference,
                        "status": t.status,
                        "summary": mask_text(t.summary),
                        "opened_at": t.created_at.isoformat(),
                    }
                )
    cue_list = [dict(c) for c in cues] if cues is not None else lexical_timeline(segments)
    for cue in cue_list:
        if isinstance(cue.get("evidence"), str):
            cue["evidence"] = mask_text(cue["evidence"])
    cue_list.sort(key=lambda c: c.get("start_s", c.get("t", 0.0)) or 0.0)
    transcript = transcript_entries(segments)
    return {
        "escalation": escalation,
        "call": None
        if call is None
        else {
            "call_sid": call.call_sid,
            "channel": call.channel,
            "started_at": call.started_at.isoformat(),
            "from": mask_number(call.from_number, keep=4),
            "preferred_rate_wpm": call.preferred_rate_wpm,
        },
        "caller": profile,
        "transcript": transcript,
        "caller_words": [t["text"] for t in transcript if t["speaker"] == "caller"],
        "intents": [t["intent"] for t in transcript if t["speaker"] == "caller" and t["intent"]],
        "cues": cue_list,
        "history": history[:history_limit],
        "open_tickets": tickets,
    }


def limited_view(package: dict[str, Any], audience: str) -> dict[str, Any]:
    """What an expiring link shows without a login. Contacts: the summary only (who, when, why,
    severity). Agents: also the caller's masked words, intents, cues and profile basics."""
    esc = package.get("escalation", {})
    caller = package.get("caller") or {}
    view: dict[str, Any] = {
        "escalation_id": esc.get("id"),
        "created_at": esc.get("created_at"),
        "severity": esc.get("severity"),
        "reason": esc.get("trigger_kind"),
        "caller_name": caller.get("name"),
        "state": esc.get("state"),
    }
    if audience == "agent":
        view.update(
            caller_words=package.get("caller_words", []),
            intents=package.get("intents", []),
            cues=[
                {k: c.get(k) for k in ("name", "strength", "start_s", "evidence")}
                for c in package.get("cues", [])
            ],
            dialect=caller.get("dialect"),
            preferred_rate_wpm=caller.get("preferred_rate_wpm"),
            language=caller.get("language"),
            evidence=esc.get("evidence"),
        )
    return view
