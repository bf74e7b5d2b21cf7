"""Masking personal numbers (account numbers, PINs, card numbers) in text for hand-off packages.

Any run of four or more digits, written as figures (spaces or dashes between them allowed) or as
spoken digit words ("one two three four"), keeps only its last two digits; keypad presses are
masked entirely. Short numbers (amounts like "35", times like "10:42") are left alone.
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"(?<![\w])(?:\d[\s\-.]?){3,}\d(?![\w])")
_WORDS = "zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple"  # English digit words
_WORD_RUN = re.compile(rf"\b(?:(?:{_WORDS})\b[\s,\-]*){{4,}}", re.IGNORECASE)
_KEY = re.compile(r"\[key [0-9#*]\]")
MASK = "•"


def mask_digits(run: str, keep: int = 2) -> str:
    """`run` with every digit but the last `keep` replaced by a mask character."""
    digits = [i for i, ch in enumerate(run) if ch.isdigit()]
    hide = set(digits[: max(0, len(digits) - keep)])
    return "".join(MASK if i in hide else ch for i, ch in enumerate(run))


def mask_text(text: str) -> str:
    """`text` with personal numbers masked (see the module docstring)."""
    if not text:
        return text
    out = _DIGIT_RUN.sub(lambda m: mask_digits(m.group(0)), text)
    out = _WORD_RUN.sub(lambda m: f"[{len(m.group(0).split())} digits spoken] ", out).rstrip()
    return _KEY.sub(f"[key {MASK}]", out)


def mask_number(value: str | None, keep: int = 2) -> str | None:
    """An account or phone number with all but the last `keep` digits masked."""
    return None if value is None else mask_digits(value, keep)
