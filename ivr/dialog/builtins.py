"""The backend steps a flow's `action` states may run, and the outcomes each can lead to.

Each step takes the engine's `ActionContext` and the state's `args`, may set variables and
emit actions (events, rate changes), and returns the name of an outcome; the flow maps each
outcome to the next state.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from ivr.dialog.actions import Action, Event
from ivr.dialog.backend import AccountSummary, CustomerInfo, DialogBackend
from ivr.dialog.spoken import amount_words, date_words, digits_spoken


class ActionContext(Protocol):
    """What a step may use (the engine implements it)."""

    backend: DialogBackend
    caller_phone: str | None
    call_sid: str
    variables: dict[str, Any]
    customer: CustomerInfo | None
    pending_customer: CustomerInfo | None
    language: str

    def emit(self, action: Action) -> None:
        """Add an action to the reply being built."""

    def identified(self, customer: CustomerInfo, method: str) -> None:
        """Record that the caller is `customer` (applies their preferred rate)."""

    def prompt_text(self, key: str) -> str:
        """A prompt's text in the call's language (for wording built from parts)."""

    def currency_words(self, code: str) -> dict[str, str] | None:
        """Words for a currency in the call's language."""

    def today(self) -> Any:
        """Today's date (injectable for tests)."""

    def switch_dialect(self, dialect: str, source: str) -> bool:
        """Speak and understand `dialect` from now on (False if it cannot be loaded here)."""


Step = Callable[[ActionContext, dict[str, Any]], str]


def identify_by_phone(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Look the caller up by caller ID; the flow should then confirm who they are."""
    found = ctx.backend.identify_by_phone(ctx.caller_phone) if ctx.caller_phone else None
    if found is None:
        return "not_found"
    ctx.pending_customer = found
    ctx.variables["name"] = found.name
    return "found"


def accept_identity(ctx: ActionContext, args: dict[str, Any]) -> str:
    """The caller confirmed they are the customer found by caller ID."""
    if ctx.pending_customer is None:
        raise RuntimeError("accept_identity ran before identify_by_phone found a customer")
    ctx.identified(ctx.pending_customer, "caller_id")
    return "done"


def verify_account(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Check `account_number` and `pin`; after `max_attempts` wrong tries the outcome is locked."""
    account = str(ctx.variables.get("account_number", ""))
    pin = str(ctx.variables.pop("pin", ""))
    found = ctx.backend.identify_by_account(account, pin)
    if found is not None:
        ctx.identified(found, "account_pin")
        return "ok"
    tries = int(ctx.variables.get("pin_failures", 0)) + 1
    ctx.variables["pin_failures"] = tries
    ctx.emit(Event("identity_failed", {"attempt": tries}))
    return "locked" if tries >= int(args.get("max_attempts", 3)) else "wrong"


def load_account(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Fill balance, next payment and maturing product variables in plain words of the
    call's language (`ivr.dialog.spoken`)."""
    if ctx.customer is None:
        return "unavailable"
    try:
        summary: AccountSummary = ctx.backend.account_summary(ctx.customer.id)
    except LookupError:
        return "unavailable"
    words = ctx.currency_words(summary.currency)
    lang, today = ctx.language, ctx.today()

    def money(amount: Decimal) -> str:
        return amount_words(amount, words, lang, currency=summary.currency)

    v = ctx.variables
    v["balance"] = money(summary.balance)
    for name in ("next_payment", "next_payment_amount", "next_payment_date"):
        v.pop(name, None)
    for name in ("maturing", "maturing_product", "maturing_date"):
        v.pop(name, None)
    if summary.next_payment_amount is not None and summary.next_payment_date is not None:
        v["next_payment"] = True
        v["next_payment_amount"] = money(summary.next_payment_amount)
        v["next_payment_date"] = date_words(summary.next_payment_date, today, lang)
    if summary.maturing_product and summary.maturing_date is not None:
        v["maturing"] = True
        v["maturing_product"] = summary.maturing_product
        v["maturing_date"] = date_words(summary.maturing_date, today, lang)
    return "ok"


def create_ticket(ctx: ActionContext, args: dict[str, Any]) -> str:
    """Open a ticket with the caller's own words (`description`); set `reference_digits`."""
    description = str(ctx.variables.get("description", "")).strip()
    customer_id = ctx.customer.id if ctx.customer else None
    reference = ctx.backend.create_ticket(customer_id, ctx.call_sid, description)
    ctx.variables["reference"] = reference
    ctx.variables["reference_digits"] = digits_spoken(reference)
    ctx.emit(Event("ticket_opened", {"reference": reference, "description": description}))
    return "done"


def load_latest_ticket(ctx: ActionContext, args: dict[str, Any]) -> str:
    """The caller's newest ticket: `reference_digits` and `status` (a plain sentence)."""
    if ctx.customer is None:
        return "none"
    tickets = ctx.backend.latest_tickets(ctx.customer.id)
    if not tickets:
        return "none"
    ticket = tickets[0]
    ctx.variables["reference"] = ticket.reference
    ctx.variables["reference_digits"] = digits_spoken(ticket.reference)
    ctx.variables["status"] = ctx.prompt_text(f"status_{ticket.status}")
    ctx.emit(Event("ticket_read", {"reference": ticket.reference, "status": ticket.status}))
    return "found"


def set_dialect(ctx: ActionContext, args: dict[str, Any]) -> str:
    """The caller chose a language or dialect (`args.dialect`, a pack id) by voice or keypad.

    Always emits `Event("dialect_requested")` for the session (TTS voice, recognizer, profile);
    when the engine can load packs itself, the wording switches at once.
    """
    dialect = str(args.get("dialect", ""))
    ctx.emit(Event("dialect_requested", {"dialect": dialect, "source": "caller"}))
    ctx.switch_dialect(dialect, "caller")
    return "done"


STEPS: dict[str, tuple[Step, tuple[str, ...]]] = {
    "set_dialect": (set_dialect, ("done",)),
    "identify_by_phone": (identify_by_phone, ("found", "not_found")),
    "accept_identity": (accept_identity, ("done",)),
    "verify_account": (verify_account, ("ok", "wrong", "locked")),
    "load_account": (load_account, ("ok", "unavailable")),
    "create_ticket": (create_ticket, ("done",)),
    "load_latest_ticket": (load_latest_ticket, ("found", "none")),
}

# Variables the steps and the engine may set, usable as {placeholders} and in `when:`.
KNOWN_VARIABLES = frozenset(
    {
        "name",
        "balance",
        "next_payment",
        "next_payment_amount",
        "next_payment_date",
        "maturing",
        "maturing_product",
        "maturing_date",
        "reference",
        "reference_digits",
        "status",
        "description",
        "account_number",
    }
)

# the outbound flow's steps and variables (issue 8: calls the service places)
from ivr.dialog.outbound_steps import OUTBOUND_STEPS, OUTBOUND_VARIABLES  # noqa: E402

STEPS.update(OUTBOUND_STEPS)
KNOWN_VARIABLES = KNOWN_VARIABLES | OUTBOUND_VARIABLES
