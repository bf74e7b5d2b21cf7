"""Evidence for dialect detection: how each candidate dialect's own recognizer hears one answer.

A candidate's recognizer is what a call in that dialect listens with: its phrases for the
question (its own expressions last), its accent pronunciation variants
(`dialects.engines.dialect_engine`) and, for English, the Whisper listener primed with that
list. One list holding every dialect's expressions at once does not fit Whisper's context, so
an unknown caller's answer is also heard once per candidate, as parallel recognizers each with
their own lexicon are used to tell languages apart. What each candidate understood goes to
`DialectDetector.observe(..., hearings=...)`, which weighs it by that dialect's lexicon.

The evaluation (`ivr.flows.dialect_eval.detection`) and live calls
(`ivr.session.language.DialectChoice`) both use these functions, so what is measured is what
calls do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from speech.asr.base import ASRError, Engine
from speech.asr.phrases import accepted_phrase
from speech.asr.registry import recognize
from speech.wav import Audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateList:
    """One candidate dialect's recognizer and the phrases it listens for in this question."""

    engine: Engine
    phrases: tuple[str, ...]

    @classmethod
    def of(cls, engine: Engine, phrases: Iterable[str]) -> CandidateList:
        """A list of `phrases` deduplicated, in the order given (the order a call in that
        dialect gives its recognizer: a primed listener keeps the end of a long list)."""
        return cls(engine, tuple(dict.fromkeys(phrases)))


@dataclass(frozen=True)
class CandidateHeard:
    """What one candidate dialect's recognizer understood of an answer."""

    phrase: str | None  # the list entry a call in that dialect would act on; None: not understood
    confidence: float  # the recognizer's confidence, 0..1

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (store event data)."""
        return {"phrase": self.phrase, "confidence": round(self.confidence, 3)}


def pcm_audio(pcm: bytes, sample_rate: int) -> Audio:
    """PCM16 mono bytes (an endpointed utterance) as `Audio`."""
    return Audio(np.frombuffer(pcm, dtype="<i2").copy(), sample_rate)


def _yielding(engine: Engine) -> Engine:
    """`engine` without its listener while the listener is hearing any call's answer: the
    evidence is optional, and must not take the listener's slots from the calls' replies
    (it then hears with the candidate's own phrase-list recognizer alone)."""
    listener = getattr(engine, "listener", None)
    if listener is not None and not getattr(listener, "idle", True):
        return engine.with_listener(None)  # type: ignore[attr-defined]
    return engine


def candidate_hearing(
    audio: Audio, candidate: CandidateList, min_confidence: float
) -> CandidateHeard | None:
    """How `candidate`'s recognizer hears `audio`: the entry it understood under the service's
    confidence bar `min_confidence` (as a call would act on it), and its confidence; None when
    it could not decode (no phrases, or an engine error, logged): a candidate without a result
    gets no evidence rather than evidence against it. The listener is left out while calls
    are using it (`_yielding`)."""
    if not candidate.phrases or len(audio.samples) == 0:
        return None
    try:
        rec = recognize(_yielding(candidate.engine), audio, list(candidate.phrases))
    except ASRError as exc:
        log.warning("dialect evidence: %s could not decode: %s", candidate.engine, exc)
        return None
    phrase = accepted_phrase(
        rec.phrase,
        rec.text,
        rec.confidence,
        rec.rejected,
        candidate.phrases,
        min_confidence,
        rec.doubted,
    )
    return CandidateHeard(phrase, float(rec.confidence))


def candidate_hearings(
    audio: Audio, candidates: Mapping[str, CandidateList], min_confidence: float
) -> dict[str, CandidateHeard]:
    """Candidate id -> how its recognizer heard `audio` (one after another)."""
    out = {k: candidate_hearing(audio, c, min_confidence) for k, c in candidates.items()}
    return {k: v for k, v in out.items() if v is not None}


# Evidence is optional and costs a decode per candidate: one background thread of its own,
# one answer at a time, never the decode pool the calls' own recognition uses, so no call's
# reply ever queues behind another caller's dialect evidence.
_EVIDENCE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialect-evidence")
_EVIDENCE_BUSY = threading.Lock()


async def candidate_hearings_async(
    audio: Audio, candidates: Mapping[str, CandidateList], min_confidence: float
) -> dict[str, CandidateHeard]:
    """As `candidate_hearings`, in a background thread of its own. While it is busy with
    another answer this one gets no evidence ({}): under load, detection falls back to the
    words rather than slow anyone's replies."""
    if not _EVIDENCE_BUSY.acquire(blocking=False):
        return {}
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _EVIDENCE_POOL, candidate_hearings, audio, candidates, min_confidence
        )
    finally:
        _EVIDENCE_BUSY.release()
