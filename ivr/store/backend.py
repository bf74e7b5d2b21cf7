"""The dialog's `DialogBackend` on the database."""

from __future__ import annotations

import logging

from carestore.db import Store
from carestore.errors import NotFound, UnknownCall
from carestore.records import Customer, Ticket
from ivr.dialog.backend import AccountSummary, CustomerInfo, TicketInfo

log = logging.getLogger(__name__)


def _info(customer: Customer) -> CustomerInfo:
    return CustomerInfo(
        id=customer.id,
        name=customer.name,
        phone=customer.phone,
        language=customer.language,
        dialect=customer.dialect,
        preferred_rate_wpm=customer.preferred_rate_wpm,
        keypad_only=customer.keypad_only,
    )


def _ticket_info(ticket: Ticket) -> TicketInfo:
    return TicketInfo(reference=ticket.reference, status=ticket.status, summary=ticket.summary)


class StoreBackend:
    """Implements `ivr.dialog.backend.DialogBackend` with a `Store` (synchronous, short calls)."""

    def __init__(self, store: Store) -> None:
        """Serve the dialog from `store`."""
        self.store = store

    def identify_by_phone(self, phone: str) -> CustomerInfo | None:
        """The customer registered with this caller ID (None for unknown or withheld numbers)."""
        customer = self.store.customer_by_phone(phone)
        return None if customer is None else _info(customer)

    def identify_by_account(self, account_number: str, pin: str) -> CustomerInfo | None:
        """The customer when the account number and PIN match (argon2 verification)."""
        customer = self.store.verify_pin(account_number, pin)
        return None if customer is None else _info(customer)

    def account_summary(self, customer_id: int) -> AccountSummary:
        """Balance, next payment and maturing product; NotFound if the customer has no account."""
        account = self.store.get_account(customer_id)
        if account is None:
            raise NotFound(f"customer {customer_id} has no account on record")
        return AccountSummary(
            balance=account.balance,
            currency=account.currency,
            next_payment_amount=account.next_payment_amount,
            next_payment_date=account.next_payment_date,
            maturing_product=account.maturing_product,
            maturing_date=account.maturing_date,
        )

    def create_ticket(self, customer_id: int | None, call_sid: str, description: str) -> str:
        """Open a ticket linked to the call; return its reference. A report is never dropped:
        if the call was not recorded, the ticket is opened without the link (and logged)."""
        try:
            ticket = self.store.create_ticket(
                description, customer_id=customer_id, call_sid=call_sid
            )
        except UnknownCall:
            log.warning("ticket for unrecorded call %s opened without the call link", call_sid)
            ticket = self.store.create_ticket(description, customer_id=customer_id)
        return ticket.reference

    def latest_tickets(self, customer_id: int) -> list[TicketInfo]:
        """The customer's tickets, newest first."""
        return [_ticket_info(t) for t in self.store.tickets_for_customer(customer_id)]

    def ticket_by_reference(self, reference: str) -> TicketInfo | None:
        """One ticket by reference (spaces ignored; a reference failing its check digit is
        None)."""
        ticket = self.store.get_ticket(reference)
        return None if ticket is None else _ticket_info(ticket)

    def set_preferred_rate(self, customer_id: int, rate_wpm: int) -> None:
        """Remember the caller's preferred speech rate."""
        self.store.set_preferred_rate(customer_id, rate_wpm)
