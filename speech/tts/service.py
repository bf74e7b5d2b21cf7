"""`TextToSpeech`: render prompts once, through the disk cache, for the web and the phone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from speech.tts.cache import AudioCache, CacheStats, cache_key
from speech.tts.engine import engine_version
from speech.tts.render import resolve_settings, synthesize
from speech.tts.telephone import to_mulaw
from speech.tts.voice import VoiceSettings
from speech.wav import Audio, AudioFormatError, read_wav, wav_bytes

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FORMAT_WEB = "wav-22050"
FORMAT_TELEPHONE = "mulaw-8000"

Synthesizer = Callable[[str, VoiceSettings], Audio]


class TextToSpeech:
    """Slow, clear prompts from a bounded disk cache; the engine runs only on a miss.

    `synthesizer` is the function called on a miss (default: `speech.tts.render.synthesize`,
    the real pyttsx3/espeak-ng worker); it receives settings whose voice is already resolved.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        default_settings: VoiceSettings | None = None,
        synthesizer: Synthesizer | None = None,
    ) -> None:
        self.cache = AudioCache(cache_dir, max_bytes)
        self.default_settings = default_settings or VoiceSettings()
        self._synthesize = synthesizer or synthesize

    @property
    def stats(self) -> CacheStats:
        """Cache hits, misses (engine renders), corrupt entries, evictions, writes."""
        return self.cache.stats

    def key_for(
        self, text: str, settings: VoiceSettings | None = None, fmt: str = FORMAT_WEB
    ) -> str:
        """The cache key of `text` spoken with `settings` in `fmt` (validates the voice)."""
        resolved = resolve_settings(settings or self.default_settings)
        return cache_key(text, asdict(resolved), engine_version(), fmt)

    def _cached(
        self, key: str, make: Callable[[], bytes], check: Callable[[bytes], object]
    ) -> bytes:
        payload = self._valid(key, check)
        if payload is not None:
            return payload
        with self.cache.lock(key):
            payload = self._valid(key, check)  # another thread or process may have made it
            if payload is not None:
                return payload
            payload = make()
            self.cache.put(key, payload)
            return payload

    def _valid(self, key: str, check: Callable[[bytes], object]) -> bytes | None:
        payload = self.cache.get(key)
        if payload is None:
            return None
        try:
            check(payload)
        except AudioFormatError:  # intact file, unusable content (e.g. written by a bad build)
            self.cache.record_corrupt()
            self.cache.path_for(key).unlink(missing_ok=True)
            return None
        return payload

    def render(self, text: str, settings: VoiceSettings | None = None) -> Audio:
        """`text` as 22.05 kHz mono PCM16 audio (from the cache, or rendered once and stored)."""
        resolved = resolve_settings(settings or self.default_settings)
        key = cache_key(text, asdict(resolved), engine_version(), FORMAT_WEB)

        def make() -> bytes:
            self.cache.record_miss()
            return wav_bytes(self._synthesize(text, resolved))

        return read_wav(self._cached(key, make, read_wav))

    def render_wav(self, text: str, settings: VoiceSettings | None = None) -> bytes:
        """`text` as a 22.05 kHz WAV file in memory (for the web)."""
        return wav_bytes(self.render(text, settings))

    def render_telephone(self, text: str, settings: VoiceSettings | None = None) -> bytes:
        """`text` as 8 kHz G.711 mu-law bytes (cut with `telephone.mulaw_frames` for Twilio)."""
        resolved = resolve_settings(settings or self.default_settings)
        key = cache_key(text, asdict(resolved), engine_version(), FORMAT_TELEPHONE)
        payload = self._valid(key, _check_mulaw)
        if payload is not None:
            return payload
        # render (which takes its own lock) before locking this key: two keys can share a lock
        audio = self.render(text, resolved)
        return self._cached(key, lambda: to_mulaw(audio), _check_mulaw)

    async def render_async(self, text: str, settings: VoiceSettings | None = None) -> Audio:
        """`render` without blocking the event loop."""
        return await asyncio.to_thread(self.render, text, settings)

    async def render_telephone_async(
        self, text: str, settings: VoiceSettings | None = None
    ) -> bytes:
        """`render_telephone` without blocking the event loop."""
        return await asyncio.to_thread(self.render_telephone, text, settings)


def _check_mulaw(payload: bytes) -> None:
    if not payload:
        raise AudioFormatError("empty mu-law entry")
