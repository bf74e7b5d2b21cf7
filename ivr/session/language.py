"""Which dialect a call speaks and understands, and switching it mid-call.

`LanguageRegistry` (one per process) resolves a dialect pack id to everything a call needs: the
prompts and intents lexicon for the dialog, the TTS voice and rate, and the recognizer (None
when no model for it is installed: the call then works by keypad). `DialectChoice` (one per
call) detects the dialect of an unknown caller from their first answers, with hysteresis, and
lets the caller override it. As in the evaluation (`ivr.flows.dialect_eval.detection`), the
first `acoustic_answers` answers are also heard by every candidate dialect's own recognizer
(`dialects.acoustic`), and what each understood is weighed by its dialect's lexicon.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialects.acoustic import (
    CandidateHeard,
    CandidateList,
    candidate_hearings_async,
    pcm_audio,
)
from dialects.detect import DialectDecision, DialectDetector
from dialects.engines import RecognitionUnavailable, engine_for
from ivr.dialog.engine import listen_order
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


ACOUSTIC_ANSWERS = 3  # the evaluation's "detected within three answers"


@dataclass(frozen=True)
class DialectEvidence:
    """What one answer told the detector (kept in the call's events)."""

    answer: int  # 1 for the caller's first answer scored
    heard: str  # the phrase understood ("" when the answer was not understood)
    confidence: float  # the main recognizer's confidence
    candidates: dict[str, CandidateHeard]  # candidate id -> how its own recognizer heard it
    posteriors: dict[str, float]  # candidate id -> probability after this answer
    current: str  # the dialect in use after this answer
    decided: str | None = None  # the dialect switched to on this answer

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (store event data)."""
        return {
            "answer": self.answer,
            "heard": self.heard,
            "confidence": round(self.confidence, 3),
            "candidates": {k: v.to_dict() for k, v in self.candidates.items()},
            "posteriors": {k: round(v, 3) for k, v in self.posteriors.items()},
            "current": self.current,
            "decided": self.decided,
        }


class DialectChoice:
    """Per call: detects an unknown caller's dialect among their language's packs.

    `acoustic_answers`: for how many answers every candidate's recognizer is also consulted
    (0: the words only). `min_confidence`: the service's confidence bar, under which a
    candidate's hearing counts as understood, as a call in that dialect would act on it."""

    def __init__(
        self,
        registry: LanguageRegistry,
        current: str,
        *,
        detect: bool,
        acoustic_answers: int = ACOUSTIC_ANSWERS,
        min_confidence: float = 0.0,
    ) -> None:
        self.registry = registry
        self.min_confidence = min_confidence
        self.current = current
        self.detector: DialectDetector | None = None
        self.acoustic_answers = acoustic_answers
        self.detected: DialectDecision | None = None  # the last automatic switch
        self.evidence: list[DialectEvidence] = []
        self._asked = 0  # answers the candidates' recognizers were asked to hear
        if detect:
            lib = pack_library()
            language = lib.resolve(current).language
            ids = registry.candidates(language)
            if len(ids) > 1:
                self.detector = DialectDetector([lib.resolve(i) for i in ids], start=current)

    @property
    def detecting(self) -> bool:
        return self.detector is not None and not self.detector.locked

    @property
    def wants_models(self) -> bool:
        """True while the next answer should also be heard by every candidate's recognizer:
        detecting, not decided yet, and within the first `acoustic_answers` answers."""
        return self.detecting and self.detected is None and self._asked < self.acoustic_answers

    def _candidate_phrases(self, intents: set[str]) -> dict[str, dict[str, str]]:
        """Candidate id -> its own phrases for `intents` (phrase -> intent), in the order a
        call in that dialect gives its recognizer (`listen_order`)."""
        assert self.detector is not None
        out: dict[str, dict[str, str]] = {}
        for cand in self.detector.candidates:
            lexicon = self.registry.get(cand.id).lexicon
            phrases = {p: i for i in sorted(intents) for p in lexicon.phrases(i)}
            out[cand.id] = {p: phrases[p] for p in listen_order(phrases, lexicon.own)}
        return out

    def extra_phrases(self, intents: set[str]) -> dict[str, str]:
        """While detecting: every candidate's phrases for `intents` (phrase -> intent), so a
        caller who answers in their own dialect is understood before the switch."""
        if not self.detecting:
            return {}
        out: dict[str, str] = {}
        for phrases in self._candidate_phrases(intents).values():
            for phrase, intent in phrases.items():
                out.setdefault(phrase, intent)
        return out

    def own_expressions(self) -> list[frozenset[str]]:
        """While detecting: each candidate's own expressions (what its pack adds to its base),
        for ordering the phrase list (`ivr.dialog.engine.listen_order`)."""
        if not self.detecting:
            return []
        assert self.detector is not None
        return [self.registry.get(c.id).lexicon.own for c in self.detector.candidates]

    def candidate_lists(
        self,
        intents: set[str],
        usable: Callable[[Engine, list[str]], list[str]] | None = None,
    ) -> dict[str, CandidateList]:
        """Each candidate with a recognizer: its engine and its own phrases for `intents`
        (what that dialect's call would listen for in this question), filtered by
        `usable(engine, phrases)` when given (words the engine cannot hear)."""
        if self.detector is None:
            return {}
        out: dict[str, CandidateList] = {}
        for cid, phrases in self._candidate_phrases(intents).items():
            engine = self.registry.get(cid).engine
            if engine is None or not phrases:
                continue
            words = list(phrases)
            out[cid] = CandidateList.of(engine, usable(engine, words) if usable else words)
        return out

    async def candidate_hearings(
        self,
        pcm: bytes,
        sample_rate: int,
        intents: set[str],
        usable: Callable[[Engine, list[str]], list[str]] | None = None,
    ) -> dict[str, CandidateHeard]:
        """How every candidate's recognizer heard one answer, decoded in the evidence thread
        ({} when not `wants_models`, when that thread is busy, or on any failure)."""
        if not self.wants_models:
            return {}
        try:
            lists = await asyncio.to_thread(self.candidate_lists, intents, usable)
            if len(lists) < 2:  # one recognizer only: its confidence tells no dialect apart
                return {}
            found = await candidate_hearings_async(
                pcm_audio(pcm, sample_rate), lists, self.min_confidence
            )
            self._asked += bool(found)  # an answer skipped while busy does not count
            return found
        except Exception:  # evidence is optional: the answer itself must never be lost
            log.exception("dialect evidence failed: the words alone are scored")
            return {}

    def observe(
        self,
        heard: str,
        confidence: float,
        hearings: Mapping[str, CandidateHeard] | None = None,
    ) -> DialectDecision | None:
        """Score one answer (the phrase understood, "" if none, and how every candidate's
        recognizer heard it when they were consulted); a decision means: switch to
        `decision.dialect` now. As in the evaluation, an answer not understood still
        counts when the candidates heard it."""
        if not self.detecting or not (heard or hearings):
            return None
        assert self.detector is not None
        return self._record(
            heard,
            confidence,
            hearings,
            self.detector.observe(heard, confidence, hearings),
        )

    def observe_hearings(
        self, heard: str, confidence: float, hearings: Mapping[str, CandidateHeard]
    ) -> DialectDecision | None:
        """The candidates' hearings of an answer whose words went to `observe` already (a
        live call does not hold its reply for them): added to that answer, or, for an answer
        not understood, counted as one with the candidates' evidence only."""
        if not self.detecting or not hearings:
            return None
        assert self.detector is not None
        if heard:
            decision = self.detector.add_hearings(hearings)
        else:
            decision = self.detector.observe("", confidence, hearings)
        return self._record(heard, confidence, hearings, decision)

    def _record(
        self,
        heard: str,
        confidence: float,
        hearings: Mapping[str, CandidateHeard] | None,
        decision: DialectDecision | None,
    ) -> DialectDecision | None:
        assert self.detector is not None
        if decision is not None:
            self.current = decision.dialect
            self.detected = decision
        if hearings:
            self.evidence.append(
                DialectEvidence(
                    len(self.evidence) + 1,
                    heard,
                    confidence,
                    dict(hearings),
                    self.detector.posteriors(),
                    self.current,
                    decision.dialect if decision else None,
                )
            )
        return decision

    def chosen(self, dialect: str) -> None:
        """The caller (or staff) chose `dialect`: stop detecting."""
        self.current = dialect
        if self.detector is not None and dialect in {c.id for c in self.detector.candidates}:
            self.detector.override(dialect)
        elif self.detector is not None:
            self.detector.locked = True
