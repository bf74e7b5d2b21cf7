"""Lexical distress cues from the words heard, driven by `phrases.toml` (package data).

Cues: asking_for_help, pain, fall, fear, confusion, scam; languages en, ko, zh (Mandarin) and
yue (Cantonese). Latin-script phrases match whole words, CJK/Hangul phrases match as substrings
of the text with spaces removed. Overlapping matches count once (the longest); several distinct
phrases for the same cue combine as 1 - prod(1 - weight).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from speech.cues.types import Cue

LEXICAL_CUES = ("asking_for_help", "pain", "fall", "fear", "confusion", "scam")
LANGUAGES = ("en", "ko", "zh", "yue")

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)
_CJK = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


@dataclass(frozen=True)
class Phrase:
    """One phrase of a cue, in normalised form."""

    cue: str
    language: str
    text: str
    weight: float
    cjk: bool
    pattern: re.Pattern[str] | None


@dataclass(frozen=True)
class PhraseBook:
    """All phrases, plus the words that, repeated alone, mean the caller did not understand."""

    phrases: tuple[Phrase, ...]
    repeat_words: frozenset[str]


def normalise(text: str) -> str:
    """Lower case, NFKC, curly apostrophes straightened, punctuation turned into spaces."""
    t = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("`", "'")
    t = _PUNCT.sub(" ", t)
    return " ".join(t.split())


def _parse_entry(entry: str) -> tuple[str, float]:
    text, sep, w = entry.rpartition("|")
    if not sep:
        return entry, 1.0
    weight = float(w)
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"phrase weight must be in (0, 1]: {entry!r}")
    return text, weight


def load_phrasebook(path: str | Path | None = None) -> PhraseBook:
    """Load a phrase file (default: the packaged `phrases.toml`). Raises ValueError on an
    unknown cue name or a malformed entry."""
    if path is None:
        raw = resources.files("speech.cues").joinpath("phrases.toml").read_bytes()
    else:
        raw = Path(path).read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    phrases: list[Phrase] = []
    repeat: set[str] = set()
    for cue, langs in data.items():
        if cue not in LEXICAL_CUES:
            raise ValueError(f"unknown lexical cue {cue!r} (known: {', '.join(LEXICAL_CUES)})")
        for lang, entries in langs.items():
            if lang == "repeat_words":
                repeat.update(normalise(e) for e in entries)
                continue
            for entry in entries:
                text, weight = _parse_entry(str(entry))
                norm = normalise(text)
                if not norm:
                    raise ValueError(f"empty phrase in {cue}.{lang}")
                cjk = bool(_CJK.search(norm))
                if cjk:
                    phrases.append(Phrase(cue, lang, norm.replace(" ", ""), weight, True, None))
                else:
                    pat = re.compile(r"(?<![\w'])" + re.escape(norm) + r"(?![\w'])")
                    phrases.append(Phrase(cue, lang, norm, weight, False, pat))
    return PhraseBook(tuple(phrases), frozenset(repeat))


@lru_cache(maxsize=4)
def default_phrasebook() -> PhraseBook:
    """The packaged phrase book, loaded once."""
    return load_phrasebook()


@dataclass(frozen=True)
class LexicalMatch:
    """A phrase found in the text (character span in the normalised text)."""

    cue: str
    phrase: str
    language: str
    weight: float


def find_phrases(
    text: str, book: PhraseBook | None = None, languages: Iterable[str] | None = None
) -> list[LexicalMatch]:
    """Every phrase of `book` in `text` (overlapping shorter matches of the same cue dropped)."""
    book = book or default_phrasebook()
    langs = set(languages) if languages is not None else None
    norm = normalise(text)
    compact = norm.replace(" ", "")
    spans: list[tuple[str, int, int, Phrase]] = []
    for p in book.phrases:
        if langs is not None and p.language not in langs:
            continue
        if p.cjk:
            start = compact.find(p.text)
            while start >= 0:
                spans.append(("c", start, start + len(p.text), p))
                start = compact.find(p.text, start + 1)
        else:
            assert p.pattern is not None
            for m in p.pattern.finditer(norm):
                spans.append(("l", m.start(), m.end(), p))
    kept: list[LexicalMatch] = []
    seen: set[tuple[str, str]] = set()
    for space, s, e, p in sorted(spans, key=lambda t: -(t[2] - t[1])):
        inside = any(
            sp == space and q.cue == p.cue and s2 <= s and e <= e2 and (s2, e2) != (s, e)
            for sp, s2, e2, q in spans
        )
        if inside or (p.cue, p.text) in seen:
            continue
        seen.add((p.cue, p.text))
        kept.append(LexicalMatch(p.cue, p.text, p.language, p.weight))
    return kept


def is_repeat_request(text: str, book: PhraseBook | None = None) -> bool:
    """True when the utterance is only a 'what?'-like word or two (e.g. "what", "huh what")."""
    book = book or default_phrasebook()
    norm = normalise(text)
    if not norm:
        return False
    toks = norm.split()
    if len(toks) <= 3 and all(t in book.repeat_words for t in toks):
        return True
    compact = norm.replace(" ", "")
    return any(compact == w.replace(" ", "") for w in book.repeat_words)


def lexical_cues(
    text: str,
    *,
    start_s: float = 0.0,
    end_s: float = 0.0,
    recent_texts: Sequence[str] = (),
    languages: Iterable[str] | None = None,
    book: PhraseBook | None = None,
    repeat_min: int = 2,
) -> list[Cue]:
    """Lexical cues in `text` (the words heard in one utterance spanning start_s..end_s).

    `recent_texts` are the caller's previous utterances in this call, newest last: when this
    utterance and the ones just before it are all 'what?'-like (`repeat_min` in a row), a
    confusion cue fires. `languages` limits the phrase languages (default: all).
    """
    book = book or default_phrasebook()
    by_cue: dict[str, list[LexicalMatch]] = {}
    for m in find_phrases(text, book, languages):
        by_cue.setdefault(m.cue, []).append(m)
    out: list[Cue] = []
    run = 0
    for t in [*recent_texts, text][::-1]:
        if not is_repeat_request(t, book):
            break
        run += 1
    for cue in LEXICAL_CUES:
        matches = by_cue.get(cue, [])
        weights = [m.weight for m in matches]
        evidence = [f'"{m.phrase}"' for m in matches]
        if cue == "confusion" and run >= repeat_min:
            weights.append(min(1.0, 0.35 * run))
            evidence.append(f"asked 'what?' {run} times in a row")
        if not weights:
            continue
        keep = 1.0
        for w in weights:
            keep *= 1.0 - w
        out.append(
            Cue(
                name=cue,
                strength=1.0 - keep,
                start_s=start_s,
                end_s=end_s,
                evidence="heard " + ", ".join(evidence),
                kind="lexical",
            )
        )
    return out
