"""What Twilio's webhooks about escalation calls and messages do, as plain functions returning
TwiML (the FastAPI router in `ivr.web.escalation_routes` checks signatures and calls these)."""

from __future__ import annotations

from collections.abc import Mapping

from emergency_contact import messages
from emergency_contact.service import TERMINAL_CALL, EscalationService
from speech.cues.lexical import normalise

MAX_REPLAYS = 2


def _values(svc: EscalationService, item_id: int) -> tuple[object, dict[str, str], str, str]:
    row = svc.outbox_item(item_id)
    values = svc.message_values(row.escalation_id, row.contact_id)
    language = values.pop("language")
    caller_phone = values.pop("caller_phone")
    return row, values, language, caller_phone


def contact_call(
    svc: EscalationService, item_id: int, form: Mapping[str, str], gather_url: str
) -> str:
    """The contact picked up (Twilio fetches the call's `Url`): the message and the choice;
    an answering machine gets a short call-back request and the next contact is tried."""
    row, values, language, _ = _values(svc, item_id)
    answered_by = form.get("AnsweredBy", "")
    if answered_by.startswith("machine") or answered_by == "fax":
        svc.record(row.escalation_id, "voicemail", row.contact_id, {"answered_by": answered_by})
        svc.advance(row.escalation_id, row.payload.get("attempt", ""), "voicemail")
        return messages.say_twiml(messages.text("contact_voicemail", language, **values), language)
    if row.kind == "confirm_call":
        svc.record(row.escalation_id, "confirmation_answered", row.contact_id, {})
        text = messages.text("confirm_call", language, **values)
        return messages.contact_call_twiml(text, gather_url, language)
    svc.record(row.escalation_id, "contact_answered", row.contact_id, {"answered_by": answered_by})
    key = messages.for_trigger("contact_call", values.get("trigger"))
    text = messages.text(key, language, **values)
    return messages.contact_call_twiml(text, gather_url, language)


def contact_gather(
    svc: EscalationService, item_id: int, form: Mapping[str, str], replay_url: str, replays: int
) -> str:
    """The contact's key: 1 accepts (and is connected to the caller when we have their number),
    2 or nothing replays the message (twice at most, then the next contact is tried)."""
    row, values, language, caller_phone = _values(svc, item_id)
    digits = form.get("Digits", "")
    svc.record(row.escalation_id, "contact_key", row.contact_id, {"digits": digits or None})
    if row.kind == "confirm_call":
        if digits in ("1", "2"):
            svc.confirm(row.escalation_id, helped=digits == "1", via="keypad")
            key = "confirm_yes" if digits == "1" else "confirm_no"
            return messages.say_twiml(messages.text(key, language, **values), language)
    elif digits == "1":
        outcome = svc.accept_contact(row.escalation_id, row.contact_id, via="keypress")
        if outcome == "accepted":
            if caller_phone:
                text = messages.text("contact_accepted_dial", language, **values)
                return messages.say_twiml(text, language, dial=caller_phone)
            return messages.say_twiml(
                messages.text("contact_accepted", language, **values), language
            )
        return messages.say_twiml(messages.text("already_accepted", language, **values), language)
    if replays < MAX_REPLAYS:
        key = "confirm_call" if row.kind == "confirm_call" else "contact_call"
        key = messages.for_trigger(key, values.get("trigger"))
        text = messages.text(key, language, **values)
        return messages.contact_call_twiml(text, replay_url, language)
    if row.kind == "contact_call":
        svc.advance(row.escalation_id, row.payload.get("attempt", ""), "no key pressed")
    return messages.say_twiml(messages.text("no_choice", language, **values), language)


def call_status(svc: EscalationService, item_id: int, form: Mapping[str, str]) -> None:
    """A status callback for a contact or confirmation call: stored; a contact call that ended
    without acceptance moves on to the next contact."""
    row = svc.outbox_item(item_id)
    status = form.get("CallStatus", "")
    data = {"status": status, "call_sid": form.get("CallSid", "")}
    if form.get("AnsweredBy"):
        data["answered_by"] = form["AnsweredBy"]
    svc.record(row.escalation_id, "call_status", row.contact_id, data)
    if row.kind == "contact_call" and status in TERMINAL_CALL:
        svc.advance(row.escalation_id, row.payload.get("attempt", ""), f"call {status}")


def sms_status(svc: EscalationService, item_id: int, form: Mapping[str, str]) -> None:
    """A message status callback (queued, sent, delivered, undelivered, failed): stored; an
    undeliverable SMS to an SMS-only contact moves on."""
    row = svc.outbox_item(item_id)
    status = form.get("MessageStatus") or form.get("SmsStatus", "")
    svc.record(row.escalation_id, "sms_status", row.contact_id, {"status": status})
    if status in ("failed", "undelivered"):
        svc.advance(row.escalation_id, row.payload.get("attempt", ""), f"sms {status}")


def sms_reply(svc: EscalationService, form: Mapping[str, str]) -> str:
    """An SMS from a contact: an accept word accepts the latest escalation that texted them."""
    phone = form.get("From", "")
    body = normalise(form.get("Body", ""))
    found = svc.escalation_for_sms_reply(phone)
    if found is None:
        return messages.sms_reply_twiml(messages.text("sms_unknown", "en"))
    escalation_id, contact_id = found
    values = svc.message_values(escalation_id, contact_id)
    language = values.pop("language")
    values.pop("caller_phone")
    svc.record(escalation_id, "sms_reply", contact_id, {"body": form.get("Body", "")[:160]})
    if body not in svc.policy.contacts.accept_words:
        return messages.sms_reply_twiml(messages.text("sms_unknown", language, **values))
    outcome = svc.accept_contact(escalation_id, contact_id, via="sms")
    key = "sms_accepted" if outcome == "accepted" else "sms_already"
    return messages.sms_reply_twiml(messages.text(key, language, **values))
