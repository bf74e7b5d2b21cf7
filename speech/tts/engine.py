"""The one synthesis worker: a thread that owns the pyttsx3 engine (espeak-ng driver).

pyttsx3's engine is not thread-safe, and espeak-ng keeps process-global state (one synthesis
callback, one current voice), so every call to the engine in this process goes through ONE
thread, fed by a queue. Callers get a `concurrent.futures.Future`; `run` waits for it, and
`run_async` awaits it without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import gc
import os
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from speech.tts.voice import TTSError, VoiceInfo
from speech.wav import AudioFormatError, read_wav

T = TypeVar("T")

ENGINE_SAMPLE_RATE = 22050  # what pyttsx3's espeak driver writes
RENDER_VERSION = 1  # bump when the way pieces are cut, trimmed or joined changes
DEFAULT_TIMEOUT_S = 120.0
ENGINE_ATTEMPTS = 4
EDGE_THRESHOLD = 100  # |sample| at or below this is the engine's own silence
END_SILENCE_S = 0.02  # a complete run ends with at least this much of it
PIECE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EngineParams:
    """Engine properties for one job (voice is a resolved engine id)."""

    voice_id: str
    rate_wpm: int
    pitch: int
    volume: float


def _quiet(*_args: object, **_kwargs: object) -> None:
    """Replaces `print` in pyttsx3's espeak driver, which prints "Audio saved to ..." on every
    `save_to_file`; a library must not write to our stdout."""


class SynthesisWorker:
    """A daemon thread owning the pyttsx3 engine; jobs are functions of the engine.

    Use `get_worker()` rather than constructing one: there must be one per process.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[[Any], Any], concurrent.futures.Future] | None]
        self._queue = queue.Queue()
        self._tmp = tempfile.TemporaryDirectory(prefix="ivr-tts-")
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._completed = False
        self.engine_runs = 0  # how many times the engine synthesized a piece
        self.jobs = 0
        self.retries = 0  # runs repeated because the engine's output was empty or cut short
        self._thread = threading.Thread(target=self._loop, name="tts-engine", daemon=True)
        self._thread.start()

    # -- worker side --------------------------------------------------------------------

    def _new_engine(self) -> Any:
        try:
            import pyttsx3
            import pyttsx3.drivers.espeak as espeak_driver
        except Exception as exc:  # ImportError, or RuntimeError when libespeak-ng is missing
            raise TTSError(
                f"pyttsx3 with the espeak-ng driver is not usable ({exc}); install the system "
                "package espeak-ng (apt-get install espeak-ng) and the Python package pyttsx3"
            ) from exc
        espeak_driver.print = _quiet  # type: ignore[attr-defined]
        try:
            engine = pyttsx3.init("espeak")
        except Exception as exc:
            raise TTSError(f"could not start espeak-ng through pyttsx3: {exc}") from exc
        engine.connect("finished-utterance", self._on_finished)
        # one throw-away run: a fresh pyttsx3 engine starts "busy" and queues property changes,
        # which its first loop can drop; after one run it applies them at once
        self._run_once(engine, "ok", Path(self._tmp.name) / "warm-up.wav")
        (Path(self._tmp.name) / "warm-up.wav").unlink(missing_ok=True)
        return engine

    def _on_finished(self, name: object = None, completed: bool = True, **_: object) -> None:
        self._completed = bool(completed)
        self._finished.set()

    def _run_once(self, engine: Any, text: str, path: Path) -> bool:
        """`save_to_file` + `runAndWait`, made deterministic. Returns whether the run finished
        (rather than being cancelled).

        pyttsx3's espeak driver returns from `runAndWait` on its own flags while espeak-ng
        synthesizes on its own thread; if espeak-ng is still busy with the previous piece, the
        driver's loop cancels the new one (empty file) or ends early. So: wait until espeak-ng
        is idle first, then wait for the "finished-utterance" notification and for espeak-ng to
        be idle again.
        """
        from pyttsx3.drivers import _espeak

        _espeak.Synchronize()
        self._finished.clear()
        self._completed = False
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        finished = self._finished.wait(PIECE_TIMEOUT_S)
        _espeak.Synchronize()
        return finished and self._completed

    def _loop(self) -> None:
        engine = None
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                if engine is None:
                    engine = self._new_engine()
                result = fn(engine)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)
                engine = None  # a failed run can leave pyttsx3's loop flags set: start afresh
                gc.collect()  # drop the old engine from pyttsx3's weak registry
            else:
                fut.set_result(result)

    # -- caller side --------------------------------------------------------------------

    def submit(self, fn: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        """Queue `fn(engine)` on the worker thread."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self.jobs += 1
        self._queue.put((fn, fut))
        return fut

    def run(self, fn: Callable[[Any], T], timeout: float = DEFAULT_TIMEOUT_S) -> T:
        """Run `fn(engine)` on the worker and wait for its result."""
        try:
            return self.submit(fn).result(timeout=timeout)
        except concurrent.futures.TimeoutError as exc:
            raise TTSError(f"speech synthesis took longer than {timeout:g} s") from exc

    async def run_async(self, fn: Callable[[Any], T], timeout: float = DEFAULT_TIMEOUT_S) -> T:
        """Await `fn(engine)` on the worker without blocking the event loop."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.submit(fn)), timeout)
        except TimeoutError as exc:
            raise TTSError(f"speech synthesis took longer than {timeout:g} s") from exc

    def synthesize_pieces(self, pieces: list[str], params: EngineParams) -> Callable[[Any], Any]:
        """A job that speaks each piece separately and returns one int16 array per piece."""
        tmpdir = Path(self._tmp.name)

        def job(engine: Any) -> list[np.ndarray]:
            engine.setProperty("voice", params.voice_id)
            engine.setProperty("rate", params.rate_wpm)
            engine.setProperty("pitch", params.pitch)
            engine.setProperty("volume", params.volume)
            out = []
            for i, text in enumerate(pieces):
                path = tmpdir / f"piece-{os.getpid()}-{i}.wav"
                out.append(self._speak_piece(engine, text, path, params.voice_id))
            return out

        return job

    def _speak_piece(self, engine: Any, text: str, path: Path, voice_id: str) -> np.ndarray:
        """One `save_to_file` + `runAndWait`, checked and retried.

        Without the waits in `_run_once`, pyttsx3's espeak driver cancelled about one short piece
        in five (empty file) and dropped property changes. As a second line of defence, a run
        that was cancelled, wrote no audio, or whose audio does not end in the engine's
        end-of-sentence silence (cut short) is run again, up to `ENGINE_ATTEMPTS` times.
        """
        problem = ""
        for _attempt in range(ENGINE_ATTEMPTS):
            finished = self._run_once(engine, text, path)
            with self._lock:
                self.engine_runs += 1
            if not finished:
                with self._lock:
                    self.retries += 1
                path.unlink(missing_ok=True)
                problem = "the engine did not finish the piece"
                continue
            try:
                audio = read_wav(path)
            except AudioFormatError as exc:
                problem = str(exc)
                with self._lock:
                    self.retries += 1
                continue
            finally:
                path.unlink(missing_ok=True)
            if audio.sample_rate != ENGINE_SAMPLE_RATE:
                raise TTSError(f"engine wrote {audio.sample_rate} Hz, expected 22050 Hz")
            tail = audio.samples[-int(END_SILENCE_S * ENGINE_SAMPLE_RATE) :]
            if len(audio.samples) and np.abs(tail.astype(np.int32)).max() <= EDGE_THRESHOLD:
                return audio.samples
            problem = "the audio was cut short (no end-of-sentence silence)"
            with self._lock:
                self.retries += 1
        raise TTSError(
            f"espeak-ng voice {voice_id!r} produced no usable audio for {text!r} after "
            f"{ENGINE_ATTEMPTS} attempts (does this voice read that script?): {problem}"
        )

    def close(self) -> None:
        """Stop the worker thread (pending jobs finish first)."""
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._tmp.cleanup()


_worker: SynthesisWorker | None = None
_worker_pid = 0
_worker_lock = threading.Lock()


def get_worker() -> SynthesisWorker:
    """The process's synthesis worker (started on first use; restarted after a fork)."""
    global _worker, _worker_pid
    with _worker_lock:
        if _worker is None or _worker_pid != os.getpid():
            _worker = SynthesisWorker()
            _worker_pid = os.getpid()
        return _worker


def _list_voices_job(engine: Any) -> tuple[list[VoiceInfo], list[str]]:
    from pyttsx3.drivers import _espeak

    voices = [
        VoiceInfo(id=v.id, name=v.name, languages=tuple(v.languages or ()))
        for v in engine.getProperty("voices")
    ]
    spec = _espeak.VOICE()
    spec.languages = b"variant"
    variants = [
        v.identifier.decode("utf-8").split("/", 1)[-1]
        for v in _espeak.ListVoices(ctypes.pointer(spec))
    ]
    return voices, variants


def _version_job(engine: Any) -> str:
    import pyttsx3
    from pyttsx3.drivers import _espeak

    espeak_version = _espeak.Info().decode("utf-8", "replace")
    pyttsx3_version = getattr(pyttsx3, "__version__", None)
    if pyttsx3_version is None:
        from importlib.metadata import version

        pyttsx3_version = version("pyttsx3")
    return f"pyttsx3 {pyttsx3_version}; espeak-ng {espeak_version}; render {RENDER_VERSION}"


_voices_cache: tuple[list[VoiceInfo], list[str]] | None = None
_version_cache: str | None = None


def installed_voices() -> tuple[list[VoiceInfo], list[str]]:
    """The installed espeak-ng voices and variant names (asked of the engine once)."""
    global _voices_cache
    if _voices_cache is None:
        _voices_cache = get_worker().run(_list_voices_job)
    return _voices_cache


def engine_version() -> str:
    """pyttsx3 and espeak-ng versions plus our render version: part of every cache key."""
    global _version_cache
    if _version_cache is None:
        _version_cache = get_worker().run(_version_job)
    return _version_cache
