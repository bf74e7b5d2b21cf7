"""Slow, clear synthesis of one prompt: piece by piece on the engine worker, joined with exact
digital silence (sentence pauses, key-word pauses, explicit `[pause N]` markers)."""

from __future__ import annotations

import numpy as np

from speech.tts.engine import (
    EDGE_THRESHOLD,
    ENGINE_SAMPLE_RATE,
    EngineParams,
    get_worker,
    installed_voices,
)
from speech.tts.text import Pause, Segment, Speak, plan
from speech.tts.voice import TTSError, VoiceSettings, resolve_voice
from speech.wav import Audio

TRIM_THRESHOLD = EDGE_THRESHOLD  # |sample| at or below this is the engine's edge silence
TRIM_MARGIN_S = 0.02  # kept on each side of the speech so soft onsets are not clipped


def resolve_settings(settings: VoiceSettings) -> VoiceSettings:
    """The same settings with `voice` replaced by the engine voice id ("en-us" -> "gmw/en-us").
    Raises `UnknownVoiceError` (listing close matches) for a voice espeak-ng does not have."""
    voices, variants = installed_voices()
    return settings.with_(voice=resolve_voice(settings.voice, voices, variants))


def trim_silence(samples: np.ndarray, rate: int = ENGINE_SAMPLE_RATE) -> np.ndarray:
    """Cut the engine's leading and trailing silence, keeping `TRIM_MARGIN_S` either side."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > TRIM_THRESHOLD)
    if loud.size == 0:
        return samples[:0]
    margin = int(TRIM_MARGIN_S * rate)
    return samples[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def assemble(segments: list[Segment], pieces: list[np.ndarray], rate: int) -> Audio:
    """Join the spoken pieces (in order of the plan's `Speak` items) with digital silence."""
    parts: list[np.ndarray] = []
    it = iter(pieces)
    for seg in segments:
        if isinstance(seg, Pause):
            parts.append(np.zeros(int(round(seg.seconds * rate)), dtype=np.int16))
        else:
            parts.append(trim_silence(next(it), rate))
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    return Audio(samples.astype(np.int16), rate)


def _prepare(text: str, settings: VoiceSettings | None) -> tuple[list[Segment], EngineParams]:
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    s = resolve_settings(settings or VoiceSettings())
    segments = plan(text, s.sentence_pause_s, s.keyword_pause_s)
    if not any(isinstance(seg, Speak) for seg in segments):
        raise TTSError(f"nothing to say in {text[:60]!r}: the prompt has no words")
    return segments, EngineParams(s.voice, s.rate_wpm, s.pitch, s.volume)


def synthesize(text: str, settings: VoiceSettings | None = None) -> Audio:
    """Speak `text` slowly and clearly: 22.05 kHz mono PCM16 `Audio` (no cache)."""
    segments, params = _prepare(text, settings)
    worker = get_worker()
    pieces = [seg.text for seg in segments if isinstance(seg, Speak)]
    return assemble(
        segments, worker.run(worker.synthesize_pieces(pieces, params)), ENGINE_SAMPLE_RATE
    )


async def synthesize_async(text: str, settings: VoiceSettings | None = None) -> Audio:
    """`synthesize` for asyncio code: the engine runs on its worker thread, the loop stays free.
    (Voice resolution asks the worker once per process, then is answered from memory.)"""
    import asyncio

    segments, params = await asyncio.to_thread(_prepare, text, settings)
    worker = get_worker()
    pieces = [seg.text for seg in segments if isinstance(seg, Speak)]
    arrays = await worker.run_async(worker.synthesize_pieces(pieces, params))
    return assemble(segments, arrays, ENGINE_SAMPLE_RATE)
