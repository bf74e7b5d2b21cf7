"""Phrase-list helpers shared by the engines: normalising a list and matching a result to it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


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


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGITS = {word: str(n) for n, word in enumerate(DIGIT_WORDS)} | {"oh": "0", "o": "0"}
_REPEATS = {"double": 2, "triple": 3}


def spoken_digits(words: Sequence[str]) -> str | None:
    """The digit string a run of spoken words means: "four seven double two" -> "4722",
    "oh" is 0. None when a word is not a digit word (or a double/triple lacks its digit)."""
    out: list[str] = []
    repeat = 1
    for word in (w for item in words for w in normalize_phrase(item).split()):
        if word in _REPEATS:
            if repeat != 1:
                return None
            repeat = _REPEATS[word]
        elif word in _DIGITS:
            out.append(_DIGITS[word] * repeat)
            repeat = 1
        else:
            return None
    return "".join(out) if out and repeat == 1 else None


def accepted_phrase(
    rec_phrase: str | None,
    rec_text: str,
    confidence: float,
    rejected: bool,
    phrases: Sequence[str] | Mapping[str, object],
    min_confidence: float,
    doubted: bool = False,
) -> str | None:
    """The list phrase a phrase-list result stands for under a service's own confidence bar.

    Engines reject below their own threshold (fitted on their reference data) and then drop the
    phrase; a service may accept more: the heard text counts when it is exactly one of
    `phrases` and `confidence >= min_confidence`, unless the result was `doubted` (a second
    recognizer heard something else, `Recognition.doubted`). Returns None for "not
    understood"."""
    if rec_phrase and not rejected:
        return rec_phrase
    if doubted or confidence < min_confidence:
        return None
    text = normalize_phrase(rec_text)
    return text if text and text in phrases else None


def checked_phrase_list(
    engine: object,
    sample_rate: int,
    phrases: Sequence[str] | None,
    sequence: bool,
    vocabulary_name: str,
) -> list[str] | None:
    """The normalised phrase list for a new stream, after the checks every engine makes: a
    positive sample rate, a list for sequence mode, and every word in the model's vocabulary
    (`engine.missing_words`; `ASRError` names the missing ones and `vocabulary_name`)."""
    from speech.asr.base import ASRError

    if sample_rate <= 0:
        raise ASRError(f"bad sample rate {sample_rate}")
    plist = normalize_phrases(phrases) if phrases else None
    if sequence and not plist:
        raise ASRError("sequence mode needs a phrase list")
    if plist:
        missing = engine.missing_words(plist)  # type: ignore[attr-defined]
        if missing:
            raise ASRError(f"words not in {vocabulary_name}: " + ", ".join(missing))
    return plist
