"""Ticket references: short digit strings that survive being read aloud and keyed back.

Five random digits (no leading zero) and a Luhn check digit: a single wrong digit or two
swapped neighbours is caught before any lookup.
"""

from __future__ import annotations

import secrets


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these sit one place left of the check digit
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_reference(reference: str) -> bool:
    """True when `reference` is all digits and its last digit checks out."""
    return (
        len(reference) >= 2
        and reference.isascii()
        and reference.isdigit()
        and luhn_check_digit(reference[:-1]) == reference[-1]
    )


def new_reference(random_digits: int = 5) -> str:
    """A fresh random reference (`random_digits` digits plus the check digit)."""
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(random_digits - 1)
    )
    return body + luhn_check_digit(body)


def clean_reference(spoken: str) -> str:
    """A reference as typed or recognised ("40 12 37", "401-237") reduced to its digits."""
    return "".join(ch for ch in spoken or "" if ch.isdigit() and ch.isascii())
