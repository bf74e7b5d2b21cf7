"""Recognition started early: during the trailing silence, on the audio the answer will hold.

An older caller's answer is only declared over after 1.2 s of silence (longer for callers who
pause a lot), so that they are not cut off. Once the caller has been silent for the endpointer's
post-roll (0.3 s), the audio the answer will hold if no more speech comes is known byte for byte
(`Endpointer.settled_audio`). Decoding starts on it then; when the answer is declared over with
exactly that audio, for the same question and recognizer, the result is already there (or
nearly), so the decoding time no longer adds to the wait for a reply. If the caller speaks
again, the early result is simply not used. At most one early decode runs per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Job(Generic[T]):
    question: object
    engine: object
    audio: bytes
    task: asyncio.Task[T]


class EarlyRecognition(Generic[T]):
    """One call's early decode (see the module). `question` and `engine` are compared by
    identity: an early result is only used for the same question and recognizer."""

    def __init__(self) -> None:
        self._job: _Job[T] | None = None
        self.started = 0
        self.used = 0

    def offer(
        self,
        question: object,
        engine: object,
        audio: bytes,
        decode: Callable[[bytes], Awaitable[T]],
    ) -> bool:
        """Start decoding `audio` unless that is already done or another early decode is still
        running. Returns True when a decode was started."""
        job = self._job
        if job is not None:
            if not job.task.done():
                return False
            if job.question is question and job.engine is engine and job.audio == audio:
                return False
        task = asyncio.ensure_future(decode(audio))
        task.add_done_callback(_quiet)
        self._job = _Job(question, engine, audio, task)
        self.started += 1
        return True

    def take(self, question: object, engine: object, audio: bytes) -> asyncio.Task[T] | None:
        """The early decode of exactly this answer, if there is one (it is handed over once)."""
        job, self._job = self._job, None
        if job is None or job.question is not question or job.engine is not engine:
            return None
        if job.audio != audio:
            return None
        self.used += 1
        return job.task

    def drop(self) -> None:
        """Forget any early decode (its result, if it still comes, is not used)."""
        self._job = None


def _quiet(task: asyncio.Task) -> None:
    # an early decode nobody takes must not log "exception was never retrieved"
    if not task.cancelled():
        task.exception()
