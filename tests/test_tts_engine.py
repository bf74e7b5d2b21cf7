"""Real espeak-ng through pyttsx3: rate, real silences, markers, voices, telephone output."""

from __future__ import annotations

import asyncio
import shutil
import threading

import numpy as np
import pytest

from speech import mulaw
from speech.tts import (
    FRAME_BYTES,
    TTSError,
    UnknownVoiceError,
    VoiceSettings,
    get_worker,
    mulaw_frames,
    mulaw_wav_bytes,
    synthesize,
    synthesize_async,
    to_mulaw,
)
from speech.tts.render import trim_silence
from speech.wav import Audio, read_wav, wav_bytes

SILENCE_RMS = 100.0  # about -50 dBFS: speech frames are far above it
WIN_S = 0.01


def _require_espeak() -> None:
    assert shutil.which("espeak-ng"), "espeak-ng is not installed: apt-get install espeak-ng"


def silent_gaps(audio: Audio) -> list[float]:
    """Lengths (s) of the silent runs between the first and last speech frame (10 ms RMS)."""
    x = audio.samples.astype(np.float64)
    w = int(WIN_S * audio.sample_rate)
    n = len(x) // w
    rms = np.sqrt((x[: n * w].reshape(n, w) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > SILENCE_RMS)
    assert loud.size, "no speech in the audio"
    gaps, run = [], 0
    for is_loud in rms[loud[0] : loud[-1] + 1] > SILENCE_RMS:
        if is_loud:
            if run:
                gaps.append(run * WIN_S)
            run = 0
        else:
            run += 1
    return gaps


def test_output_is_22k_speech() -> None:
    _require_espeak()
    audio = synthesize("Thank you for calling the community service line.")
    assert audio.sample_rate == 22050
    assert audio.samples.dtype == np.int16
    assert 1.5 < audio.duration < 8.0
    assert np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)) > 500
    again = read_wav(wav_bytes(audio))
    assert again.sample_rate == 22050 and np.array_equal(again.samples, audio.samples)


def test_rate_changes_duration_by_the_rate_ratio() -> None:
    _require_espeak()
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    slow = trim_silence(synthesize(text, VoiceSettings(rate_wpm=140)).samples)
    fast = trim_silence(synthesize(text, VoiceSettings(rate_wpm=175)).samples)
    ratio = len(slow) / len(fast)
    print(
        f"140 wpm: {len(slow) / 22050:.2f} s, 175 wpm: {len(fast) / 22050:.2f} s, "
        f"ratio {ratio:.3f} (175/140 = 1.25)"
    )
    assert 1.12 < ratio < 1.40


def test_sentence_pause_is_real_silence() -> None:
    _require_espeak()
    one = synthesize("Hello there, how are you today?")
    two = synthesize("Hello there. How are you today?")
    assert max(silent_gaps(one)) < 0.3  # within a sentence: only the engine's short gaps
    long_gaps = [g for g in silent_gaps(two) if g >= 0.6]
    assert len(long_gaps) == 1, silent_gaps(two)
    longer = synthesize("Hello there. How are you today?", VoiceSettings(sentence_pause_s=1.2))
    assert max(silent_gaps(longer)) >= 1.2


def test_pause_marker_gives_the_requested_silence() -> None:
    _require_espeak()
    audio = synthesize("Hello there [pause 1.5] how are you")
    gap = max(silent_gaps(audio))
    assert 1.5 <= gap < 1.65, silent_gaps(audio)
    audio = synthesize("Hello there [pause 400ms] how are you")
    gaps = silent_gaps(audio)
    assert 0.4 <= max(gaps) < 0.55 and sum(g >= 0.4 for g in gaps) == 1, gaps
    lead = synthesize("[pause 1] Hello")
    assert np.abs(lead.samples[:22050].astype(np.int32)).max() == 0  # one second of zeros


def test_key_words_get_pauses_around_them() -> None:
    _require_espeak()
    plain = synthesize("Your reference is in the letter.")
    keyed = synthesize("Your reference is 4 7 1 9.")
    assert max(silent_gaps(plain), default=0.0) < 0.25
    gaps = silent_gaps(keyed)
    assert sum(g >= 0.3 for g in gaps) >= 1, gaps  # before the number
    assert sum(g >= 0.15 for g in gaps) >= 4, gaps  # and between its digits


def test_voices_resolve_and_speak() -> None:
    _require_espeak()
    for voice, text in [
        ("en-gb-scotland", "Good morning."),
        ("ko", "안녕하세요."),
        ("yue", "你好。"),
        ("en-us+f3", "Good morning."),
        ("gmw/en-us", "Good morning."),
    ]:
        audio = synthesize(text, VoiceSettings(voice=voice))
        assert audio.duration > 0.3, voice


def test_unknown_voice_is_a_clear_error_with_close_matches() -> None:
    _require_espeak()
    with pytest.raises(UnknownVoiceError) as info:
        synthesize("Hello.", VoiceSettings(voice="en-uss"))
    assert "en-us" in info.value.suggestions
    assert "en-uss" in str(info.value) and "en-us" in str(info.value)
    with pytest.raises(UnknownVoiceError, match="unknown espeak-ng voice"):
        synthesize("Hello.", VoiceSettings(voice="en-us+nosuchvariant"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_wpm": 20},
        {"rate_wpm": 140.5},
        {"pitch": 101},
        {"volume": 1.5},
        {"sentence_pause_s": -1},
        {"keyword_pause_s": float("nan")},
        {"voice": " "},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs)) if "voice" not in kwargs else "voice"):
        VoiceSettings(**kwargs)


def test_nothing_to_say_is_an_error_and_the_worker_survives_failures() -> None:
    _require_espeak()
    with pytest.raises(TTSError, match="no words"):
        synthesize("... !!")

    def broken_job(engine: object) -> None:
        raise RuntimeError("job failed on the engine thread")

    with pytest.raises(RuntimeError, match="job failed"):
        get_worker().run(broken_job)
    # the worker starts a fresh engine after a failed job, and it still speaks
    audio = synthesize("Still here. Thank you.")
    assert audio.duration > 1.0
    assert max(silent_gaps(audio)) >= 0.6


def test_telephone_output_is_8k_mulaw_in_160_byte_frames() -> None:
    _require_espeak()
    audio = synthesize("Your balance is 20 dollars. Goodbye.")
    ulaw = to_mulaw(audio)
    assert abs(len(ulaw) / 8000 - audio.duration) < 0.01
    frames = list(mulaw_frames(ulaw))
    assert all(len(f) == FRAME_BYTES == 160 for f in frames)
    assert len(frames) == -(-len(ulaw) // 160)
    pad = len(frames) * 160 - len(ulaw)
    assert frames[-1][160 - pad :] == b"\xff" * pad  # padded with mu-law silence
    decoded = mulaw.decode_array(ulaw).astype(np.float64)
    assert np.sqrt(np.mean(decoded**2)) > 300  # it is speech, not silence
    wav = read_wav(mulaw_wav_bytes(ulaw))
    assert wav.sample_rate == 8000 and len(wav.samples) == len(ulaw)
    assert np.array_equal(wav.samples, mulaw.decode_array(ulaw))


def test_engine_runs_only_on_its_worker_thread() -> None:
    _require_espeak()
    worker = get_worker()
    names: list[str] = []
    errors: list[BaseException] = []

    def speak(i: int) -> None:
        try:
            synthesize(f"Caller number {i}. Please hold.")
            names.append(worker.run(lambda engine: threading.current_thread().name))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert names == ["tts-engine"] * 4
    assert get_worker() is worker


def test_synthesize_async_does_not_block_the_event_loop() -> None:
    _require_espeak()

    async def main() -> tuple[Audio, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        text = " ".join(f"Sentence number {i} is here." for i in range(12))
        audio = await synthesize_async(text)
        done.set()
        await task
        return audio, ticks

    audio, ticks = asyncio.run(main())
    assert audio.duration > 10
    assert ticks >= 2  # the ticker ran while the engine worked
