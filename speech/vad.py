"""Frame-level voice activity detection: webrtcvad with an energy floor guard.

webrtcvad (the `webrtcvad-wheels` distribution) classifies 10, 20 or 30 ms frames of PCM16 mono
audio at 8, 16, 32 or 48 kHz. Measured on the Asterisk telephone prompts, it also marks
near-silent frames (-80 to -97 dBFS) as speech for a few frames after each word (its built-in
hangover) and at the very start of a stream, so frames quieter than an absolute energy floor
(default -55 dBFS RMS, far below any speech level on a phone line) are reported as non-speech
whatever webrtcvad says.
"""

from __future__ import annotations

import math

import numpy as np
import webrtcvad

VALID_RATES = (8000, 16000, 32000, 48000)
VALID_FRAME_MS = (10, 20, 30)


class VadError(ValueError):
    """Bad VAD parameters or a frame of the wrong size; the message says what was expected."""


def frame_rms_dbfs(frame: bytes) -> float:
    """RMS level of a PCM16 little-endian frame in dBFS (-inf for digital silence)."""
    x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    if x.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(x * x)))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


class Vad:
    """Speech/non-speech decisions on fixed-size PCM16 frames."""

    def __init__(
        self,
        sample_rate: int = 8000,
        frame_ms: int = 20,
        aggressiveness: int = 2,
        energy_floor_dbfs: float | None = -55.0,
    ) -> None:
        """`aggressiveness` 0 (least) to 3 (most eager to call a frame non-speech);
        `energy_floor_dbfs=None` turns the energy guard off."""
        if sample_rate not in VALID_RATES:
            raise VadError(f"sample rate {sample_rate} Hz not supported; use one of {VALID_RATES}")
        if frame_ms not in VALID_FRAME_MS:
            raise VadError(f"frame length {frame_ms} ms not supported; use one of {VALID_FRAME_MS}")
        if not isinstance(aggressiveness, int) or not 0 <= aggressiveness <= 3:
            raise VadError(f"aggressiveness must be an integer 0..3, got {aggressiveness!r}")
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.aggressiveness = aggressiveness
        self.energy_floor_dbfs = energy_floor_dbfs
        self.frame_samples = sample_rate * frame_ms // 1000
        self.frame_bytes = self.frame_samples * 2
        self._vad = webrtcvad.Vad(aggressiveness)

    @property
    def frame_seconds(self) -> float:
        """Duration of one frame in seconds."""
        return self.frame_ms / 1000.0

    def is_speech(self, frame: bytes) -> bool:
        """True when the frame holds speech. The frame must be exactly `frame_bytes` long."""
        if len(frame) != self.frame_bytes:
            raise VadError(
                f"frame of {len(frame)} bytes; expected {self.frame_bytes} bytes "
                f"({self.frame_ms} ms of PCM16 mono at {self.sample_rate} Hz)"
            )
        if self.energy_floor_dbfs is not None:
            if frame_rms_dbfs(frame) < self.energy_floor_dbfs:
                # keep webrtcvad's adaptive noise model fed with the same audio
                self._vad.is_speech(frame, self.sample_rate)
                return False
        return bool(self._vad.is_speech(frame, self.sample_rate))
