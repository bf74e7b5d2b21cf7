"""Demo data for the embedded default: a few elderly customers with accounts and a ticket.

Idempotent: customers are matched by account number; what exists is left alone. New PINs are
random and returned once (the caller prints them); only their hashes are stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from carestore.db import Store
from carestore.records import Customer, Ticket


@dataclass(frozen=True)
class DemoCustomer:
    """One demo customer and their account."""

    name: str
    account_number: str
    phone: str | None
    language: str
    dialect: str | None
    preferred_rate_wpm: int | None
    keypad_only: bool
    balance: Decimal
    currency: str
    next_payment_amount: Decimal | None
    next_payment_in_days: int | None
    maturing_product: str | None = None
    maturing_in_days: int | None = None
    open_ticket: str | None = None
    # outbound calls (issue 8): a weekly check-in (weekday 0 = Monday, local HH:MM) and
    # reminder calls, both agreed to on the phone
    checkin: tuple[int, str] | None = None
    reminders: bool = False


DEMO_CUSTOMERS = (
    DemoCustomer(
        name="Margaret Thompson",
        account_number="10000001",
        phone="+441632960001",
        language="en",
        dialect="en-gb",
        preferred_rate_wpm=120,
        keypad_only=False,
        balance=Decimal("2418.50"),
        currency="GBP",
        next_payment_amount=Decimal("45.00"),
        next_payment_in_days=9,
        maturing_product="two-year fixed rate savings bond",
        maturing_in_days=24,
        open_ticket="My last statement shows a payment of forty five pounds twice.",
        checkin=(0, "10:30"),
        reminders=True,
    ),
    DemoCustomer(
        name="Harold Jenkins",
        account_number="10000002",
        phone="+441632960002",
        language="en",
        dialect="en-scotland",
        preferred_rate_wpm=None,
        keypad_only=True,
        balance=Decimal("312.07"),
        currency="GBP",
        next_payment_amount=Decimal("12.99"),
        next_payment_in_days=3,
        reminders=True,
    ),
    DemoCustomer(
        name="Dorothy Williams",
        account_number="20000143",
        phone="+12025550143",
        language="en",
        dialect="en-us",
        preferred_rate_wpm=130,
        keypad_only=False,
        balance=Decimal("1875.00"),
        currency="USD",
        next_payment_amount=None,
        next_payment_in_days=None,
        maturing_product="twelve-month certificate of deposit",
        maturing_in_days=41,
    ),
)


@dataclass
class SeedReport:
    """What `seed` did: new customers with their one-time PINs, those already there, tickets."""

    created: list[tuple[Customer, str]] = field(default_factory=list)
    existing: list[Customer] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)


def random_pin(length: int = 4) -> str:
    """A random PIN that is not all one digit nor a plain run like 1234."""
    while True:
        pin = "".join(str(secrets.randbelow(10)) for _ in range(length))
        steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
        if len(steps) > 1:
            return pin


def seed(store: Store, today: date | None = None) -> SeedReport:
    """Add the demo customers that are missing (see the module docstring)."""
    today = today or date.today()
    report = SeedReport()
    for demo in DEMO_CUSTOMERS:
        existing = store.customer_by_account(demo.account_number)
        if existing is not None:
            report.existing.append(existing)
            continue
        pin = random_pin()
        customer = store.create_customer(
            demo.name,
            demo.account_number,
            pin=pin,
            phone=demo.phone,
            language=demo.language,
            dialect=demo.dialect,
            preferred_rate_wpm=demo.preferred_rate_wpm,
            keypad_only=demo.keypad_only,
        )
        store.set_account(
            customer.id,
            balance=demo.balance,
            currency=demo.currency,
            next_payment_amount=demo.next_payment_amount,
            next_payment_date=(
                today + timedelta(days=demo.next_payment_in_days)
                if demo.next_payment_in_days is not None
                else None
            ),
            maturing_product=demo.maturing_product,
            maturing_date=(
                today + timedelta(days=demo.maturing_in_days)
                if demo.maturing_in_days is not None
                else None
            ),
        )
        report.created.append((customer, pin))
        _seed_outbound(store, customer, demo)
        if demo.open_ticket:
            ticket = store.create_ticket(demo.open_ticket, customer_id=customer.id)
            ticket = store.update_ticket_status(
                ticket.reference, "in_progress", note="demo: an agent is looking into it"
            )
            report.tickets.append(ticket)
    return report


def _seed_outbound(store: Store, customer: Customer, demo: DemoCustomer) -> None:
    """The demo customer's outbound plans, with the consent they gave on the phone."""
    from carestore.outbound_models import OutboundPlanRow
    from carestore.timeutil import utcnow

    now = utcnow()
    plans = []
    if demo.checkin is not None:
        plans.append(("checkin", demo.checkin[0], demo.checkin[1]))
    if demo.reminders:
        plans.append(("reminder", None, None))
    with store.write() as session:
        for kind, weekday, at in plans:
            session.add(
                OutboundPlanRow(
                    customer_id=customer.id,
                    kind=kind,
                    opted_in=True,
                    weekday=weekday,
                    time_of_day=at,
                    consent_by=customer.name,
                    consent_at=now,
                    consent_method="phone",
                    active=True,
                    created_by="seed",
                    created_at=now,
                    updated_at=now,
                )
            )
