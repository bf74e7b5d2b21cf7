"""Telephone output: 8 kHz G.711 mu-law, as Twilio media streams carry it, in 20 ms frames."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from speech import mulaw
from speech.wav import Audio

TELEPHONE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = TELEPHONE_RATE * FRAME_MS // 1000  # 160 mu-law bytes per 20 ms frame
MULAW_SILENCE = b"\xff"  # mu-law code for 0 (0x00 would be a full-scale click)


def to_mulaw(audio: Audio) -> bytes:
    """Resample to 8 kHz (soxr, which also low-passes below 4 kHz) and encode G.711 mu-law."""
    return mulaw.encode(audio.resampled(TELEPHONE_RATE).pcm)


def mulaw_frames(data: bytes, frame_bytes: int = FRAME_BYTES, pad: bool = True) -> Iterator[bytes]:
    """Split mu-law bytes into frames of `frame_bytes` (160 = 20 ms at 8 kHz). The last partial
    frame is padded with mu-law silence (or dropped when `pad` is False)."""
    if frame_bytes <= 0:
        raise ValueError("frame size must be positive")
    whole = len(data) // frame_bytes * frame_bytes
    for i in range(0, whole, frame_bytes):
        yield data[i : i + frame_bytes]
    if pad and whole < len(data):
        rest = data[whole:]
        yield rest + MULAW_SILENCE * (frame_bytes - len(rest))


def mulaw_wav_bytes(data: bytes, sample_rate: int = TELEPHONE_RATE) -> bytes:
    """Wrap mu-law bytes in a WAV file (format tag 7, 8 bits, mono, with a `fact` chunk)."""
    fmt = struct.pack("<HHIIHHH", 7, 1, sample_rate, sample_rate, 1, 8, 0)
    fact = struct.pack("<I", len(data))
    pad = b"\x00" if len(data) % 2 else b""
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(data))
        + data
        + pad
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body
