"""A bounded disk cache for rendered prompts, safe for several threads and processes.

- Keys are SHA-256 hex digests (`cache_key`) of everything that changes the audio: the text, the
  resolved voice, rate, pitch, volume, pauses, the engine version (pyttsx3, espeak-ng, our render
  version) and the output format.
- Each entry is one file `<dir>/<key[:2]>/<key>.tts`: an 8-byte magic, the SHA-256 of the
  payload, then the payload. A file that fails that check (truncated, overwritten, foreign) is
  deleted and reported as a miss, so the prompt is rendered again.
- Writes go to a temporary file in the same directory, then `os.replace`: readers see the old
  entry or the complete new one, never half of one.
- `lock(key)` is an advisory `flock` on one of 256 lock files, so threads and processes that
  miss the same key at the same time render it once (the others wait, then find it).
- The cache is bounded: when the bytes on disk exceed `max_bytes`, the least recently used
  entries (by modification time, which a hit refreshes) are deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC = b"IVRTTS1\n"
_HEADER = len(MAGIC) + 32
_SUFFIX = ".tts"
_STALE_TMP_S = 3600.0


@dataclass
class CacheStats:
    """Counters since this cache object was made (per process)."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    evictions: int = 0
    writes: int = 0


def cache_key(text: str, params: dict[str, object], engine_version: str, fmt: str) -> str:
    """SHA-256 hex digest of the text, the voice parameters, the engine version and the format."""
    blob = json.dumps(
        {"text": text, "params": params, "engine": engine_version, "format": fmt},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AudioCache:
    """Payload bytes on disk by key, bounded to `max_bytes`."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self.stats = CacheStats()
        self._stats_lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / ".locks").mkdir(exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot use {self.directory} as the TTS cache: {exc}") from exc
        self._approx_bytes = self.size_bytes()

    # -- paths ------------------------------------------------------------------------

    def _check_key(self, key: str) -> None:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are SHA-256 hex digests, got {key!r}")

    def path_for(self, key: str) -> Path:
        """Where the entry for `key` lives."""
        self._check_key(key)
        return self.directory / key[:2] / f"{key}{_SUFFIX}"

    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    # -- reading and writing ----------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The payload for `key`, or None when absent or corrupt (a corrupt file is removed).
        A hit counts in `stats.hits` and marks the entry as recently used."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        payload = data[_HEADER:]
        if (
            len(data) < _HEADER
            or data[: len(MAGIC)] != MAGIC
            or hashlib.sha256(payload).digest() != data[len(MAGIC) : _HEADER]
        ):
            self._count("corrupt")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: LRU eviction goes by modification time
        self._count("hits")
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store `payload` under `key` atomically, then evict old entries beyond `max_bytes`.
        A payload larger than the whole cache is not stored."""
        path = self.path_for(key)
        size = len(payload) + _HEADER
        if size > self.max_bytes:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._count("writes")
        with self._stats_lock:
            self._approx_bytes += size
            over = self._approx_bytes > self.max_bytes
        if over:
            self.evict(keep=path)

    def record_miss(self) -> None:
        """Count a render that had to call the engine."""
        self._count("misses")

    def record_corrupt(self) -> None:
        """Count an entry found unusable by the caller's own check."""
        self._count("corrupt")

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock for `key` (shared by threads and processes on this host).
        Keys share 256 lock files: never take a second key's lock while holding one."""
        self._check_key(key)
        lock_path = self.directory / ".locks" / f"{key[:2]}.lock"
        with open(lock_path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- size and eviction ------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        now = time.time()
        for sub in self.directory.iterdir():
            if not sub.is_dir() or sub.name == ".locks":
                continue
            for p in sub.iterdir():
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                if p.name.startswith(".tmp-"):
                    if now - st.st_mtime > _STALE_TMP_S:  # left by a writer that died
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
                    continue
                if p.suffix == _SUFFIX:
                    out.append((st.st_mtime, st.st_size, p))
        return out

    def size_bytes(self) -> int:
        """Bytes held by entries on disk now."""
        return sum(size for _, size, _ in self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def evict(self, keep: Path | None = None) -> int:
        """Delete least recently used entries until the cache fits in `max_bytes`; returns how
        many were deleted. `keep` (the entry just written) goes last."""
        entries = sorted(self._entries(), key=lambda e: (e[2] == keep, e[0]))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _mtime, size, p in entries:
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
            total -= size
        self._count("evictions", removed)
        with self._stats_lock:
            self._approx_bytes = total
        return removed

    def clear(self) -> None:
        """Delete every entry."""
        for _, _, p in self._entries():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        with self._stats_lock:
            self._approx_bytes = 0

    def stats_dict(self) -> dict[str, int]:
        """The counters and current size, for logs and `ivr doctor`."""
        with self._stats_lock:
            d = asdict(self.stats)
        d["bytes"] = self.size_bytes()
        return d
