"""Tickets (reported problems) and their status history."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carestore.audit_chain import append
from carestore.engine import StoreBase
from carestore.errors import InvalidValue, NotFound, StoreError, UnknownCall
from carestore.models import TICKET_STATUSES, CallRow, CustomerRow, TicketRow, TicketStatusRow
from carestore.records import Ticket, TicketStatusChange
from carestore.reference import clean_reference, is_valid_reference, new_reference
from carestore.timeutil import utcnow
from carestore.values import check_choice, check_optional_text, check_text

log = logging.getLogger(__name__)

MAX_REFERENCE_ATTEMPTS = 20
SUMMARY_LENGTH = 80


def summarise(description: str, length: int = SUMMARY_LENGTH) -> str:
    """The first line of `description`, cut at a word boundary to at most `length` characters."""
    line = " ".join(description.split())
    if len(line) <= length:
        return line
    cut = line[: length - 1].rsplit(" ", 1)[0] or line[: length - 1]
    return cut + "…"


def _ticket(row: TicketRow, call_sid: str | None) -> Ticket:
    return Ticket(
        id=row.id,
        reference=row.reference,
        customer_id=row.customer_id,
        call_sid=call_sid,
        summary=row.summary,
        description=row.description,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _call_sid(session: Session, call_id: int | None) -> str | None:
    if call_id is None:
        return None
    return session.scalar(select(CallRow.call_sid).where(CallRow.id == call_id))


def _ticket_row(session: Session, reference: str) -> TicketRow | None:
    cleaned = clean_reference(reference)
    if not is_valid_reference(cleaned):
        return None
    return session.scalars(select(TicketRow).where(TicketRow.reference == cleaned)).first()


def _chain_change(
    session: Session, actor: str, action: str, ticket: TicketRow, change: TicketStatusRow
) -> None:
    """The audit entry of a ticket's status change (the history row is fingerprinted)."""
    append(
        session,
        actor,
        action,
        "ticket",
        ticket.id,
        ticket.customer_id,
        {"reference": ticket.reference, "from": change.status_from, "to": change.status_to},
        record=change,
    )


class TicketStore(StoreBase):
    """Tickets."""

    #: makes new references; replaceable (tests force collisions with it)
    reference_factory: Callable[[], str] = staticmethod(new_reference)

    def create_ticket(
        self,
        description: str,
        *,
        customer_id: int | None = None,
        call_sid: str | None = None,
        summary: str | None = None,
        actor: str = "system",
    ) -> Ticket:
        """Open a ticket in status "received" with a fresh unique reference (retried on the rare
        collision) and its first history row (audited, by `actor`)."""
        check_text("description", description)
        if not description.strip():
            raise InvalidValue("a ticket needs a description of the problem")
        summary = check_text("summary", summary, 200) if summary is not None else None
        summary = summary or summarise(description)
        for _attempt in range(MAX_REFERENCE_ATTEMPTS):
            reference = self.reference_factory()
            if not is_valid_reference(reference):
                raise StoreError(f"reference factory made an invalid reference {reference!r}")
            try:
                with self.write() as session:
                    if customer_id is not None and session.get(CustomerRow, customer_id) is None:
                        raise NotFound(f"no customer with id {customer_id}")
                    call_id = None
                    if call_sid is not None:
                        call_id = session.scalar(
                            select(CallRow.id).where(CallRow.call_sid == call_sid)
                        )
                        if call_id is None:
                            raise UnknownCall(f"no call with call SID {call_sid!r} was started")
                    now = utcnow()
                    row = TicketRow(
                        reference=reference,
                        customer_id=customer_id,
                        call_id=call_id,
                        summary=summary,
                        description=description,
                        status="received",
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                    session.flush()
                    opened = TicketStatusRow(
                        ticket_id=row.id, status_from=None, status_to="received", at=now
                    )
                    session.add(opened)
                    session.flush()
                    _chain_change(session, actor, "ticket_opened", row, opened)
                    return _ticket(row, call_sid)
            except IntegrityError:
                if self.get_ticket(reference) is None:
                    raise  # not a reference collision
                log.info("ticket reference %s already taken; drawing another", reference)
        raise StoreError(f"no free ticket reference after {MAX_REFERENCE_ATTEMPTS} attempts")

    def get_ticket(self, reference: str) -> Ticket | None:
        """The ticket with this reference (spaces and dashes ignored), if any."""
        with self.read() as session:
            row = _ticket_row(session, reference)
            return None if row is None else _ticket(row, _call_sid(session, row.call_id))

    def update_ticket_status(
        self, reference: str, status: str, note: str | None = None, *, actor: str = "system"
    ) -> Ticket:
        """Move a ticket to `status`, recording the change in its history and the audit log
        (by `actor`; a change to the status it already has records nothing)."""
        check_choice("status", status, TICKET_STATUSES)
        check_optional_text("note", note)
        with self.write() as session:
            row = _ticket_row(session, reference)
            if row is None:
                raise NotFound(f"no ticket with reference {reference!r}")
            if row.status != status:
                now = utcnow()
                change = TicketStatusRow(
                    ticket_id=row.id,
                    status_from=row.status,
                    status_to=status,
                    note=note,
                    at=now,
                )
                session.add(change)
                row.status = status
                row.updated_at = now
                session.flush()
                _chain_change(session, actor, "ticket_status_changed", row, change)
            return _ticket(row, _call_sid(session, row.call_id))

    def ticket_history(self, reference: str) -> list[TicketStatusChange]:
        """The ticket's status changes, oldest first."""
        with self.read() as session:
            row = _ticket_row(session, reference)
            if row is None:
                raise NotFound(f"no ticket with reference {reference!r}")
            changes = session.scalars(
                select(TicketStatusRow)
                .where(TicketStatusRow.ticket_id == row.id)
                .order_by(TicketStatusRow.id)
            )
            return [TicketStatusChange(c.status_from, c.status_to, c.note, c.at) for c in changes]

    def tickets_for_customer(self, customer_id: int, limit: int = 20) -> list[Ticket]:
        """The customer's tickets, newest first."""
        with self.read() as session:
            rows = session.execute(
                select(TicketRow, CallRow.call_sid)
                .outerjoin(CallRow, CallRow.id == TicketRow.call_id)
                .where(TicketRow.customer_id == customer_id)
                .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
                .limit(limit)
            ).all()
            return [_ticket(row, call_sid) for row, call_sid in rows]
