"""G.711 mu-law encoding and decoding (ITU-T G.711, bit-exact), vectorised with numpy.

The decoder is a 256-entry table; the encoder follows the standard's segment/quantisation
rules on 14-bit magnitudes (PCM16 >> 2), with the bias of 33 and bit inversion of the output.
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84  # 132: the bias added to 16-bit magnitudes (33 on 14-bit magnitudes, shifted by 2)
_CLIP = 32635


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


def _build_exponent_table() -> np.ndarray:
    # exponent for (biased magnitude >> 7), values 0..255
    table = np.zeros(256, dtype=np.int32)
    for i in range(256):
        e = 0
        v = i
        while v > 1:
            v >>= 1
            e += 1
        table[i] = e
    return table


_EXP = _build_exponent_table()


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
    """Encode an int16 array to mu-law bytes."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = _EXP[(mag >> 7) & 0xFF]
    mantissa = (mag >> (exponent + 3)) & 0x0F
    out = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return out.astype(np.uint8).tobytes()
