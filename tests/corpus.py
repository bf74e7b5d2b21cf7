"""Loader for the Asterisk English prompt corpus (real human telephone speech, 8 kHz).

The Debian packages `asterisk-core-sounds-en-wav` (the WAV files) and its transcript file
`/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz` must be installed; anything
missing raises `CorpusMissingError` naming the package, so a test fails loudly instead of
skipping.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
PACKAGE = "asterisk-core-sounds-en-wav"

_NUMBER_WORDS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
}


class CorpusMissingError(RuntimeError):
    """The Asterisk sounds corpus is not installed."""


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt: its name (may include a subfolder), transcript and WAV path."""

    name: str
    transcript: str
    path: Path

    @property
    def words(self) -> list[str]:
        return normalize(self.transcript).split()


def normalize(text: str) -> str:
    """Lower-case, drop bracketed notes and punctuation, spell out small numbers.

    "Press 1 for [beep]" -> "press one for". Apostrophes inside words are kept ("i'm").
    """
    text = re.sub(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)", " ", text.lower())
    text = text.replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    out = []
    for tok in text.split():
        tok = tok.strip("'")
        if not tok:
            continue
        out.append(_NUMBER_WORDS.get(tok, tok))
    return " ".join(out)


def _require() -> None:
    if not SOUNDS_DIR.is_dir():
        raise CorpusMissingError(
            f"{SOUNDS_DIR} missing: install the Debian package {PACKAGE} (apt-get install it)"
        )
    if not TRANSCRIPTS.is_file():
        raise CorpusMissingError(
            f"{TRANSCRIPTS} missing: install the Debian package {PACKAGE} "
            "(it brings asterisk-core-sounds-en with the transcripts)"
        )


@lru_cache(maxsize=1)
def prompts() -> dict[str, Prompt]:
    """Every prompt that has both a transcript and a WAV file, by name."""
    _require()
    out: dict[str, Prompt] = {}
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(";") or ": " not in line:
                continue
            name, transcript = line.split(": ", 1)
            path = SOUNDS_DIR / f"{name.strip()}.wav"
            if path.is_file():
                out[name.strip()] = Prompt(name.strip(), transcript.strip(), path)
    if len(out) < 100:
        raise CorpusMissingError(
            f"only {len(out)} prompts found under {SOUNDS_DIR}: is {PACKAGE} fully installed?"
        )
    return out


def prompt(name: str) -> Prompt:
    """One prompt by name (e.g. "digits/7", "goodbye"); raises if absent."""
    try:
        return prompts()[name]
    except KeyError:
        raise CorpusMissingError(f"prompt {name!r} not found in {SOUNDS_DIR} ({PACKAGE})") from None


def long_prompts(min_words: int = 5) -> list[Prompt]:
    """Prompts with at least `min_words` words of real speech, sorted by name."""
    return sorted(
        (p for p in prompts().values() if len(p.words) >= min_words), key=lambda p: p.name
    )


@dataclass(frozen=True)
class ListTrial:
    """One short prompt to recognise against a phrase list that does (or does not) hold it."""

    prompt: Prompt
    text: str  # the prompt's normalised transcript
    phrases: list[str]
    in_list: bool

    @property
    def half(self) -> int:
        """0 or 1, a stable split by word (for choosing thresholds on one half only)."""
        return word_half(self.text)


def word_half(text: str) -> int:
    """A stable 0/1 split of transcripts (md5 parity)."""
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % 2


def short_prompt_trials(
    known, list_size: int = 25, seed: int = 1, max_words: int = 3
) -> tuple[list[ListTrial], list[ListTrial]]:
    """Every distinct short prompt (1..`max_words` words, letters and phonetic alphabet left
    out) whose words all satisfy `known(word)`, each recognised twice: against a seeded random
    list of `list_size` other transcripts plus itself (in list), and against `list_size` others
    (out of list). Returns (in_list, out_of_list)."""
    items: dict[str, Prompt] = {}
    for p in sorted(prompts().values(), key=lambda p: p.name):
        if p.name.startswith(("letters/", "phonetic/")) or not 1 <= len(p.words) <= max_words:
            continue
        if all(known(w) for w in p.words):
            items.setdefault(" ".join(p.words), p)
    texts = sorted(items)
    rnd = random.Random(seed)
    inl: list[ListTrial] = []
    for t in texts:
        lst = rnd.sample([x for x in texts if x != t], list_size - 1) + [t]
        rnd.shuffle(lst)
        inl.append(ListTrial(items[t], t, lst, True))
    rnd = random.Random(seed + 6)
    ool = [
        ListTrial(items[t], t, rnd.sample([x for x in texts if x != t], list_size), False)
        for t in texts
    ]
    return inl, ool
