"""Errors the store raises: each says what was wrong with the input."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class InvalidValue(StoreError, ValueError):
    """A value that cannot be stored (bad enum value, NUL character, out of range...)."""


class InvalidPhoneNumber(InvalidValue):
    """A phone number that is not a valid, dialable number."""


class InvalidPin(InvalidValue):
    """A PIN that is not 4 to 8 digits."""


class NotFound(StoreError, LookupError):
    """The row asked for does not exist."""


class UnknownCall(NotFound):
    """No call with this call SID was started."""


class AlreadyExists(StoreError):
    """A unique value (account number, phone, call SID...) is already taken."""
