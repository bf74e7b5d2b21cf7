"""What the dialog needs from the rest of the system (customers, accounts, tickets).

The dialog engine calls a `DialogBackend`; `ivr.store.backend.StoreBackend` implements it on the
database, and tests may use `InMemoryBackend`. All methods are synchronous and quick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CustomerInfo:
    """A known caller."""

    id: int
    name: str
    phone: str | None = None
    language: str = "en"
    dialect: str | None = None
    preferred_rate_wpm: int | None = None
    keypad_only: bool = False


@dataclass(frozen=True)
class AccountSummary:
    """What the caller can hear about their account."""

    balance: Decimal
    currency: str = "GBP"
    next_payment_amount: Decimal | None = None
    next_payment_date: date | None = None
    maturing_product: str | None = None
    maturing_date: date | None = None


TICKET_STATUSES = ("received", "in_progress", "waiting_for_customer", "resolved")


@dataclass(frozen=True)
class TicketInfo:
    """A problem report and where it stands."""

    reference: str
    status: str  # one of TICKET_STATUSES
    summary: str


class DialogBackend(Protocol):
    """Lookups and changes the dialog may ask for."""

    def identify_by_phone(self, phone: str) -> CustomerInfo | None:
        """The customer whose registered phone is `phone` (E.164), if any."""

    def identify_by_account(self, account_number: str, pin: str) -> CustomerInfo | None:
        """The customer with this account number and PIN, or None when either is wrong."""

    def account_summary(self, customer_id: int) -> AccountSummary:
        """Balance, next payment and maturing product of the customer."""

    def create_ticket(self, customer_id: int | None, call_sid: str, description: str) -> str:
        """Open a ticket for a reported problem; return its reference (digits, read back)."""

    def latest_tickets(self, customer_id: int) -> list[TicketInfo]:
        """The customer's tickets, newest first."""

    def ticket_by_reference(self, reference: str) -> TicketInfo | None:
        """One ticket by its reference."""

    def set_preferred_rate(self, customer_id: int, rate_wpm: int) -> None:
        """Remember the caller's preferred speech rate."""


@dataclass
class InMemoryBackend:
    """A `DialogBackend` held in memory (for tests of the dialog alone and for demos)."""

    customers: dict[int, CustomerInfo] = field(default_factory=dict)
    pins: dict[str, tuple[int, str]] = field(default_factory=dict)  # account -> (customer, pin)
    accounts: dict[int, AccountSummary] = field(default_factory=dict)
    tickets: dict[str, tuple[int | None, TicketInfo]] = field(default_factory=dict)
    rates: dict[int, int] = field(default_factory=dict)

    def identify_by_phone(self, phone: str) -> CustomerInfo | None:
        return next((c for c in self.customers.values() if c.phone == phone), None)

    def identify_by_account(self, account_number: str, pin: str) -> CustomerInfo | None:
        entry = self.pins.get(account_number)
        if entry is None or entry[1] != pin:
            return None
        return self.customers.get(entry[0])

    def account_summary(self, customer_id: int) -> AccountSummary:
        return self.accounts[customer_id]

    def create_ticket(self, customer_id: int | None, call_sid: str, description: str) -> str:
        reference = f"{400000 + len(self.tickets) + 1}"
        self.tickets[reference] = (
            customer_id,
            TicketInfo(reference, "received", description[:80]),
        )
        return reference

    def latest_tickets(self, customer_id: int) -> list[TicketInfo]:
        found = [t for cid, t in self.tickets.values() if cid == customer_id]
        return list(reversed(found))

    def ticket_by_reference(self, reference: str) -> TicketInfo | None:
        entry = self.tickets.get(reference)
        return entry[1] if entry else None

    def set_preferred_rate(self, customer_id: int, rate_wpm: int) -> None:
        self.rates[customer_id] = rate_wpm
