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


def split_sequence(text: str, phrases: Sequence[str]) -> list[str] | None:
    """Split `text` into a run of list entries ("four seven one" -> ["four", "seven", "one"]).

    Entries may be several words long; the split uses as few entries as possible. None when
    `text` is empty or is not such a run."""
    words = normalize_phrase(text).split()
    if not words:
        return None
    entries = {tuple(normalize_phrase(p).split()): p for p in phrases if normalize_phrase(p)}
    longest = max((len(e) for e in entries), default=0)
    # best[i]: the shortest split of words[:i]
    best: list[list[str] | None] = [[]] + [None] * len(words)
    for i in range(1, len(words) + 1):
        for n in range(1, min(longest, i) + 1):
            prev = best[i - n]
            entry = entries.get(tuple(words[i - n : i]))
            if prev is not None and entry is not None:
                cand = prev + [entry]
                if best[i] is None or len(cand) < len(best[i]):
                    best[i] = cand
    return best[-1]
