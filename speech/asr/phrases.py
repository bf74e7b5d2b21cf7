"""Phrase-list helpers shared by the engines: normalising a list and matching a result to it."""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalize_phrase(phrase: str) -> str:
    """Lower-case, single-spaced, without punctuation other than apostrophes."""
    text = re.sub(r"[^\w' ]+", " ", phrase.lower())
    return " ".join(text.split())


def normalize_phrases(phrases: Sequence[str] | None) -> list[str]:
    """Normalised, de-duplicated, non-empty phrases in their original order."""
    out: list[str] = []
    for p in phrases or []:
        n = normalize_phrase(p)
        if n and n not in out:
            out.append(n)
    return out


def match_phrase(text: str, phrases: Sequence[str]) -> str | None:
    """The list entry `text` is exactly (after normalising), or None."""
    t = normalize_phrase(text)
    for p in phrases:
        if normalize_phrase(p) == t:
            return p
    return None
