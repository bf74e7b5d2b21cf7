"""The engine interface every recognizer implements, and the result types it returns."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np


class ASRError(RuntimeError):
    """A recognizer could not be created or used (missing model, bad phrase list...)."""


class ModelNotInstalledError(ASRError):
    """No model is installed for the requested language or name."""


@dataclass(frozen=True)
class Word:
    """One recognized word with its timing (seconds from stream start) and confidence (0..1)."""

    word: str
    start: float
    end: float
    conf: float


@dataclass
class Recognition:
    """The final result of one recognition stream.

    `text` is what was heard. In phrase-list mode `phrase` is the list entry it matched (or None
    when the audio was rejected as out of list, in which case `rejected` is True and `text` may
    still hold the best guess). `confidence` is an overall 0..1 score.

    In sequence mode (`open_stream(..., sequence=True)`) `items` are the list entries heard in
    order ("four", "seven", ...) and `phrase` is them joined by spaces.
    """

    text: str
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0
    engine: str = ""
    model: str = ""
    phrase: str | None = None
    rejected: bool = False
    audio_seconds: float = 0.0
    items: list[str] = field(default_factory=list)
    # a second recognizer heard something else and the first was unsure: rejected, and a
    # service's looser bar (`speech.asr.phrases.accepted_phrase`) must not take it back
    doubted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `ivr transcribe --json` prints)."""
        return asdict(self)


class RecognizerStream(Protocol):
    """One utterance (or one call) of audio being decoded."""

    def accept(self, pcm: bytes) -> None:
        """Feed PCM16 mono little-endian audio at the stream's `sample_rate`."""

    def partial(self) -> str:
        """The current partial hypothesis (may change as more audio arrives)."""

    def finish(self) -> Recognition:
        """Flush and return the final result. The stream cannot be fed afterwards."""


class Engine(Protocol):
    """A loaded recognizer model that opens any number of streams."""

    name: str
    language: str
    model_name: str

    def open_stream(
        self,
        sample_rate: int,
        phrases: Sequence[str] | None = None,
        *,
        sequence: bool = False,
        alone: Sequence[str] | None = None,
    ) -> RecognizerStream:
        """Open a stream for audio at `sample_rate`; with `phrases`, decode in phrase-list mode,
        and with `sequence=True` accept any run of list entries (digit strings, PINs), where
        entries of `alone` (commands) count only as the whole utterance."""

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of `phrases` that the model's vocabulary lacks (they could never be heard)."""


class BufferedStream:
    """The audio half of a stream that decodes whole utterances: checks and buffers PCM16
    (`accept`) until the engine decodes it all (`take_samples`)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._chunks: list[bytes] = []
        self._bytes = 0
        self._done = False

    def accept(self, pcm: bytes) -> None:
        """Feed PCM16 mono audio at `sample_rate`."""
        if self._done:
            raise ASRError("stream already finished")
        if len(pcm) % 2:
            raise ASRError("PCM16 audio must have an even number of bytes")
        self._chunks.append(bytes(pcm))
        self._bytes += len(pcm)

    def _samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self._chunks), dtype="<i2")

    def take_samples(self) -> np.ndarray:
        """All the audio, once: the stream is finished afterwards (ASRError if it was)."""
        if self._done:
            raise ASRError("stream already finished")
        self._done = True
        samples = self._samples()
        self._chunks = []
        return samples


_EXECUTOR: ThreadPoolExecutor | None = None


def decode_executor() -> ThreadPoolExecutor:
    """The shared thread pool decoding runs in, so the event loop never waits on a decoder."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="asr")
    return _EXECUTOR


class AsyncStream:
    """Wraps a `RecognizerStream` so feeding and finishing run in the decode thread pool.

    Calls are serialised per stream (one lock), so audio is decoded in order.
    """

    def __init__(self, stream: RecognizerStream) -> None:
        self._stream = stream
        self._lock = asyncio.Lock()

    async def accept(self, pcm: bytes) -> None:
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(
                decode_executor(), self._stream.accept, pcm
            )

    async def partial(self) -> str:
        async with self._lock:
            return self._stream.partial()

    async def finish(self) -> Recognition:
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(
                decode_executor(), self._stream.finish
            )
