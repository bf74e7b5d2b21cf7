"""Amounts, dates and reference numbers in plain spoken words."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words

_FALLBACK_CURRENCY = {"one": "unit", "many": "units", "minor_one": "cent", "minor_many": "cents"}


def number_words(n: int, lang: str = "en") -> str:
    """A whole number in words, without commas or hyphens ("one thousand two hundred")."""
    return num2words(n, lang=lang).replace(",", "").replace("-", " ")


def amount_words(
    amount: Decimal, currency_words: dict[str, str] | None = None, lang: str = "en"
) -> str:
    """An amount of money in words: "one hundred and twelve pounds and five pence".

    `currency_words` has keys one, many, minor_one, minor_many (from the prompts file).
    Zero minor units are not spoken; a negative amount starts with "minus".
    """
    words = currency_words or _FALLBACK_CURRENCY
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    major, minor = divmod(cents, 100)
    parts: list[str] = []
    if major or not minor:
        parts.append(f"{number_words(major, lang)} {words['one' if major == 1 else 'many']}")
    if minor:
        unit = words["minor_one" if minor == 1 else "minor_many"]
        parts.append(f"{number_words(minor, lang)} {unit}")
    text = " and ".join(parts)
    return f"minus {text}" if amount < 0 else text


def date_words(day: date, today: date | None = None, lang: str = "en") -> str:
    """A date in words: "Friday the fourteenth of March" (the year only if not this year)."""
    today = today or date.today()
    ordinal = num2words(day.day, to="ordinal", lang=lang).replace("-", " ")
    text = f"{day.strftime('%A')} the {ordinal} of {day.strftime('%B')}"
    if day.year != today.year:
        text += f" {num2words(day.year, to='year', lang=lang).replace('-', ' ')}"
    return text


def digits_spoken(reference: str) -> str:
    """A reference read one character at a time: "400001" -> "4 0 0 0 0 1"."""
    return " ".join(ch for ch in reference if not ch.isspace())
