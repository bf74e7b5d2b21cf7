"""Start-up warm-up, so the first callers are not the ones who pay for cold caches.

- the dialect packs of the default language (resolved, their recognizers and pronunciations);
- librosa (its first call costs about 1.5 s), when voice cues are on;
- the recognizer: a few decoders created and exercised in parallel (PocketSphinx keeps a pool;
  a new decoder costs far more than a decode);
- the TTS cache: every prompt without placeholders rendered at the service's default voice and
  rate (in the background: calls can start meanwhile).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ivr.session.call import SessionDeps
from speech.asr.registry import recognize
from speech.wav import Audio

log = logging.getLogger(__name__)


def warm_recognizer(deps: SessionDeps, parallel: int = 4) -> None:
    """Decode a short noise clip on `parallel` threads at once (fills the decoder pool)."""
    if deps.engine is None:
        return
    noise = np.random.default_rng(0).normal(0, 30, 8000).astype(np.int16)
    audio = Audio(noise, 8000)
    phrases = sorted(deps.bundle.lexicon.phrases("yes"))[:5] or None

    def one(_: int) -> None:
        recognize(deps.engine, audio, phrases)

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(parallel)))


def static_prompt_texts(deps: SessionDeps) -> list[str]:
    """Prompt texts that need no values filled in (the ones every call hears)."""
    prompts = deps.bundle.prompts
    return [text for key, text in prompts.texts.items() if not prompts.placeholders(key)]


def warm_tts_in_background(deps: SessionDeps) -> threading.Thread:
    """Render the static prompts into the TTS cache on a background thread."""

    def run() -> None:
        texts = static_prompt_texts(deps)
        for text in texts:
            try:
                deps.tts.render_telephone(text, deps.voice)
            except Exception:  # a prompt that cannot render is reported when a call needs it
                log.exception("warm-up: could not render %r", text[:40])
        log.info("warm-up: %d static prompts in the TTS cache", len(texts))

    thread = threading.Thread(target=run, name="tts-warmup", daemon=True)
    thread.start()
    return thread


_WARMED: set[int] = set()


def warm_up(deps: SessionDeps) -> None:
    """Everything above, once per `deps` (several apps may share one set of engines)."""
    if id(deps) in _WARMED:
        return
    _WARMED.add(id(deps))
    if deps.languages is not None:
        default = deps.languages.get(None)
        for dialect in deps.languages.candidates(default.language):
            deps.languages.get(dialect)
    if deps.cue_config is not None:
        from speech.prosody import warm_up as warm_prosody

        warm_prosody()
    warm_recognizer(deps)
    warm_tts_in_background(deps)
