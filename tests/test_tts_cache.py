"""The TTS disk cache and the `TextToSpeech` facade on real espeak-ng, and `ivr say`."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from speech import mulaw
from speech.tts import TextToSpeech, UnknownVoiceError, VoiceSettings, get_worker, synthesize
from speech.tts.cache import MAGIC, AudioCache, cache_key
from speech.wav import Audio, read_wav

ROOT = Path(__file__).resolve().parents[1]


def _require_espeak() -> None:
    assert shutil.which("espeak-ng"), "espeak-ng is not installed: apt-get install espeak-ng"


class CountingSynth:
    """The real synthesizer, counting how often the engine is asked to render."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, text: str, settings: VoiceSettings) -> Audio:
        with self._lock:
            self.calls += 1
        return synthesize(text, settings)


def _entries(tts: TextToSpeech) -> list[Path]:
    return sorted(tts.cache.directory.glob("*/*.tts"))


def test_cache_hit_is_identical_and_skips_the_engine(tmp_path: Path) -> None:
    _require_espeak()
    synth = CountingSynth()
    tts = TextToSpeech(tmp_path, 10_000_000, synthesizer=synth)
    first = tts.render("Welcome. Your appointment is on March 3rd.")
    runs_before = get_worker().engine_runs
    second = tts.render("Welcome. Your appointment is on March 3rd.")
    assert synth.calls == 1
    assert get_worker().engine_runs == runs_before  # the real engine did not run at all
    assert np.array_equal(first.samples, second.samples) and second.sample_rate == 22050
    assert (tts.stats.hits, tts.stats.misses) == (1, 1)
    # another voice setting is another entry
    tts.render("Welcome. Your appointment is on March 3rd.", VoiceSettings(rate_wpm=160))
    assert synth.calls == 2 and len(_entries(tts)) == 2
    # "en-us" and its engine id "gmw/en-us" are the same voice, so the same entry
    tts.render("Welcome. Your appointment is on March 3rd.", VoiceSettings(voice="gmw/en-us"))
    assert synth.calls == 2


def test_telephone_render_is_cached_8k_mulaw(tmp_path: Path) -> None:
    _require_espeak()
    synth = CountingSynth()
    tts = TextToSpeech(tmp_path, 10_000_000, synthesizer=synth)
    ulaw = tts.render_telephone("Please hold. An agent will answer soon.")
    web = tts.render("Please hold. An agent will answer soon.")
    again = tts.render_telephone("Please hold. An agent will answer soon.")
    assert synth.calls == 1 and ulaw == again
    assert abs(len(ulaw) / 8000 - web.duration) < 0.01
    pcm = mulaw.decode_array(ulaw).astype(np.float64)
    assert np.sqrt(np.mean(pcm**2)) > 300


def test_cache_key_covers_every_setting_and_the_engine_version() -> None:
    base = {"voice": "gmw/en-us", "rate_wpm": 140, "pitch": 50, "volume": 1.0}
    keys = {
        cache_key("Hello.", base, "v1", "wav"),
        cache_key("Hello!", base, "v1", "wav"),
        cache_key("Hello.", {**base, "rate_wpm": 150}, "v1", "wav"),
        cache_key("Hello.", {**base, "pitch": 40}, "v1", "wav"),
        cache_key("Hello.", {**base, "volume": 0.9}, "v1", "wav"),
        cache_key("Hello.", {**base, "voice": "gmw/en-gb-scotland"}, "v1", "wav"),
        cache_key("Hello.", base, "v2", "wav"),
        cache_key("Hello.", base, "v1", "mulaw"),
    }
    assert len(keys) == 8 and all(len(k) == 64 for k in keys)
    assert cache_key("Hello.", base, "v1", "wav") == cache_key("Hello.", dict(base), "v1", "wav")


def test_cache_is_bounded_and_evicts_least_recently_used(tmp_path: Path) -> None:
    _require_espeak()
    probe = TextToSpeech(tmp_path / "probe", 100_000_000)
    probe.render("Prompt number one.")
    entry_size = _entries(probe)[0].stat().st_size
    synth = CountingSynth()
    tts = TextToSpeech(tmp_path / "small", int(entry_size * 2.6), synthesizer=synth)
    tts.render("Prompt number one.")
    time.sleep(0.05)
    tts.render("Prompt number two.")
    time.sleep(0.05)
    tts.render("Prompt number one.")  # a hit: now "two" is the least recently used
    time.sleep(0.05)
    tts.render("Prompt number three.")
    assert tts.cache.size_bytes() <= tts.cache.max_bytes
    assert len(_entries(tts)) == 2 and tts.stats.evictions == 1
    calls = synth.calls
    tts.render("Prompt number one.")
    tts.render("Prompt number three.")
    assert synth.calls == calls  # both survived
    tts.render("Prompt number two.")
    assert synth.calls == calls + 1  # evicted, rendered again


def test_concurrent_renders_of_one_prompt_make_one_entry(tmp_path: Path) -> None:
    _require_espeak()
    synth = CountingSynth()
    tts = TextToSpeech(tmp_path, 10_000_000, synthesizer=synth)
    barrier = threading.Barrier(6)
    results: list[Audio] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(tts.render("Thank you for waiting. Your call matters to us."))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert synth.calls == 1
    assert len(_entries(tts)) == 1
    assert not list(tmp_path.glob("*/.tmp-*"))  # no temporary files left behind
    assert all(np.array_equal(r.samples, results[0].samples) for r in results)
    assert (tts.stats.hits, tts.stats.misses) == (5, 1)


def _render_in_process(cache_dir: str, text: str, out: multiprocessing.Queue) -> None:
    tts = TextToSpeech(cache_dir, 10_000_000)
    audio = tts.render(text)
    out.put((tts.stats.misses, len(audio.samples)))


def test_concurrent_renders_from_several_processes(tmp_path: Path) -> None:
    _require_espeak()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    text = "Your prescription is ready. Please collect it by Friday."
    procs = [
        ctx.Process(target=_render_in_process, args=(str(tmp_path), text, out)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(misses for misses, _ in results) == 1  # rendered once, across processes
    assert len({n for _, n in results}) == 1
    entries = sorted(tmp_path.glob("*/*.tts"))
    assert len(entries) == 1 and entries[0].read_bytes().startswith(MAGIC)


def test_corrupt_entries_are_rendered_again(tmp_path: Path) -> None:
    _require_espeak()
    synth = CountingSynth()
    tts = TextToSpeech(tmp_path, 10_000_000, synthesizer=synth)
    good = tts.render("Goodbye, and take care.")
    (entry,) = _entries(tts)
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x55  # one flipped byte in the audio
    entry.write_bytes(bytes(data))
    again = tts.render("Goodbye, and take care.")
    assert synth.calls == 2 and tts.stats.corrupt == 1
    assert again.sample_rate == 22050 and len(again.samples) > 0.5 * len(good.samples)
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    tts.render("Goodbye, and take care.")
    entry.write_bytes(b"")  # empty
    tts.render("Goodbye, and take care.")
    assert synth.calls == 4 and tts.stats.corrupt == 3
    assert read_wav(AudioCache(tmp_path, 10_000_000).get(entry.stem) or b"").duration > 0.5


def test_unknown_voice_errors_before_caching(tmp_path: Path) -> None:
    _require_espeak()
    tts = TextToSpeech(tmp_path, 10_000_000)
    with pytest.raises(UnknownVoiceError, match="en-gb-scotland"):
        tts.render("Hello.", VoiceSettings(voice="en-gb-scotlnd"))
    assert _entries(tts) == [] and tts.stats.misses == 0


def test_async_renders(tmp_path: Path) -> None:
    _require_espeak()
    tts = TextToSpeech(tmp_path, 10_000_000)

    async def main() -> tuple[Audio, bytes, bytes]:
        a, b = await asyncio.gather(
            tts.render_async("One moment please."), tts.render_telephone_async("One moment please.")
        )
        return a, b, await tts.render_telephone_async("One moment please.")

    audio, ulaw, ulaw2 = asyncio.run(main())
    assert audio.sample_rate == 22050 and ulaw == ulaw2
    assert abs(len(ulaw) / 8000 - audio.duration) < 0.01
    assert tts.stats.misses == 1


def test_bad_cache_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        AudioCache(tmp_path / "never-made", 0)
    assert not (tmp_path / "never-made").exists()
    with pytest.raises(ValueError, match="SHA-256"):
        AudioCache(tmp_path, 1000).get("../../etc/passwd")


def _ivr(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IVR_DATA_DIR": str(data_dir)}
    ivr = Path(sys.executable).parent / "ivr"
    return subprocess.run(
        [str(ivr), *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_ivr_say_writes_web_and_telephone_wav(tmp_path: Path) -> None:
    _require_espeak()
    web, phone = tmp_path / "web.wav", tmp_path / "phone.wav"
    text = "Hello. Your reference is 4 7 1 9. [pause 1] Goodbye."
    r = _ivr(["say", text, "-o", str(web), "--rate", "150", "--voice", "en-gb-scotland"], tmp_path)
    assert r.returncode == 0, r.stderr
    audio = read_wav(web)
    assert audio.sample_rate == 22050 and audio.duration > 3
    r = _ivr(["say", text, "-o", str(phone), "--telephone"], tmp_path)
    assert r.returncode == 0, r.stderr
    raw = phone.read_bytes()
    assert raw[20:22] == b"\x07\x00"  # WAV format tag 7: G.711 mu-law
    tel = read_wav(phone)
    assert tel.sample_rate == 8000 and tel.duration > 3
    assert list((tmp_path / "tts-cache").glob("*/*.tts"))  # went through the cache
    r = _ivr(["say", "Hi", "-o", str(tmp_path / "x.wav"), "--voice", "en-uss"], tmp_path)
    assert r.returncode == 2 and "unknown espeak-ng voice" in r.stderr and "en-us" in r.stderr
    r = _ivr(["say", "Hi [pause x]", "-o", str(tmp_path / "x.wav")], tmp_path)
    assert r.returncode == 2 and "[pause 1.5]" in r.stderr
    assert not (tmp_path / "x.wav").exists()
