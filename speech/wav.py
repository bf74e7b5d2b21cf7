"""WAV reading with validation, and writing.

`read_wav` accepts 16-bit PCM (and 8-bit unsigned, 24/32-bit PCM, mu-law) WAV files, mixes
stereo down to mono, and optionally resamples to a required rate. Anything else raises
`AudioFormatError` with a message saying what was wrong.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech import mulaw
from speech.resample import resample_array

MAX_WAV_BYTES = 200 * 1024 * 1024

_FMT_PCM = 1
_FMT_MULAW = 7
_FMT_EXTENSIBLE = 0xFFFE


class AudioFormatError(ValueError):
    """The audio is not something we can use; the message says why."""


@dataclass
class Audio:
    """Mono PCM16 audio."""

    samples: np.ndarray  # int16
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def pcm(self) -> bytes:
        """PCM16 little-endian bytes."""
        return self.samples.astype("<i2").tobytes()

    def resampled(self, rate: int) -> Audio:
        if rate == self.sample_rate:
            return self
        return Audio(resample_array(self.samples, self.sample_rate, rate), rate)

    @classmethod
    def from_pcm(cls, pcm: bytes, sample_rate: int) -> Audio:
        return cls(np.frombuffer(pcm, dtype="<i2").copy(), sample_rate)


def _parse(data: bytes, source: str) -> Audio:
    if len(data) == 0:
        raise AudioFormatError(f"{source}: empty file")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{source}: not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt = None
    pcm_data = None
    declared_data_len = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioFormatError(f"{source}: truncated fmt chunk")
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == _FMT_EXTENSIBLE and len(body) >= 26:
                sub = struct.unpack("<H", body[24:26])[0]
                fmt = (sub,) + fmt[1:]
        elif cid == b"data":
            declared_data_len = size
            pcm_data = body
            (riff_size,) = struct.unpack("<I", data[4:8])
            riff_unset = riff_size in (0, 0xFFFFFFFF) or 8 + riff_size <= pos + 8
            # streamed writers leave the sizes unset; a real empty data chunk may be followed
            # by other chunks (LIST...), which must not be read as audio
            if size == 0xFFFFFFFF or (size == 0 and riff_unset):
                pcm_data = data[pos + 8 :]
                declared_data_len = len(pcm_data)
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioFormatError(f"{source}: no fmt chunk (truncated or not a WAV file)")
    if pcm_data is None:
        raise AudioFormatError(f"{source}: no data chunk (truncated file)")
    tag, channels, rate, _byte_rate, block_align, bits = fmt
    if channels < 1 or rate <= 0:
        raise AudioFormatError(f"{source}: invalid header ({channels} channels, {rate} Hz)")
    if declared_data_len is not None and len(pcm_data) < declared_data_len:
        raise AudioFormatError(
            f"{source}: truncated: header says {declared_data_len} bytes of audio, "
            f"file holds {len(pcm_data)}"
        )
    if tag == _FMT_PCM and bits == 16:
        n = len(pcm_data) // 2 // channels * channels
        x = np.frombuffer(pcm_data[: n * 2], dtype="<i2").astype(np.int32)
    elif tag == _FMT_PCM and bits == 8:
        x = (np.frombuffer(pcm_data, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif tag == _FMT_PCM and bits in (24, 32):
        width = bits // 8
        n = len(pcm_data) // width
        raw = np.frombuffer(pcm_data[: n * width], dtype=np.uint8).reshape(n, width)
        x = raw[:, -2].astype(np.int32) | (raw[:, -1].astype(np.int8).astype(np.int32) << 8)
    elif tag == _FMT_MULAW and bits == 8:
        x = mulaw.decode_array(pcm_data).astype(np.int32)
    else:
        raise AudioFormatError(
            f"{source}: unsupported encoding (format tag {tag}, {bits} bits); "
            "use 16-bit PCM or G.711 mu-law"
        )
    if len(x) < channels:
        raise AudioFormatError(f"{source}: no audio samples")
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return Audio(np.clip(x, -32768, 32767).astype(np.int16), rate)


def read_wav(
    path_or_bytes: str | Path | bytes,
    *,
    rate: int | None = None,
    resample: bool = True,
    max_bytes: int = MAX_WAV_BYTES,
) -> Audio:
    """Read and validate a WAV file (path or bytes) as mono PCM16.

    With `rate`, the audio is resampled to it, or, when `resample` is False, a different rate is
    an error ("wrong-rate file").
    """
    if isinstance(path_or_bytes, bytes | bytearray):
        data, source = bytes(path_or_bytes), "<bytes>"
    else:
        p = Path(path_or_bytes)
        if not p.is_file():
            raise AudioFormatError(f"{p}: no such file")
        if p.stat().st_size > max_bytes:
            raise AudioFormatError(f"{p}: larger than {max_bytes} bytes")
        data, source = p.read_bytes(), str(p)
    if len(data) > max_bytes:
        raise AudioFormatError(f"{source}: larger than {max_bytes} bytes")
    audio = _parse(data, source)
    if rate is not None and audio.sample_rate != rate:
        if not resample:
            raise AudioFormatError(
                f"{source}: sample rate {audio.sample_rate} Hz, expected {rate} Hz"
            )
        audio = audio.resampled(rate)
    return audio


def wav_bytes(audio: Audio) -> bytes:
    """Encode mono PCM16 audio as a WAV file in memory."""
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes(audio.pcm)
    return buf.getvalue()


def write_wav(path: str | Path, audio: Audio) -> None:
    """Write mono PCM16 audio to a WAV file."""
    Path(path).write_bytes(wav_bytes(audio))
