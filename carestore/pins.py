"""PINs: checked for shape, stored as argon2id hashes, verified in constant work."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from carestore.errors import InvalidPin

_hasher = PasswordHasher()
# verified when the account is unknown, so a wrong account costs the same time as a wrong PIN
_DUMMY_HASH = _hasher.hash("not-a-pin")


def check_pin(pin: str) -> str:
    """`pin` if it is 4 to 8 ASCII digits; otherwise raise `InvalidPin`."""
    if not isinstance(pin, str) or not (4 <= len(pin) <= 8) or not pin.isascii():
        raise InvalidPin("a PIN is 4 to 8 digits")
    if not pin.isdigit():
        raise InvalidPin("a PIN is 4 to 8 digits")
    return pin


def hash_pin(pin: str) -> str:
    """The argon2id hash of a valid PIN."""
    return _hasher.hash(check_pin(pin))


def verify_pin(pin_hash: str | None, pin: str) -> bool:
    """True when `pin` matches `pin_hash` (a missing hash never matches)."""
    try:
        return _hasher.verify(pin_hash or _DUMMY_HASH, pin) and pin_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(pin_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(pin_hash)
