"""The data of dialect packs: phrases and prompts with where they were written, TTS and ASR
choices, and the problems found in a pack (always with file and line)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w' ]+")


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, no punctuation, single spaces (as the dialog does)."""
    text = _NOT_WORD.sub(" ", text.translate(_APOSTROPHES).lower().replace("_", " "))
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Origin:
    """Where something was written: pack id, file and 1-based line."""

    pack: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Phrase:
    """One way of saying an intent (normalised text) and where it was written."""

    text: str
    intent: str
    origin: Origin


@dataclass(frozen=True)
class Prompt:
    """One prompt's wording and where it was written."""

    key: str
    text: str
    origin: Origin


@dataclass(frozen=True)
class TtsChoice:
    """The espeak-ng voice and speaking rate of a pack."""

    voice: str
    rate_wpm: int = 140


@dataclass(frozen=True)
class AsrChoice:
    """One recognizer to try: `engine` ("vosk", "pocketsphinx" or None for any) for `language`
    (a model language such as "en-gb", "ko", "cn"), optionally a named `model`."""

    language: str
    engine: str | None = None
    model: str | None = None

    def __str__(self) -> str:
        what = self.model or f"a {self.language} model"
        return f"{self.engine or 'any engine'} with {what}"


@dataclass(frozen=True)
class PackIssue:
    """A problem in a pack file; `severity` is "error" or "warning"."""

    file: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


class PackError(ValueError):
    """Packs could not be loaded; `issues` lists every problem with file and line."""

    def __init__(self, issues: list[PackIssue]) -> None:
        self.issues = issues
        super().__init__("invalid dialect pack:\n  " + "\n  ".join(str(i) for i in issues))


@dataclass(frozen=True)
class PackFile:
    """One pack file as written (before inheritance is applied)."""

    id: str
    name: str
    language: str
    inherits: str | None
    path: str
    tts: TtsChoice | None
    asr: tuple[AsrChoice, ...]
    pronunciations: dict[str, str]
    intents: dict[str, tuple[Phrase, ...]]
    prompts: dict[str, Prompt]
    digits: dict[str, str]
    multipliers: dict[str, int]
    in_open_answers: dict[str, tuple[str, ...]]
    currencies: dict[str, dict[str, str]]
    flow_language_files: bool = False  # build on ivr/flows' own files of `language`
    line_of: dict[tuple, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, *path: object) -> int:
        """The line of the value at `path` (or of its nearest parent)."""
        p = tuple(path)
        while p:
            if p in self.line_of:
                return self.line_of[p]
            p = p[:-1]
        return 1


@dataclass(frozen=True)
class DialectPack:
    """A pack with its inheritance applied: phrases are the union of the chain's (base first),
    prompts and settings are the most specific ones."""

    id: str
    name: str
    language: str
    chain: tuple[str, ...]  # base first, this pack last
    files: tuple[str, ...]
    tts: TtsChoice
    asr: tuple[AsrChoice, ...]
    pronunciations: dict[str, str]
    intents: dict[str, tuple[Phrase, ...]]
    prompts: dict[str, Prompt]
    digits: dict[str, str]
    multipliers: dict[str, int]
    in_open_answers: dict[str, tuple[str, ...]]
    currencies: dict[str, dict[str, str]]
    flow_language_files: bool = False

    @property
    def base(self) -> str:
        """The id of the language's base pack."""
        return self.chain[0]

    @property
    def is_base(self) -> bool:
        return len(self.chain) == 1

    def phrases(self, intent: str) -> tuple[str, ...]:
        """The phrases of `intent` (empty when the pack has none)."""
        return tuple(p.text for p in self.intents.get(intent, ()))

    def phrase_intents(self) -> dict[str, str]:
        """Every phrase of the pack -> its intent."""
        return {p.text: i for i, ps in self.intents.items() for p in ps}

    def own_phrases(self) -> dict[str, str]:
        """Phrases this dialect adds to its base pack -> intent (empty for a base pack)."""
        return {
            p.text: i for i, ps in self.intents.items() for p in ps if p.origin.pack != self.base
        }

    def prompt_texts(self) -> dict[str, str]:
        """Prompt key -> wording."""
        return {k: p.text for k, p in self.prompts.items()}
