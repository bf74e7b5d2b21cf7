"""The intents lexicon of one language: intent -> phrases, spoken digits, and phrase matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.dialog.yamlfile import read_yaml

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w' ]+")
_SPACES = re.compile(r"\s+")
_DIGIT_CHARS = {str(d) for d in range(10)}


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and what is wrong."""


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, no punctuation, single spaces."""
    text = text.translate(_APOSTROPHES).lower()
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    words = [w.strip("'") for w in _SPACES.split(text)]
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Lexicon:
    """Phrases per intent, spoken digit words, and repeat words ("double four")."""

    language: str
    intents: dict[str, tuple[str, ...]]
    digit_words: dict[str, str]  # normalised word -> "0".."9"
    multipliers: dict[str, int] = field(default_factory=dict)  # "double" -> 2
    # intent -> phrases noticed even inside an open answer ("tell me what happened")
    in_open_answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""
    # phrases a dialect pack adds to its language's base ("aye nae bother"); empty for a base
    own: frozenset[str] = frozenset()

    def phrases(self, intent: str) -> tuple[str, ...]:
        """The normalised phrases of `intent` (KeyError if unknown)."""
        return self.intents[intent]

    def words_to_digits(self, text: str) -> str:
        """The digit string spoken in `text` ("four seven one nine" -> "4719").

        Only digit words, numerals and multipliers ("double four" -> "44") count; other
        words are skipped. Returns "" when no digit was spoken.
        """
        out: list[str] = []
        repeat = 1
        for word in normalise(text).split():
            if word in self.multipliers:
                repeat = self.multipliers[word]
                continue
            if word in self.digit_words:
                out.append(self.digit_words[word] * repeat)
            elif word.isdigit() and all(c in _DIGIT_CHARS for c in word):
                out.append(word[0] * repeat + word[1:])
            repeat = 1
        return "".join(out)


def load_lexicon(path: str | Path) -> Lexicon:
    """Read and check a lexicon YAML file (`intents:`, `digits:`, optional `multipliers:`)."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"{path}: cannot read lexicon: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise LexiconError(f"{path}: expected a mapping with an 'intents:' mapping")
    intents: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for intent, phrases in data["intents"].items():
        if not isinstance(phrases, list) or not phrases:
            raise LexiconError(f"{path}: intent {intent!r}: expected a non-empty list of phrases")
        normed: list[str] = []
        for phrase in phrases:
            norm = normalise(str(phrase))
            if not norm:
                raise LexiconError(f"{path}: intent {intent!r}: empty phrase {phrase!r}")
            if norm in owner and owner[norm] != intent:
                raise LexiconError(
                    f"{path}: phrase {phrase!r} belongs to both {owner[norm]!r} and {intent!r}"
                )
            owner[norm] = str(intent)
            if norm not in normed:
                normed.append(norm)
        intents[str(intent)] = tuple(normed)
    digits = data.get("digits") or {}
    if not isinstance(digits, dict):
        raise LexiconError(f"{path}: 'digits:' must map a word to a digit")
    digit_words: dict[str, str] = {}
    for word, digit in digits.items():
        digit = str(digit)
        if digit not in _DIGIT_CHARS:
            raise LexiconError(f"{path}: digit word {word!r} maps to {digit!r}, not 0-9")
        digit_words[normalise(str(word))] = digit
    missing = _DIGIT_CHARS - set(digit_words.values())
    if missing:
        raise LexiconError(f"{path}: no digit word for {sorted(missing)}")
    multipliers = {normalise(str(k)): int(v) for k, v in (data.get("multipliers") or {}).items()}
    in_open: dict[str, tuple[str, ...]] = {}
    for intent, phrases in (data.get("in_open_answers") or {}).items():
        normed = tuple(normalise(str(p)) for p in phrases or [])
        strays = [p for p in normed if owner.get(p) != intent]
        if strays:
            raise LexiconError(
                f"{path}: in_open_answers: {strays} are not phrases of intent {intent!r}"
            )
        in_open[str(intent)] = normed
    return Lexicon(
        language=str(data.get("language", path.stem)),
        intents=intents,
        digit_words=digit_words,
        multipliers=multipliers,
        in_open_answers=in_open,
        source=str(path),
    )


class PhraseMatcher:
    """Maps what the caller said to one of a set of intents.

    An exact phrase wins. Otherwise a phrase found inside the utterance (as whole words) counts:
    intents in `priority` come first (safety: "emergency", then "person"), then the longest
    phrase found; among equally long ones, `preferred` intents (the state's own) win. A tie
    that remains gives None (the caller is asked again rather than guessed at).
    """

    def __init__(
        self,
        phrase_intents: Mapping[str, str],
        *,
        priority: Iterable[str] = (),
        preferred: Iterable[str] = (),
    ) -> None:
        self.exact = dict(phrase_intents)
        self.priority = list(priority)
        self.preferred = set(preferred)
        self._tokens = [(p.split(), i) for p, i in self.exact.items()]

    def match(self, text: str) -> str | None:
        """The intent meant by `text`, or None."""
        norm = normalise(text)
        if not norm:
            return None
        if norm in self.exact:
            return self.exact[norm]
        words = norm.split()
        found: dict[str, int] = {}
        for tokens, intent in self._tokens:
            if _contains(words, tokens):
                found[intent] = max(found.get(intent, 0), len(tokens))
        if not found:
            return None
        for intent in self.priority:
            if intent in found:
                return intent
        best = max(found.values())
        winners = [i for i, n in found.items() if n == best]
        own = [i for i in winners if i in self.preferred]
        if len(own) == 1:
            return own[0]
        if not own and len(winners) == 1:
            return winners[0]
        return None


def _contains(words: list[str], tokens: list[str]) -> bool:
    n = len(tokens)
    return any(words[i : i + n] == tokens for i in range(len(words) - n + 1))
