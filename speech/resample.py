"""Sample-rate conversion with soxr (high quality), on PCM16 bytes or float arrays."""

from __future__ import annotations

import numpy as np
import soxr

SUPPORTED_RATES = (8000, 16000, 22050, 44100, 48000)


def resample_array(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a mono array; int16 in gives int16 out (clipped), float in gives float out."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate or samples.size == 0:
        return samples.copy()
    if samples.dtype == np.int16:
        y = soxr.resample(samples.astype(np.float32) / 32768.0, from_rate, to_rate, quality="HQ")
        return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    return soxr.resample(samples, from_rate, to_rate, quality="HQ")


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16 little-endian mono bytes."""
    if from_rate == to_rate:
        return pcm
    x = np.frombuffer(pcm, dtype="<i2")
    return resample_array(x, from_rate, to_rate).astype("<i2").tobytes()


class StreamResampler:
    """Chunk-by-chunk resampling for live audio (keeps filter state between chunks)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._rs = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Resample the next chunk; pass `last=True` on the final chunk to flush the filter."""
        if self._rs is None:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2")
        return self._rs.resample_chunk(x, last=last).astype("<i2").tobytes()
