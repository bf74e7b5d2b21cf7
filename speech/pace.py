"""The caller's own speaking rate, in words per minute, measured utterance by utterance.

Each utterance contributes `words / speech_s * 60`, where `speech_s` is the talking time the
endpointer reports (`UtteranceEnded.speech_s`: speech span minus pauses of 0.25 s or more), so
the figure is an articulation rate comparable to a TTS words-per-minute setting. Utterances too
short to measure (few words, little speech) and implausible rates are ignored; the estimate is the
median of the most recent measurements, so one hurried or halting answer does not swing it.
Turning it into a reply rate (within 120-170 wpm) is `speech.tts.rate.reply_rate_for`'s job.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RateSample:
    """One utterance's measurement."""

    words: int
    speech_s: float
    wpm: float


class SpeakingRate:
    """Tracks one caller's speaking rate across the utterances of a call (or of a profile)."""

    def __init__(
        self,
        *,
        window: int = 5,
        min_words: int = 3,
        min_speech_s: float = 1.0,
        min_wpm: float = 40.0,
        max_wpm: float = 400.0,
    ) -> None:
        """`window`: how many recent measurements the median is taken over. Utterances with
        fewer than `min_words` words or under `min_speech_s` of speech, or whose rate falls
        outside `min_wpm`..`max_wpm` (a recognizer or endpointing glitch), are ignored."""
        if window < 1 or min_words < 1 or min_speech_s <= 0 or not 0 < min_wpm < max_wpm:
            raise ValueError(
                "SpeakingRate needs window >= 1, min_words >= 1, min_speech_s > 0 "
                "and 0 < min_wpm < max_wpm"
            )
        self.min_words = min_words
        self.min_speech_s = min_speech_s
        self.min_wpm = min_wpm
        self.max_wpm = max_wpm
        self._samples: deque[RateSample] = deque(maxlen=window)

    def add(self, words: int, speech_s: float) -> float | None:
        """Record one utterance (`words` recognised, `speech_s` seconds of talking).
        Returns its words-per-minute if it was used, else None."""
        if words < 0 or speech_s < 0:
            raise ValueError(f"words and speech_s must not be negative, got {words}, {speech_s}")
        if words < self.min_words or speech_s < self.min_speech_s:
            return None
        wpm = words / speech_s * 60.0
        if not self.min_wpm <= wpm <= self.max_wpm:
            return None
        self._samples.append(RateSample(words, speech_s, wpm))
        return wpm

    @property
    def caller_wpm(self) -> float | None:
        """The caller's speaking rate (median of recent usable utterances), None until one."""
        if not self._samples:
            return None
        return float(statistics.median(s.wpm for s in self._samples))

    @property
    def samples(self) -> list[RateSample]:
        """The measurements currently in the window, oldest first."""
        return list(self._samples)
