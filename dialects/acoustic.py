"""Acoustic evidence for dialect detection: how well each candidate dialect's own recognizer
(its phrases and its accent pronunciation variants, see `dialects.engines.dialect_engine`)
hears one answer.

The confidences go to `DialectDetector.observe(..., model_confidence=...)`. The evaluation
(`ivr.flows.dialect_eval.detection`) and live calls (`ivr.session.language.DialectChoice`) both
use these functions, so what is measured is what calls do.
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
        """A list with `phrases` deduplicated and sorted (the same grammar for the same set).
        An engine with a listener (Whisper, the same for every candidate) is used without it:
        the evidence is each candidate model's own confidence."""
        if getattr(engine, "listener", None) is not None:
            engine = engine.with_listener(None)  # type: ignore[attr-defined]
        return cls(engine, tuple(sorted(set(phrases))))


def pcm_audio(pcm: bytes, sample_rate: int) -> Audio:
    """PCM16 mono bytes (an endpointed utterance) as `Audio`."""
    return Audio(np.frombuffer(pcm, dtype="<i2").copy(), sample_rate)


def candidate_confidence(audio: Audio, candidate: CandidateList) -> float | None:
    """The confidence (0..1) of `candidate`'s recognizer on `audio` against its phrase list;
    None when it could not decode it (no phrases, or an engine error, logged): a candidate
    without a result gets no evidence rather than evidence against it."""
    if not candidate.phrases or len(audio.samples) == 0:
        return None
    try:
        return float(recognize(candidate.engine, audio, list(candidate.phrases)).confidence)
    except ASRError as exc:
        log.warning("dialect evidence: %s could not decode: %s", candidate.engine, exc)
        return None


def model_confidences(audio: Audio, candidates: Mapping[str, CandidateList]) -> dict[str, float]:
    """Candidate id -> its recognizer's confidence on `audio` (one after another)."""
    out = {k: candidate_confidence(audio, c) for k, c in candidates.items()}
    return {k: v for k, v in out.items() if v is not None}


# Evidence is optional and costs a decode per candidate: one background thread of its own,
# one answer at a time, never the decode pool the calls' own recognition uses, so no call's
# reply ever queues behind another caller's dialect evidence.
_EVIDENCE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialect-evidence")
_EVIDENCE_BUSY = threading.Lock()


async def model_confidences_async(
    audio: Audio, candidates: Mapping[str, CandidateList]
) -> dict[str, float]:
    """As `model_confidences`, in a background thread of its own. While it is busy with
    another answer this one gets no evidence ({}): under load, detection falls back to the
    words rather than slow anyone's replies."""
    if not _EVIDENCE_BUSY.acquire(blocking=False):
        return {}
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_EVIDENCE_POOL, model_confidences, audio, candidates)
    finally:
        _EVIDENCE_BUSY.release()
