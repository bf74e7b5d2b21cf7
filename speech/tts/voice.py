"""Voice settings for one prompt, and resolving espeak-ng voice names to engine voice ids."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields, replace

DEFAULT_RATE_WPM = 140  # slow and clear; espeak-ng's own default is 175
ESPEAK_DEFAULT_RATE_WPM = 175
MIN_RATE_WPM = 80  # espeak-ng's floor
MAX_RATE_WPM = 450


class TTSError(RuntimeError):
    """Speech synthesis failed; the message says why."""


class UnknownVoiceError(ValueError):
    """The requested voice is not installed in espeak-ng; the message lists close matches."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown espeak-ng voice {name!r}{hint} (list them with `espeak-ng --voices`)"
        )
        self.name = name
        self.suggestions = suggestions


@dataclass(frozen=True)
class VoiceInfo:
    """An installed espeak-ng voice: `id` is the engine id ("gmw/en-us"), `short` its last part
    ("en-us"), `name` the human name ("English (America)")."""

    id: str
    name: str
    languages: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class VoiceSettings:
    """How to speak one prompt.

    - `voice`: espeak-ng voice ("en-us", "en-gb-scotland", "ko", "yue", or an id such as
      "gmw/en-us"), optionally with a variant ("en-us+f3").
    - `rate_wpm`: words per minute (80-450; default 140, espeak-ng's default is 175).
    - `pitch`: espeak-ng base pitch, 0-100 (default 50).
    - `volume`: 0.0-1.0 (default 1.0).
    - `sentence_pause_s`: silence between sentences (default 0.7 s; 0-10).
    - `keyword_pause_s`: silence before and after key words such as amounts (default 0.3 s; 0-5).
    """

    voice: str = "en-us"
    rate_wpm: int = DEFAULT_RATE_WPM
    pitch: int = 50
    volume: float = 1.0
    sentence_pause_s: float = 0.7
    keyword_pause_s: float = 0.3

    def __post_init__(self) -> None:
        if not isinstance(self.voice, str) or not self.voice.strip():
            raise ValueError("voice must be a non-empty espeak-ng voice name such as 'en-us'")
        _check_int("rate_wpm", self.rate_wpm, MIN_RATE_WPM, MAX_RATE_WPM)
        _check_int("pitch", self.pitch, 0, 100)
        _check_float("volume", self.volume, 0.0, 1.0)
        _check_float("sentence_pause_s", self.sentence_pause_s, 0.0, 10.0)
        _check_float("keyword_pause_s", self.keyword_pause_s, 0.0, 5.0)

    def with_(self, **changes: object) -> VoiceSettings:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown voice setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)  # type: ignore[arg-type]


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")


def _check_float(name: str, value: object, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number between {lo:g} and {hi:g}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {value}")


def resolve_voice(name: str, voices: list[VoiceInfo], variants: list[str]) -> str:
    """The engine voice id for `name` (matched on id, short id, language code or human name,
    case-insensitive), with a "+variant" suffix kept when the variant exists.
    Raises `UnknownVoiceError` listing close matches."""
    base, _, variant = name.strip().partition("+")
    key = base.strip().lower()
    found = None
    for match in (
        lambda v: v.id.lower() == key,
        lambda v: v.short.lower() == key,
        lambda v: key in (lang.lower() for lang in v.languages),
        lambda v: v.name.lower() == key,
    ):
        found = next((v for v in voices if match(v)), None)
        if found:
            break
    if found is None:
        candidates = sorted({v.short for v in voices} | {v.name for v in voices})
        close = difflib.get_close_matches(key, [c.lower() for c in candidates], n=5, cutoff=0.5)
        lookup = {c.lower(): c for c in candidates}
        prefix = [c for c in sorted({v.short for v in voices}) if c.startswith(key.split("-")[0])]
        suggestions = list(dict.fromkeys([lookup[c] for c in close] + prefix[:5]))[:8]
        raise UnknownVoiceError(name, suggestions)
    if not variant:
        return found.id
    vkey = variant.strip().lower()
    known = {v.lower(): v for v in variants}
    if vkey not in known:
        close = difflib.get_close_matches(vkey, list(known), n=5, cutoff=0.5)
        raise UnknownVoiceError(name, [f"{found.short}+{known[c]}" for c in close])
    return f"{found.id}+{known[vkey]}"
