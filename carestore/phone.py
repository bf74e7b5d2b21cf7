"""Phone numbers in one form: E.164, checked with `phonenumbers`."""

from __future__ import annotations

import phonenumbers

from carestore.errors import InvalidPhoneNumber

# Ranges Ofcom reserves for drama and demos (never allocated, so `phonenumbers` calls them
# invalid); accepted so demo data and tests never use a real person's number. North American
# 555-01xx numbers are already valid for `phonenumbers`.
FICTIONAL_PREFIXES = (
    "+44113496",  # Leeds 0113 496 0xxx
    "+44114496",  # Sheffield
    "+44115496",  # Nottingham
    "+44116496",  # Leicester
    "+44117496",  # Bristol
    "+44118496",  # Reading
    "+441214960",  # Birmingham 0121 496 0xxx
    "+441314960",  # Edinburgh
    "+441414960",  # Glasgow
    "+441514960",  # Liverpool
    "+441614960",  # Manchester
    "+441632960",  # 01632 960xxx (no geographic area)
    "+442079460",  # London 020 7946 0xxx
    "+442890180",  # Belfast 028 9018 0xxx
    "+442920180",  # Cardiff 029 2018 0xxx
    "+447700900",  # mobile 07700 900xxx
)


def is_fictional(e164: str) -> bool:
    """True for numbers in the ranges reserved for drama (see `FICTIONAL_PREFIXES`)."""
    return len(e164) == 13 and e164.startswith(FICTIONAL_PREFIXES)


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """`raw` as an E.164 string (`+441632960001`).

    Accepts the usual ways people write numbers (spaces, dashes, brackets, `00` prefix); a
    number without a country code needs `default_region` (ISO 3166 code such as "GB").
    Raises `InvalidPhoneNumber` saying what is wrong.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty phone number")
    if not text.startswith("+") and default_region is None:
        if text.startswith("00"):
            text = "+" + text[2:]
        else:
            raise InvalidPhoneNumber(
                f"phone number {raw!r} has no country code: write it as +<country><number>"
            )
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {raw!r} ({exc})") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed) or (
        phonenumbers.is_possible_number(parsed) and is_fictional(e164)
    ):
        return e164
    raise InvalidPhoneNumber(f"not a valid phone number: {raw!r}")


def try_normalise_phone(raw: str | None, default_region: str | None = None) -> str | None:
    """Like `normalise_phone`, but None for anything unusable (caller ID may be "anonymous")."""
    if not raw:
        return None
    try:
        return normalise_phone(raw, default_region)
    except InvalidPhoneNumber:
        return None
