"""Customers, their PINs, preferences and accounts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carestore.engine import StoreBase
from carestore.errors import AlreadyExists, InvalidValue, NotFound
from carestore.models import AccountRow, CallRow, CustomerRow
from carestore.phone import normalise_phone, try_normalise_phone
from carestore.pins import hash_pin, needs_rehash, verify_pin
from carestore.records import Account, Customer
from carestore.values import check_optional_text, check_rate, check_text

_ACCOUNT_NUMBER = re.compile(r"[0-9]{4,16}")
UNCHANGED: Final = object()  # marks an argument of `update_customer` left as it is


def check_account_number(account_number: str) -> str:
    """The account number without spaces or dashes; 4 to 16 digits (it is keyed or spoken)."""
    cleaned = re.sub(r"[\s-]", "", account_number or "")
    if not _ACCOUNT_NUMBER.fullmatch(cleaned):
        raise InvalidValue(f"an account number is 4 to 16 digits; got {account_number!r}")
    return cleaned


def _money(name: str, value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidValue(f"{name} is not an amount: {value!r}") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        raise InvalidValue(f"{name} is out of range: {value!r}")
    return amount.quantize(Decimal("0.01"))


def customer_record(row: CustomerRow) -> Customer:
    """The record of a customer row."""
    return Customer(
        id=row.id,
        name=row.name,
        account_number=row.account_number,
        phone=row.phone,
        language=row.language,
        dialect=row.dialect,
        preferred_rate_wpm=row.preferred_rate_wpm,
        keypad_only=row.keypad_only,
        has_pin=row.pin_hash is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _account(row: AccountRow) -> Account:
    return Account(
        customer_id=row.customer_id,
        balance=row.balance,
        currency=row.currency,
        next_payment_amount=row.next_payment_amount,
        next_payment_date=row.next_payment_date,
        maturing_product=row.maturing_product,
        maturing_date=row.maturing_date,
        updated_at=row.updated_at,
    )


def _customer_row(session: Session, customer_id: int) -> CustomerRow:
    row = session.get(CustomerRow, customer_id)
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    return row


def _taken(session: Session, column: Any, value: str, customer_id: int | None = None) -> bool:
    query = select(CustomerRow.id).where(column == value)
    if customer_id is not None:
        query = query.where(CustomerRow.id != customer_id)
    return session.scalar(query) is not None


class CustomerStore(StoreBase):
    """Customers and accounts."""

    def create_customer(
        self,
        name: str,
        account_number: str,
        *,
        pin: str | None = None,
        phone: str | None = None,
        language: str = "en",
        dialect: str | None = None,
        preferred_rate_wpm: int | None = None,
        keypad_only: bool = False,
        default_region: str | None = None,
    ) -> Customer:
        """Add a customer. `phone` is normalised to E.164 (InvalidPhoneNumber if it is not a
        number); AlreadyExists if the account number or phone belongs to someone else."""
        account_number = check_account_number(account_number)
        e164 = normalise_phone(phone, default_region) if phone is not None else None
        row = CustomerRow(
            name=check_text("name", name, 200),
            account_number=account_number,
            phone=e164,
            pin_hash=hash_pin(pin) if pin is not None else None,
            language=check_text("language", language, 16),
            dialect=check_optional_text("dialect", dialect, 32),
            preferred_rate_wpm=check_rate(preferred_rate_wpm),
            keypad_only=bool(keypad_only),
        )
        try:
            with self.write() as session:
                if _taken(session, CustomerRow.account_number, account_number):
                    raise AlreadyExists(f"account number {account_number} is already registered")
                if e164 is not None and _taken(session, CustomerRow.phone, e164):
                    raise AlreadyExists(f"phone {e164} is already registered to a customer")
                session.add(row)
                session.flush()
                return customer_record(row)
        except IntegrityError as exc:  # lost a race with another writer
            raise AlreadyExists(f"account {account_number} or phone {e164} is taken") from exc

    def get_customer(self, customer_id: int) -> Customer | None:
        """The customer with this id, if any."""
        with self.read() as session:
            row = session.get(CustomerRow, customer_id)
            return None if row is None else customer_record(row)

    def customer_by_phone(self, phone: str, default_region: str | None = None) -> Customer | None:
        """The customer registered with this phone (any common spelling of it), if any."""
        e164 = try_normalise_phone(phone, default_region)
        if e164 is None:
            return None
        with self.read() as session:
            row = session.scalars(select(CustomerRow).where(CustomerRow.phone == e164)).first()
            return None if row is None else customer_record(row)

    def customer_by_account(self, account_number: str) -> Customer | None:
        """The customer with this account number, if any."""
        try:
            account_number = check_account_number(account_number)
        except InvalidValue:
            return None
        with self.read() as session:
            row = session.scalars(
                select(CustomerRow).where(CustomerRow.account_number == account_number)
            ).first()
            return None if row is None else customer_record(row)

    def list_customers(self) -> list[Customer]:
        """All customers by id."""
        with self.read() as session:
            return [customer_record(r) for r in session.scalars(select(CustomerRow).order_by("id"))]

    def update_customer(
        self,
        customer_id: int,
        *,
        name: Any = UNCHANGED,
        phone: Any = UNCHANGED,
        language: Any = UNCHANGED,
        dialect: Any = UNCHANGED,
        preferred_rate_wpm: Any = UNCHANGED,
        keypad_only: Any = UNCHANGED,
        default_region: str | None = None,
    ) -> Customer:
        """Change the given fields (None clears an optional one); return the customer."""
        changes: dict[str, Any] = {}
        if name is not UNCHANGED:
            changes["name"] = check_text("name", name, 200)
        if phone is not UNCHANGED:
            changes["phone"] = normalise_phone(phone, default_region) if phone is not None else None
        if language is not UNCHANGED:
            changes["language"] = check_text("language", language, 16)
        if dialect is not UNCHANGED:
            changes["dialect"] = check_optional_text("dialect", dialect, 32)
        if preferred_rate_wpm is not UNCHANGED:
            changes["preferred_rate_wpm"] = check_rate(preferred_rate_wpm)
        if keypad_only is not UNCHANGED:
            changes["keypad_only"] = bool(keypad_only)
        try:
            with self.write() as session:
                row = _customer_row(session, customer_id)
                new_phone = changes.get("phone")
                if new_phone and _taken(session, CustomerRow.phone, new_phone, customer_id):
                    raise AlreadyExists(f"phone {new_phone} is already registered to a customer")
                for key, value in changes.items():
                    setattr(row, key, value)
                session.flush()
                return customer_record(row)
        except IntegrityError as exc:
            raise AlreadyExists(f"phone {changes.get('phone')} is taken") from exc

    def delete_customer(self, customer_id: int) -> None:
        """Remove a customer and their account (their calls and tickets stay, unlinked)."""
        with self.write() as session:
            row = _customer_row(session, customer_id)
            account = session.scalars(
                select(AccountRow).where(AccountRow.customer_id == customer_id)
            ).first()
            if account is not None:
                session.delete(account)
            session.delete(row)

    def set_pin(self, customer_id: int, pin: str) -> None:
        """Set or change the customer's PIN (stored as an argon2id hash)."""
        pin_hash = hash_pin(pin)
        with self.write() as session:
            _customer_row(session, customer_id).pin_hash = pin_hash

    def verify_pin(self, account_number: str, pin: str) -> Customer | None:
        """The customer when `pin` is right for `account_number`; None when either is wrong.

        Does the same hashing work whether or not the account exists.
        """
        try:
            account_number = check_account_number(account_number)
        except InvalidValue:
            account_number = ""
        with self.read() as session:
            row = session.scalars(
                select(CustomerRow).where(CustomerRow.account_number == account_number)
            ).first()
            pin_hash = row.pin_hash if row is not None else None
            customer = customer_record(row) if row is not None else None
        if not verify_pin(pin_hash, pin or "") or customer is None:
            return None
        if pin_hash is not None and needs_rehash(pin_hash):
            self.set_pin(customer.id, pin)
        return customer

    def set_preferred_rate(
        self, customer_id: int, rate_wpm: int, call_sid: str | None = None
    ) -> None:
        """Remember the customer's preferred speech rate (and the call's, if `call_sid`)."""
        check_rate(rate_wpm)
        with self.write() as session:
            _customer_row(session, customer_id).preferred_rate_wpm = rate_wpm
            if call_sid is not None:
                call = session.scalars(select(CallRow).where(CallRow.call_sid == call_sid)).first()
                if call is not None:
                    call.preferred_rate_wpm = rate_wpm

    def set_account(
        self,
        customer_id: int,
        *,
        balance: Decimal | int | str,
        currency: str = "GBP",
        next_payment_amount: Decimal | int | str | None = None,
        next_payment_date: date | None = None,
        maturing_product: str | None = None,
        maturing_date: date | None = None,
    ) -> Account:
        """Create or replace the customer's account details."""
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise InvalidValue(f"currency must be an ISO 4217 code like GBP; got {currency!r}")
        values = {
            "balance": _money("balance", balance),
            "currency": currency,
            "next_payment_amount": _money("next_payment_amount", next_payment_amount),
            "next_payment_date": next_payment_date,
            "maturing_product": check_optional_text("maturing_product", maturing_product, 200),
            "maturing_date": maturing_date,
        }
        with self.write() as session:
            _customer_row(session, customer_id)
            row = session.scalars(
                select(AccountRow).where(AccountRow.customer_id == customer_id)
            ).first()
            if row is None:
                row = AccountRow(customer_id=customer_id)
                session.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            session.flush()
            return _account(row)

    def get_account(self, customer_id: int) -> Account | None:
        """The customer's account details, if any."""
        with self.read() as session:
            row = session.scalars(
                select(AccountRow).where(AccountRow.customer_id == customer_id)
            ).first()
            return None if row is None else _account(row)
