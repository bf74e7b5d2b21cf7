"""Emergency contacts with consent: an ordered list per customer, every change audited.

A contact may be stored before consent is recorded (staff often collect the number first), but
is never reached until a consent record (who consented, when, how) is on file and not withdrawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select

from carestore.db import Store
from carestore.errors import InvalidValue, NotFound
from carestore.escalation_models import ContactRow
from carestore.models import CustomerRow
from carestore.phone import normalise_phone
from carestore.timeutil import utcnow
from emergency_contact.audit import AuditEntry, audit, audit_entries
from emergency_contact.policy import severity_rank

Channel = Literal["call", "sms", "both"]
ConsentMethod = Literal["phone", "kiosk", "staff", "written"]
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def check_hhmm(value: str | None) -> str | None:
    """A time of day as HH:MM (24 h), or None."""
    if value is not None and not _HHMM.fullmatch(value):
        raise ValueError(f"a time of day is HH:MM (24 h), not {value!r}")
    return value


def check_zone(value: str) -> str:
    """An IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from None
    return value


class ConsentIn(BaseModel):
    """A consent record: who consented (the contact, or the customer on their behalf), when and
    how."""

    model_config = ConfigDict(extra="forbid")

    given_by: str = Field(min_length=1, max_length=200)
    method: ConsentMethod
    at: datetime | None = None  # default: now

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("consent time needs a timezone (e.g. 2025-03-14T10:42:00Z)")
        return value


class ContactIn(BaseModel):
    """A new emergency contact (the API's request body)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=40)
    channel: Channel = "call"
    language: str = Field(default="en", min_length=2, max_length=16)
    call_from: str | None = None
    call_until: str | None = None
    timezone: str = "UTC"
    position: int | None = Field(default=None, ge=1)
    consent: ConsentIn | None = None

    @field_validator("call_from", "call_until")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return check_hhmm(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class ContactUpdate(BaseModel):
    """Changes to a contact (fields left out stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    relationship: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    channel: Channel | None = None
    language: str | None = Field(default=None, min_length=2, max_length=16)
    call_from: str | None = None
    call_until: str | None = None
    timezone: str | None = None
    active: bool | None = None

    @field_validator("call_from", "call_until")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return check_hhmm(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)


@dataclass(frozen=True)
class Contact:
    """An emergency contact as stored."""

    id: int
    customer_id: int
    position: int
    name: str
    relationship: str
    phone: str
    channel: str
    language: str
    call_from: str | None
    call_until: str | None
    timezone: str
    consent_by: str | None
    consent_at: datetime | None
    consent_method: str | None
    consent_withdrawn_at: datetime | None
    active: bool

    @property
    def has_consent(self) -> bool:
        """Consent is on record and not withdrawn."""
        return self.consent_at is not None and self.consent_withdrawn_at is None

    def within_hours(self, now: datetime) -> bool:
        """True when `now` is inside the hours they may be called (always, if none are set)."""
        if not self.call_from or not self.call_until:
            return True
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        start = time.fromisoformat(self.call_from)
        end = time.fromisoformat(self.call_until)
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # hours across midnight

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (times as ISO 8601)."""
        out = dict(self.__dict__)
        for key in ("consent_at", "consent_withdrawn_at"):
            out[key] = out[key].isoformat() if out[key] else None
        out["has_consent"] = self.has_consent
        return out


def contact_record(row: ContactRow) -> Contact:
    """The record of a contact row."""
    return Contact(
        id=row.id,
        customer_id=row.customer_id,
        position=row.position,
        name=row.name,
        relationship=row.relationship,
        phone=row.phone,
        channel=row.channel,
        language=row.language,
        call_from=row.call_from,
        call_until=row.call_until,
        timezone=row.timezone,
        consent_by=row.consent_by,
        consent_at=row.consent_at,
        consent_method=row.consent_method,
        consent_withdrawn_at=row.consent_withdrawn_at,
        active=row.active,
    )


def _snapshot(row: ContactRow) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in contact_record(row).__dict__.items()
    }


class ContactBook:
    """Emergency contacts in the store. `actor` on every change names who made it (audited)."""

    def __init__(self, store: Store, default_region: str | None = None) -> None:
        """Contacts in `store`; numbers without a country code use `default_region`."""
        self.store = store
        self.default_region = default_region

    def _customer(self, session: Any, customer_id: int) -> None:
        if session.get(CustomerRow, customer_id) is None:
            raise NotFound(f"no customer with id {customer_id}")

    def _row(self, session: Any, contact_id: int, customer_id: int | None = None) -> ContactRow:
        row = session.get(ContactRow, contact_id)
        if row is None or (customer_id is not None and row.customer_id != customer_id):
            raise NotFound(f"no emergency contact {contact_id} for customer {customer_id}")
        return row

    def add(self, customer_id: int, contact: ContactIn, actor: str) -> Contact:
        """Add a contact (last in the order unless `position` is given). The phone number is
        checked and stored in E.164 (InvalidPhoneNumber otherwise); NotFound for an unknown
        customer."""
        phone = normalise_phone(contact.phone, self.default_region)
        with self.store.write() as session:
            self._customer(session, customer_id)
            rows = self._ordered(session, customer_id)
            if any(r.phone == phone for r in rows):
                raise InvalidValue(f"{phone} is already an emergency contact of this customer")
            position = min(contact.position or len(rows) + 1, len(rows) + 1)
            row = ContactRow(
                customer_id=customer_id,
                position=position,
                name=contact.name.strip(),
                relationship=contact.relationship.strip(),
                phone=phone,
                channel=contact.channel,
                language=contact.language,
                call_from=contact.call_from,
                call_until=contact.call_until,
                timezone=contact.timezone,
                active=True,
            )
            if contact.consent is not None:
                row.consent_by = contact.consent.given_by
                row.consent_method = contact.consent.method
                row.consent_at = contact.consent.at or utcnow()
            rows.insert(position - 1, row)
            session.add(row)
            self._renumber(rows)
            session.flush()
            audit(session, actor, "contact_added", "contact", row.id, customer_id, _snapshot(row))
            return contact_record(row)

    def list(self, customer_id: int, *, include_inactive: bool = False) -> list[Contact]:
        """The customer's contacts in their order; NotFound for an unknown customer."""
        with self.store.read() as session:
            self._customer(session, customer_id)
            rows = self._ordered(session, customer_id, include_inactive)
            return [contact_record(r) for r in rows]

    def get(self, contact_id: int) -> Contact | None:
        """One contact by id."""
        with self.store.read() as session:
            row = session.get(ContactRow, contact_id)
            return None if row is None else contact_record(row)

    def update(
        self, customer_id: int, contact_id: int, changes: ContactUpdate, actor: str
    ) -> Contact:
        """Change a contact's details (a new phone number is checked; consent stays)."""
        values = changes.model_dump(exclude_unset=True)
        if "phone" in values and values["phone"] is not None:
            values["phone"] = normalise_phone(values["phone"], self.default_region)
        with self.store.write() as session:
            row = self._row(session, contact_id, customer_id)
            before = _snapshot(row)
            for key, value in values.items():
                if value is None and key not in ("call_from", "call_until"):
                    raise InvalidValue(f"{key} cannot be empty")
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.flush()
            audit(
                session,
                actor,
                "contact_updated",
                "contact",
                row.id,
                customer_id,
                {"before": before, "after": _snapshot(row)},
            )
            return contact_record(row)

    def remove(self, customer_id: int, contact_id: int, actor: str) -> None:
        """Delete a contact (audited with what it held); the others close up the order."""
        with self.store.write() as session:
            row = self._row(session, contact_id, customer_id)
            snap = _snapshot(row)
            session.delete(row)
            session.flush()
            self._renumber(self._ordered(session, customer_id, True))
            audit(session, actor, "contact_removed", "contact", contact_id, customer_id, snap)

    def reorder(self, customer_id: int, contact_ids: list[int], actor: str) -> list[Contact]:
        """Set the order: `contact_ids` must name every contact of the customer exactly once."""
        with self.store.write() as session:
            self._customer(session, customer_id)
            rows = {r.id: r for r in self._ordered(session, customer_id, True)}
            if sorted(contact_ids) != sorted(rows):
                raise InvalidValue(
                    f"the new order must list each of contacts {sorted(rows)} once; "
                    f"got {contact_ids}"
                )
            ordered = [rows[i] for i in contact_ids]
            self._renumber(ordered)
            audit(
                session,
                actor,
                "contacts_reordered",
                "customer",
                customer_id,
                customer_id,
                {"order": contact_ids},
            )
            return [contact_record(r) for r in ordered]

    def record_consent(
        self, customer_id: int, contact_id: int, consent: ConsentIn, actor: str
    ) -> Contact:
        """Record (or renew) consent to be contacted in an emergency."""
        with self.store.write() as session:
            row = self._row(session, contact_id, customer_id)
            row.consent_by = consent.given_by
            row.consent_method = consent.method
            row.consent_at = consent.at or utcnow()
            row.consent_withdrawn_at = None
            session.flush()
            audit(
                session,
                actor,
                "consent_recorded",
                "contact",
                row.id,
                customer_id,
                consent.model_dump(mode="json"),
            )
            return contact_record(row)

    def withdraw_consent(self, customer_id: int, contact_id: int, actor: str) -> Contact:
        """Withdraw consent: the contact is kept but never reached again until it is renewed."""
        with self.store.write() as session:
            row = self._row(session, contact_id, customer_id)
            row.consent_withdrawn_at = utcnow()
            session.flush()
            audit(session, actor, "consent_withdrawn", "contact", row.id, customer_id)
            return contact_record(row)

    def reachable(
        self, customer_id: int, severity: str, now: datetime, urgent_from: str = "high"
    ) -> tuple[list[Contact], list[tuple[Contact, str]]]:
        """(contacts to try, in order; contacts left out with the reason): inactive, without
        consent, or outside their hours when the severity is below `urgent_from`."""
        urgent = severity_rank(severity) >= severity_rank(urgent_from)
        chosen: list[Contact] = []
        skipped: list[tuple[Contact, str]] = []
        for c in self.list(customer_id, include_inactive=True):
            if not c.active:
                skipped.append((c, "inactive"))
            elif not c.has_consent:
                skipped.append((c, "no consent on record"))
            elif not urgent and not c.within_hours(now):
                skipped.append((c, "outside the hours they may be called"))
            else:
                chosen.append(c)
        return chosen, skipped

    def audit_log(self, customer_id: int, limit: int = 200) -> list[AuditEntry]:
        """The customer's audit trail, newest first."""
        with self.store.read() as session:
            return audit_entries(session, customer_id=customer_id, limit=limit)

    # ---- helpers -----------------------------------------------------------------------
    @staticmethod
    def _ordered(session: Any, customer_id: int, include_inactive: bool = True) -> list[ContactRow]:
        query = select(ContactRow).where(ContactRow.customer_id == customer_id)
        if not include_inactive:
            query = query.where(ContactRow.active.is_(True))
        return list(session.scalars(query.order_by(ContactRow.position, ContactRow.id)))

    @staticmethod
    def _renumber(rows: list[ContactRow]) -> None:
        for i, row in enumerate(rows, start=1):
            row.position = i


def count_contacts(store: Store, customer_id: int) -> int:
    """How many contacts a customer has (any state)."""
    with store.read() as session:
        return int(
            session.scalar(
                select(func.count(ContactRow.id)).where(ContactRow.customer_id == customer_id)
            )
            or 0
        )
