"""G.711 mu-law encoding and decoding (ITU-T G.711, bit-exact), vectorised with numpy.

The decoder is a 256-entry table; the encoder is the ITU reference algorithm (14-bit magnitudes,
bias 33, segment search, bit inversion), vectorised.
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84  # 132: the decoder bias on 16-bit magnitudes (33 on 14-bit ones)


def _build_decode_table() -> np.ndarray:
    table = np.empty(256, dtype=np.int16)
    for byte in range(256):
        u = ~byte & 0xFF
        sign = u & 0x80
        exponent = (u >> 4) & 0x07
        mantissa = u & 0x0F
        magnitude = ((mantissa << 3) + _BIAS) << exponent
        magnitude -= _BIAS
        table[byte] = -magnitude if sign else magnitude
    return table


_DECODE = _build_decode_table()


_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_CLIP14 = 8159  # largest 14-bit magnitude before the bias


def decode(data: bytes) -> bytes:
    """Decode mu-law bytes to PCM16 little-endian bytes (two bytes per input byte)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _DECODE[codes].astype("<i2").tobytes()


def decode_array(data: bytes) -> np.ndarray:
    """Decode mu-law bytes to an int16 numpy array."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def encode(pcm: bytes) -> bytes:
    """Encode PCM16 little-endian bytes to mu-law (one byte per sample)."""
    if len(pcm) % 2:
        raise ValueError("PCM16 data must have an even number of bytes")
    return encode_array(np.frombuffer(pcm, dtype="<i2"))


def encode_array(samples: np.ndarray) -> bytes:
    """Encode an int16 array to mu-law bytes (the G.711 reference algorithm on 14-bit values)."""
    x = samples.astype(np.int32) >> 2  # 14-bit, arithmetic shift as in the reference coder
    negative = x < 0
    mag = np.minimum(np.where(negative, -x, x), _CLIP14) + 33
    seg = np.searchsorted(_SEG_END, mag, side="left")  # first segment whose end >= mag
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0x0F))
    mask = np.where(negative, 0x7F, 0xFF)
    return ((uval ^ mask) & 0xFF).astype(np.uint8).tobytes()
