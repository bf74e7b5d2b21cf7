"""Utterance endpointing tuned for older callers: speech started, utterance ended, no input.

Feed PCM16 mono audio in chunks of any size; the endpointer cuts it into VAD frames, classifies
each one (`speech.vad.Vad`) and returns typed events. All times are audio time in seconds since
the first sample fed (counted in samples, never wall clock), so the same audio always gives the
same events whatever the chunk sizes.

Rules (all lengths configurable in `EndpointerConfig`; see docs/endpointing.md for the why):

- Speech starts when at least `start_speech_s` of speech frames fall within the last
  `start_window_s` of audio, so a click or a cough burst does not start an utterance (or barge in).
  `SpeechStarted.t` is the first speech frame of that run.
- An utterance ends after `trailing_silence_s` of silence (default 1.2 s). Silences of at least
  `min_pause_s` inside an utterance are its pauses. Once silence has lasted `min_pause_s`, speech
  resumes only on the same confirmed-run rule as the start, so an isolated click does not hold an
  utterance open; the end is delayed (by at most `start_window_s`) while such a run is pending.
- Adaptive trailing silence: pauses from every utterance of the call are pooled (the last
  `adapt_window` of them); with at least `adapt_min_pauses`, the trailing silence becomes
  ``clamp(adapt_factor * p90(pauses), trailing_silence_s, max_trailing_silence_s)``, i.e. it
  never drops below the configured value and never exceeds the bound. It is recomputed after
  each utterance, so it also relaxes back when the caller's pauses get shorter.
- The utterance's audio begins `pre_roll_s` before the detected start (never overlapping the
  previous utterance) and ends `post_roll_s` after the last speech frame.
- An utterance is cut at `max_utterance_s` (reason "max_length"); speech that goes on starts the
  next utterance exactly where the cut fell, so no audio is lost or duplicated.
- `NoInput` fires once when no speech has started within `no_input_timeout_s` of the listening
  start (construction or `start_listening()`); it is re-armed only by `start_listening()`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from speech.frames import FrameBuffer
from speech.vad import Vad

EndReason = Literal["silence", "max_length", "flush"]


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at `t` (seconds); it was confirmed at `detected_at` (use this for barge-in)."""

    t: float
    detected_at: float


@dataclass(frozen=True)
class UtteranceEnded:
    """One utterance. `audio` (PCM16 mono at `sample_rate`) spans `start_s`..`end_s`, which
    includes the pre-roll before `speech_start_s` and the post-roll after `speech_end_s`.
    `speech_s` is the talking time: speech_end - speech_start minus the `pauses` (seconds)."""

    audio: bytes
    sample_rate: int
    start_s: float
    end_s: float
    speech_start_s: float
    speech_end_s: float
    speech_s: float
    pauses: list[float]
    reason: EndReason
    trailing_silence_s: float

    @property
    def duration(self) -> float:
        """Length of `audio` in seconds."""
        return len(self.audio) / 2 / self.sample_rate


@dataclass(frozen=True)
class NoInput:
    """No speech started within `waited_s` seconds of listening; fired at `t`."""

    t: float
    waited_s: float


Event = SpeechStarted | UtteranceEnded | NoInput


@dataclass
class EndpointerConfig:
    """Endpointing parameters; the defaults suit older callers (see docs/endpointing.md)."""

    sample_rate: int = 8000
    frame_ms: int = 20
    aggressiveness: int = 2
    energy_floor_dbfs: float | None = -55.0
    trailing_silence_s: float = 1.2
    max_trailing_silence_s: float = 2.0
    adaptive: bool = True
    adapt_factor: float = 1.5
    adapt_percentile: float = 90.0
    adapt_min_pauses: int = 3
    adapt_window: int = 30
    min_pause_s: float = 0.25
    no_input_timeout_s: float = 8.0
    max_utterance_s: float = 30.0
    start_speech_s: float = 0.15
    start_window_s: float = 0.25
    pre_roll_s: float = 0.3
    post_roll_s: float = 0.3

    def __post_init__(self) -> None:
        positive = (
            "trailing_silence_s",
            "no_input_timeout_s",
            "max_utterance_s",
            "start_speech_s",
            "start_window_s",
            "min_pause_s",
            "adapt_factor",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("pre_roll_s", "post_roll_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.max_trailing_silence_s < self.trailing_silence_s:
            raise ValueError(
                f"max_trailing_silence_s ({self.max_trailing_silence_s}) is below "
                f"trailing_silence_s ({self.trailing_silence_s})"
            )
        if self.start_speech_s > self.start_window_s:
            raise ValueError("start_speech_s must not exceed start_window_s")
        if not 0 < self.adapt_percentile <= 100:
            raise ValueError(f"adapt_percentile must be in (0, 100], got {self.adapt_percentile}")
        if self.adapt_min_pauses < 1 or self.adapt_window < self.adapt_min_pauses:
            raise ValueError("need 1 <= adapt_min_pauses <= adapt_window")


def adaptive_trailing_silence(pauses: list[float], config: EndpointerConfig) -> float:
    """The trailing silence for a caller whose recent intra-utterance pauses are `pauses`:
    clamp(adapt_factor * percentile(pauses), trailing_silence_s, max_trailing_silence_s), or the
    configured base while fewer than `adapt_min_pauses` pauses have been seen."""
    base = config.trailing_silence_s
    if not config.adaptive or len(pauses) < config.adapt_min_pauses:
        return base
    p = float(np.percentile(np.asarray(pauses, dtype=np.float64), config.adapt_percentile))
    return min(max(base, config.adapt_factor * p), config.max_trailing_silence_s)


class Endpointer:
    """Turns a stream of PCM16 chunks into SpeechStarted / UtteranceEnded / NoInput events.

    One instance per call: the adaptive trailing silence persists across its utterances.
    """

    def __init__(self, config: EndpointerConfig | None = None) -> None:
        self.config = cfg = config or EndpointerConfig()
        self._vad = Vad(cfg.sample_rate, cfg.frame_ms, cfg.aggressiveness, cfg.energy_floor_dbfs)
        self._fs = cfg.frame_ms / 1000.0
        self._buffer = FrameBuffer(self._vad.frame_bytes)
        self._win_frames = max(1, round(cfg.start_window_s / self._fs))
        self._start_frames = min(self._win_frames, max(1, math.ceil(cfg.start_speech_s / self._fs)))
        self._pause_frames = max(1, round(cfg.min_pause_s / self._fs))
        self._pre_frames = round(cfg.pre_roll_s / self._fs)
        self._post_frames = round(cfg.post_roll_s / self._fs)
        self._max_frames = max(1, round(cfg.max_utterance_s / self._fs))
        self._no_input_frames = max(1, round(cfg.no_input_timeout_s / self._fs))
        self._window: deque[tuple[int, bool]] = deque(maxlen=self._win_frames)
        self._ring: deque[tuple[int, bytes]] = deque(maxlen=self._pre_frames + self._win_frames)
        self._recent_pauses: deque[float] = deque(maxlen=cfg.adapt_window)
        self._trailing_s = cfg.trailing_silence_s
        self._trailing_frames = self._frames(self._trailing_s)
        self._n = 0  # frames processed
        self._floor = 0  # frames before this index belong to an earlier utterance
        self._listen_start = 0
        self._armed = True
        self._in_utt = False
        self._onset = 0
        self._audio_start = 0
        self._last_speech_end = 0
        self._pauses: list[int] = []
        self._audio = bytearray()
        self._settled: tuple[tuple[int, int], tuple[float, bytes]] | None = None

    # ------------------------------------------------------------------ public

    @property
    def sample_rate(self) -> int:
        """Sample rate of the PCM fed in."""
        return self.config.sample_rate

    @property
    def trailing_silence_s(self) -> float:
        """The trailing silence currently in force (adapted to this caller's pauses)."""
        return self._trailing_s

    @property
    def observed_pauses(self) -> list[float]:
        """The recent intra-utterance pauses (seconds) the adaptation is computed from."""
        return list(self._recent_pauses)

    @property
    def time_s(self) -> float:
        """Audio time processed so far (whole frames), in seconds."""
        return self._n * self._fs

    @property
    def in_utterance(self) -> bool:
        """True between a SpeechStarted and its UtteranceEnded."""
        return self._in_utt

    def start_listening(self) -> None:
        """(Re)start the no-input timer from the current audio time. An utterance in progress
        carries on; the timer then stays disarmed since speech has already started."""
        self._listen_start = self._n
        self._armed = not self._in_utt

    def feed(self, pcm: bytes) -> list[Event]:
        """Process a chunk of PCM16 little-endian mono audio of any size; return new events."""
        if not isinstance(pcm, bytes | bytearray | memoryview):
            raise TypeError(f"feed() takes PCM16 bytes, got {type(pcm).__name__}")
        events: list[Event] = []
        for frame in self._buffer.push(bytes(pcm)):
            self._process(frame, events)
        return events

    def flush(self) -> list[Event]:
        """End the utterance in progress now (reason "flush"), e.g. when the call ends.
        Less than one frame of audio still waiting in the frame buffer stays there."""
        if not self._in_utt:
            return []
        return [self._end("flush", min(self._last_speech_end + self._post_frames, self._n))]

    def settled_audio(self) -> tuple[float, bytes] | None:
        """While an utterance is in progress and the caller has been silent for at least the
        post-roll: (the utterance's speech end, seconds; the audio it will hold if no more
        speech comes), byte for byte what its `UtteranceEnded` will carry then. Recognition can
        start on it during the rest of the trailing silence and be used if the utterance ends
        with the same audio. None otherwise."""
        if not self._in_utt or self._n - self._last_speech_end < self._post_frames:
            return None
        key = (self._audio_start, self._last_speech_end)
        if self._settled is None or self._settled[0] != key:  # copied once per pause
            end = self._last_speech_end + self._post_frames
            audio = bytes(self._audio[: (end - self._audio_start) * self._vad.frame_bytes])
            self._settled = (key, (self._t(self._last_speech_end), audio))
        return self._settled[1]

    # ------------------------------------------------------------------ internals

    def _frames(self, seconds: float) -> int:
        return max(1, round(seconds / self._fs))

    def _t(self, frames: int) -> float:
        return round(frames * self._fs, 6)

    def _run_since(self, start: int) -> tuple[int, int | None, int | None]:
        """Speech frames in the window at index >= start: count, first and last index."""
        count, first, last = 0, None, None
        for idx, speech in self._window:
            if speech and idx >= start:
                count += 1
                first = idx if first is None else first
                last = idx
        return count, first, last

    def _process(self, frame: bytes, events: list[Event]) -> None:
        i = self._n
        speech = self._vad.is_speech(frame)
        self._n = i + 1
        self._window.append((i, speech))
        self._ring.append((i, frame))
        if self._in_utt:
            self._audio.extend(frame)
            self._continue_utterance(i, speech, events)
        else:
            self._idle(i, events)

    def _idle(self, i: int, events: list[Event]) -> None:
        count, first, last = self._run_since(self._floor)
        if count >= self._start_frames and first is not None and last is not None:
            self._in_utt = True
            self._armed = False
            self._onset = first
            start = max(first - self._pre_frames, self._floor, self._ring[0][0])
            self._audio_start = start
            self._audio = bytearray(b"".join(f for idx, f in self._ring if idx >= start))
            self._last_speech_end = last + 1
            self._pauses = []
            events.append(SpeechStarted(t=self._t(first), detected_at=self._t(self._n)))
            return
        deadline = self._listen_start + self._no_input_frames
        if self._armed and self._n >= deadline:
            # a speech run that began before the deadline and is still being confirmed wins
            if first is None or first >= deadline:
                self._armed = False
                waited = self._t(self._n - self._listen_start)
                events.append(NoInput(t=self._t(self._n), waited_s=waited))

    def _continue_utterance(self, i: int, speech: bool, events: list[Event]) -> None:
        gap = i - self._last_speech_end  # silent frames just before this one
        if speech and gap < self._pause_frames:
            self._last_speech_end = i + 1
        else:
            # after a pause, speech must resume with a confirmed run (not a lone click)
            count, first, _ = self._run_since(self._last_speech_end)
            if first is not None and count >= self._start_frames:
                pause = first - self._last_speech_end
                if pause >= self._pause_frames:
                    self._pauses.append(pause)
                self._last_speech_end = i + 1
            else:
                silent = self._n - self._last_speech_end
                limit = self._last_speech_end + self._trailing_frames
                if silent >= self._trailing_frames and (first is None or first >= limit):
                    end = min(self._last_speech_end + self._post_frames, self._n)
                    events.append(self._end("silence", end))
                    return
        if self._n - self._onset >= self._max_frames:
            events.append(self._end("max_length", self._n))

    def _end(self, reason: EndReason, end: int) -> UtteranceEnded:
        fb = self._vad.frame_bytes
        audio = bytes(self._audio[: (end - self._audio_start) * fb])
        pauses = [self._t(p) for p in self._pauses]
        speech_frames = self._last_speech_end - self._onset - sum(self._pauses)
        event = UtteranceEnded(
            audio=audio,
            sample_rate=self.config.sample_rate,
            start_s=self._t(self._audio_start),
            end_s=self._t(end),
            speech_start_s=self._t(self._onset),
            speech_end_s=self._t(self._last_speech_end),
            speech_s=self._t(speech_frames),
            pauses=pauses,
            reason=reason,
            trailing_silence_s=self._trailing_s,
        )
        self._in_utt = False
        self._floor = end
        self._audio = bytearray()
        self._recent_pauses.extend(pauses)
        self._trailing_s = adaptive_trailing_silence(list(self._recent_pauses), self.config)
        self._trailing_frames = self._frames(self._trailing_s)
        return event
