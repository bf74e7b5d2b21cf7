"""Which dialect a call speaks and understands, and switching it mid-call.

`LanguageRegistry` (one per process) resolves a dialect pack id to everything a call needs: the
prompts and intents lexicon for the dialog, the TTS voice and rate, and the recognizer (None
when no model for it is installed: the call then works by keypad). `DialectChoice` (one per
call) detects the dialect of an unknown caller from their first answers, with hysteresis, and
lets the caller override it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dialects.detect import DialectDecision, DialectDetector
from dialects.engines import RecognitionUnavailable, engine_for
from ivr.dialog.lexicon import Lexicon
from ivr.dialog.prompts import Prompts
from ivr.flows.packs import language_pack, pack_library
from speech.asr.base import Engine
from speech.tts import VoiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageSetup:
    """Everything one dialect needs in a call."""

    dialect: str
    language: str
    prompts: Prompts
    lexicon: Lexicon
    voice: VoiceSettings
    engine: Engine | None  # None: no recognizer installed, keypad only
    unavailable: str = ""  # why there is no recognizer


@dataclass
class LanguageRegistry:
    """Resolves and caches `LanguageSetup`s (recognizer models stay shared per process)."""

    default_dialect: str = "en"
    models_dir: Path | None = None
    base_voice: VoiceSettings = field(default_factory=VoiceSettings)
    _cache: dict[str, LanguageSetup] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, dialect: str | None) -> LanguageSetup:
        """The setup of `dialect` (a pack id); unknown or empty ids give the default dialect."""
        dialect = dialect or self.default_dialect
        if dialect not in pack_library().files:
            log.warning("unknown dialect %r: using %r", dialect, self.default_dialect)
            dialect = self.default_dialect
        with self._lock:
            cached = self._cache.get(dialect)
            if cached is not None:
                return cached
            lp = language_pack(dialect)
            pack = lp.pack
            voice = self.base_voice.with_(voice=pack.tts.voice, rate_wpm=pack.tts.rate_wpm)
            try:
                engine: Engine | None = engine_for(pack, self.models_dir).engine
                why = ""
            except RecognitionUnavailable as exc:
                engine, why = None, str(exc)
                log.warning("dialect %s: no recognizer, keypad only: %s", dialect, why)
            setup = LanguageSetup(
                dialect, pack.language, lp.prompts, lp.lexicon, voice, engine, why
            )
            self._cache[dialect] = setup
            return setup

    def candidates(self, language: str) -> list[str]:
        """Dialect ids of `language` (its base first)."""
        return pack_library().of_language(language)

    def loader(self, dialect: str) -> tuple[Prompts, Lexicon]:
        """For `DialogEngine(dialect_loader=...)`: the wording of `dialect`."""
        setup = self.get(dialect)
        return setup.prompts, setup.lexicon


class DialectChoice:
    """Per call: detects an unknown caller's dialect among their language's packs."""

    def __init__(self, registry: LanguageRegistry, current: str, *, detect: bool) -> None:
        self.registry = registry
        self.current = current
        self.detector: DialectDetector | None = None
        if detect:
            lib = pack_library()
            language = lib.resolve(current).language
            ids = registry.candidates(language)
            if len(ids) > 1:
                self.detector = DialectDetector([lib.resolve(i) for i in ids], start=current)

    @property
    def detecting(self) -> bool:
        return self.detector is not None and not self.detector.locked

    def extra_phrases(self, intents: set[str]) -> dict[str, str]:
        """While detecting: every candidate's phrases for `intents` (phrase -> intent), so a
        caller who answers in their own dialect is understood before the switch."""
        if not self.detecting:
            return {}
        out: dict[str, str] = {}
        assert self.detector is not None
        for cand in self.detector.candidates:
            lexicon = self.registry.get(cand.id).lexicon
            for intent in intents:
                for phrase in lexicon.phrases(intent):
                    out.setdefault(phrase, intent)
        return out

    def observe(self, heard: str, confidence: float) -> DialectDecision | None:
        """Score one answer; a decision means: switch to `decision.dialect` now."""
        if not self.detecting or not heard:
            return None
        assert self.detector is not None
        decision = self.detector.observe(heard, confidence)
        if decision is not None:
            self.current = decision.dialect
        return decision

    def chosen(self, dialect: str) -> None:
        """The caller (or staff) chose `dialect`: stop detecting."""
        self.current = dialect
        if self.detector is not None and dialect in {c.id for c in self.detector.candidates}:
            self.detector.override(dialect)
        elif self.detector is not None:
            self.detector.locked = True
