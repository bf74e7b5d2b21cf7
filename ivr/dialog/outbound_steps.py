"""Backend steps of the outbound flow (`ivr/flows/outbound.yaml`): calls the service places.

The call session fills the dialog's variables before the flow starts (`outbound_kind`, `name`,
`service`, `reminder_topic`, `next_call`) and sets the customer as pending, so the flow only
asks "Am I speaking with ...?" and never identifies the caller. What the person answers is
emitted as `Event("outbound_answer", {"name", "value"})`: the outbound service reads those
events from the store when the call ends.

Amounts and dates are worded by `ivr.dialog.spoken` (as on inbound calls; English with the
numbers in digits, key words the slow TTS pauses around: "12 pounds and 99 pence").

Registered in `ivr.dialog.builtins.STEPS` (and the variables in `KNOWN_VARIABLES`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivr.dialog.actions import Event
from ivr.dialog.spoken import amount_words, date_words

if TYPE_CHECKING:
    from ivr.dialog.builtins import ActionContext

ANSWER_EVENT = "outbound_answer"
KINDS = ("checkin", "reminder", "survey")


def outbound_route(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Which part of the flow this call is for (the session set `outbound_kind`)."""
    kind = str(ctx.variables.get("outbound_kind", ""))
    if kind not in KINDS:
        raise RuntimeError(f"outbound call without a known kind: {kind!r}")
    return kind


def load_reminder(ctx: ActionContext, args: dict[str, Any]) -> str:
    """What is due, read from the account now (it may have changed since the call was
    scheduled): `reminder_amount`, `reminder_date` (and `maturing_product`)."""
    if ctx.customer is None:
        return "nothing"
    try:
        summary = ctx.backend.account_summary(ctx.customer.id)
    except LookupError:
        return "nothing"
    today = ctx.today()
    topic = str(ctx.variables.get("reminder_topic", "payment"))
    words = ctx.currency_words(summary.currency)
    v = ctx.variables
    if (
        topic == "payment"
        and summary.next_payment_amount is not None
        and summary.next_payment_date is not None
        and summary.next_payment_date >= today
    ):
        v["reminder_amount"] = amount_words(
            summary.next_payment_amount,
            words,
            ctx.language,
            currency=summary.currency,
            digits=True,
        )
        v["reminder_date"] = date_words(summary.next_payment_date, today, ctx.language, digits=True)
        ctx.emit(Event("reminder_read", {"topic": "payment"}))
        return "payment"
    if (
        topic == "maturing"
        and summary.maturing_product
        and summary.maturing_date is not None
        and summary.maturing_date >= today
    ):
        v["maturing_product"] = summary.maturing_product
        v["reminder_date"] = date_words(summary.maturing_date, today, ctx.language, digits=True)
        ctx.emit(Event("reminder_read", {"topic": "maturing"}))
        return "maturing"
    ctx.emit(Event("reminder_read", {"topic": topic, "nothing_due": True}))
    return "nothing"


def record_answer(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Note an answer (`args.name`, `args.value`) for the outbound service."""
    ctx.emit(Event(ANSWER_EVENT, {"name": str(args["name"]), "value": args.get("value")}))
    return "done"


def check_score(ctx: ActionContext, args: dict[str, Any]) -> str:
    """The survey score just entered (`survey_score`): a number from 1 to 5, else invalid."""
    raw = str(ctx.variables.pop("survey_score", ""))
    if raw.isdigit() and 1 <= int(raw) <= 5:
        ctx.emit(Event(ANSWER_EVENT, {"name": "survey_score", "value": int(raw)}))
        return "ok"
    ctx.emit(Event("survey_score_refused", {"entered": raw}))
    return "invalid"


OUTBOUND_STEPS = {
    "outbound_route": (outbound_route, KINDS),
    "load_reminder": (load_reminder, ("payment", "maturing", "nothing")),
    "record_answer": (record_answer, ("done",)),
    "check_score": (check_score, ("ok", "invalid")),
}
OUTBOUND_VARIABLES = frozenset(
    {"service", "next_call", "reminder_amount", "reminder_date", "survey_score"}
)
