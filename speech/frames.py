"""Fixed-size frame chunking of PCM16 or mu-law byte streams."""

from __future__ import annotations

from collections.abc import Iterator


def frame_bytes(sample_rate: int, frame_ms: int, bytes_per_sample: int = 2) -> int:
    """Number of bytes in one frame of `frame_ms` milliseconds."""
    if sample_rate <= 0 or frame_ms <= 0 or bytes_per_sample <= 0:
        raise ValueError(
            f"sample rate, frame length and sample width must be positive, got "
            f"{sample_rate} Hz, {frame_ms} ms, {bytes_per_sample} bytes"
        )
    samples = sample_rate * frame_ms // 1000
    if samples * 1000 != sample_rate * frame_ms:
        raise ValueError(f"{frame_ms} ms is not a whole number of samples at {sample_rate} Hz")
    return samples * bytes_per_sample


def chunk(data: bytes, size: int, pad: bool = False, pad_byte: bytes = b"\x00") -> Iterator[bytes]:
    """Split `data` into `size`-byte frames. The last partial frame is dropped unless `pad`,
    in which case it is filled with `pad_byte` (the default zero byte is silence for PCM16;
    pass `b"\\xff"` for mu-law silence)."""
    if size <= 0:
        raise ValueError("frame size must be positive")
    if len(pad_byte) != 1:
        raise ValueError("pad_byte must be exactly one byte")
    return _chunks(bytes(data), size, pad, pad_byte)  # validated now, not on first next()


def _chunks(data: bytes, size: int, pad: bool, pad_byte: bytes) -> Iterator[bytes]:
    n = len(data) // size
    for i in range(n):
        yield data[i * size : (i + 1) * size]
    rest = len(data) - n * size
    if pad and rest:
        yield data[n * size :] + pad_byte * (size - rest)


class FrameBuffer:
    """Accumulates arbitrary-size chunks and releases whole frames of `size` bytes."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("frame size must be positive")
        self.size = size
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        """Add data; return every complete frame now available."""
        self._buf.extend(data)
        n = len(self._buf) // self.size
        frames = [bytes(self._buf[i * self.size : (i + 1) * self.size]) for i in range(n)]
        del self._buf[: n * self.size]
        return frames

    def pending(self) -> int:
        """Bytes waiting for a frame to complete."""
        return len(self._buf)
