"""VAD, endpointer and speaking-rate tests on real human telephone speech.

The speech is the Asterisk English prompt set (8 kHz recordings, Debian package
`asterisk-core-sounds-en-wav`). Recordings are chosen by a rule, not by name: prompts of at least
four words, 1.5-10 s long, whose own leading/trailing silence (measured here from frame energy)
is at most 0.12 s and with no silence of 0.45 s or more inside. Joined by 0.9 s of digital
silence, the real pause between their speech is then 0.9-1.14 s, which the test prints.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from speech import mulaw
from speech.endpointer import (
    Endpointer,
    EndpointerConfig,
    NoInput,
    SpeechStarted,
    UtteranceEnded,
    adaptive_trailing_silence,
)
from speech.pace import SpeakingRate
from speech.resample import resample_array
from speech.vad import Vad, VadError, frame_rms_dbfs
from speech.wav import read_wav

SOUNDS = Path("/usr/share/asterisk/sounds/en")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
RATE = 8000
LOUD_DBFS = -40.0  # a 20 ms frame above this level is speech for the energy measurements


@dataclass(frozen=True)
class Rec:
    name: str
    text: str
    samples: np.ndarray  # int16 at 8 kHz
    lead_s: float  # silence before the first loud frame
    trail_s: float  # silence after the last loud frame
    longest_gap_s: float  # longest quiet run between them

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    @property
    def words(self) -> int:
        return len(self.text.split())


def _transcripts() -> dict[str, str]:
    assert TRANSCRIPTS.is_file(), f"{TRANSCRIPTS} missing: install asterisk-core-sounds-en-wav"
    out = {}
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            text = text.strip()
            if text and "[" not in text:
                out[name.strip()] = text
    return out


def _frame_db(x: np.ndarray, rate: int = RATE, frame_s: float = 0.02) -> np.ndarray:
    n = int(rate * frame_s)
    fr = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    return 20 * np.log10(np.sqrt((fr**2).mean(axis=1)) / 32768 + 1e-12)


def _profile(x: np.ndarray) -> tuple[float, float, float] | None:
    loud = _frame_db(x) > LOUD_DBFS
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return None
    longest = run = 0
    for v in loud[idx[0] : idx[-1] + 1]:
        run = 0 if v else run + 1
        longest = max(longest, run)
    return idx[0] * 0.02, (len(loud) - 1 - idx[-1]) * 0.02, longest * 0.02


@lru_cache(maxsize=1)
def candidates() -> tuple[Rec, ...]:
    assert SOUNDS.is_dir(), f"{SOUNDS} missing: install asterisk-core-sounds-en-wav"
    recs = []
    for name, text in sorted(_transcripts().items()):
        path = SOUNDS / f"{name}.wav"
        if name.startswith("silence/") or len(text.split()) < 4 or not path.is_file():
            continue
        audio = read_wav(path, rate=RATE, resample=False)
        if not 1.5 <= audio.duration <= 10.0:
            continue
        p = _profile(audio.samples)
        if p and p[0] <= 0.12 and p[1] <= 0.12 and p[2] < 0.45:
            recs.append(Rec(name, text, audio.samples, *p))
    assert len(recs) >= 20, f"only {len(recs)} usable prompts in {SOUNDS}"
    return tuple(recs)


def pairs(k: int, seed: int = 0) -> list[tuple[Rec, Rec]]:
    recs = list(candidates())
    rng = random.Random(seed)
    out = []
    while len(out) < k:
        a, b = rng.sample(recs, 2)
        out.append((a, b))
    return out


def sil(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(round(rate * seconds)), dtype=np.int16)


def pcm(x: np.ndarray) -> bytes:
    return np.asarray(x, dtype=np.int16).astype("<i2").tobytes()


def joined(a: Rec, b: Rec, gap: float = 0.9, lead: float = 1.0, tail: float = 3.0) -> np.ndarray:
    return np.concatenate([sil(lead), a.samples, sil(gap), b.samples, sil(tail)])


def with_noise(x: np.ndarray, snr_db: float, speech: np.ndarray, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` below the speech's mean power, over the whole signal."""
    p = float(np.mean(speech.astype(np.float64) ** 2))
    n = np.random.default_rng(seed).normal(0.0, np.sqrt(p / 10 ** (snr_db / 10)), len(x))
    return np.clip(np.round(x + n), -32768, 32767).astype(np.int16)


def run(data: bytes, config: EndpointerConfig | None = None, chunk: int = 320) -> list:
    ep = Endpointer(config)
    events = []
    for i in range(0, len(data), chunk):
        events += ep.feed(data[i : i + chunk])
    return events + ep.flush()


def utterances(events: list) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


# ---------------------------------------------------------------- VAD


def test_vad_rejects_bad_parameters_and_frames() -> None:
    with pytest.raises(VadError, match="11025 Hz not supported"):
        Vad(11025)
    with pytest.raises(VadError, match="25 ms not supported"):
        Vad(8000, 25)
    with pytest.raises(VadError, match="aggressiveness"):
        Vad(8000, 20, 4)
    vad = Vad(8000, 20)
    with pytest.raises(VadError, match="expected 320 bytes"):
        vad.is_speech(bytes(318))
    with pytest.raises(VadError, match="expected 320 bytes"):
        vad.is_speech(bytes(480))  # a 30 ms frame given to a 20 ms VAD
    for rate in (8000, 16000, 32000, 48000):
        for ms in (10, 20, 30):
            v = Vad(rate, ms, aggressiveness=3)
            assert v.frame_bytes == rate * ms // 1000 * 2
            assert v.is_speech(bytes(v.frame_bytes)) is False  # digital silence


@pytest.mark.parametrize("rate", [8000, 16000, 32000, 48000])
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_vad_marks_real_speech_and_not_silence(rate: int, frame_ms: int) -> None:
    rec = candidates()[0]
    x = resample_array(rec.samples, RATE, rate) if rate != RATE else rec.samples
    vad = Vad(rate, frame_ms)
    n = vad.frame_bytes
    data = pcm(np.concatenate([x, sil(1.0, rate)]))
    frames = [data[i : i + n] for i in range(0, len(data) - n + 1, n)]
    flags = np.array([vad.is_speech(f) for f in frames])
    levels = np.array([frame_rms_dbfs(f) for f in frames])
    loud = levels > -30
    assert flags[loud].mean() >= 0.9, f"{rec.name}: only {flags[loud].mean():.0%} of loud frames"
    assert not flags[levels < -55].any(), "energy floor let a near-silent frame through"
    assert not flags[-int(0.8 * 1000 / frame_ms) :].any(), "trailing digital silence marked"


def test_energy_floor_guards_low_level_frames() -> None:
    rec = candidates()[1]
    quiet = np.round(rec.samples.astype(np.float64) * 10 ** (-50 / 20)).astype(np.int16)
    with_floor = Vad(8000, 20, energy_floor_dbfs=-55.0)
    no_floor = Vad(8000, 20, energy_floor_dbfs=None)
    data = pcm(quiet)
    frames = [data[i : i + 320] for i in range(0, len(data) - 319, 320)]
    assert max(frame_rms_dbfs(f) for f in frames) < -55
    assert not any(with_floor.is_speech(f) for f in frames)
    assert any(no_floor.is_speech(f) for f in frames), "webrtcvad alone ignored -60 dBFS speech"


# ---------------------------------------------------------------- the joined-pause test


def test_recordings_edge_silence_is_measured() -> None:
    recs = candidates()
    lead = np.array([r.lead_s for r in recs])
    trail = np.array([r.trail_s for r in recs])
    print(
        f"\n{len(recs)} prompts; leading silence median {np.median(lead):.2f} s "
        f"(max {lead.max():.2f}), trailing median {np.median(trail):.2f} s (max {trail.max():.2f})"
    )
    assert lead.max() <= 0.12 and trail.max() <= 0.12


@pytest.mark.parametrize("a, b", pairs(12), ids=lambda r: r.name)
def test_joined_recordings_one_utterance_at_defaults_two_at_half_second(a: Rec, b: Rec) -> None:
    x = joined(a, b, gap=0.9)
    a_on, a_off = 1.0 + a.lead_s, 1.0 + a.duration - a.trail_s
    b_on = 1.0 + a.duration + 0.9 + b.lead_s
    b_off = b_on - b.lead_s + b.duration - b.trail_s
    print(f"\n{a.name} + {b.name}: real pause between speech {b_on - a_off:.2f} s")

    events = run(pcm(x))
    (u,) = utterances(events)
    assert u.reason == "silence"
    assert abs(u.speech_start_s - a_on) <= 0.1 and abs(u.speech_end_s - b_off) <= 0.15
    assert any(abs(p - (b_on - a_off)) <= 0.15 for p in u.pauses), u.pauses
    assert sum(isinstance(e, SpeechStarted) for e in events) == 1
    assert u.audio == pcm(x)[int(u.start_s * RATE) * 2 : int(u.end_s * RATE) * 2]

    two = utterances(run(pcm(x), EndpointerConfig(trailing_silence_s=0.5)))
    assert len(two) == 2, [(v.speech_start_s, v.speech_end_s) for v in two]
    assert abs(two[0].speech_end_s - a_off) <= 0.15 and abs(two[1].speech_start_s - b_on) <= 0.1
    assert two[0].end_s <= two[1].start_s  # audio never duplicated


@pytest.mark.parametrize("a, b", pairs(5, seed=1), ids=lambda r: r.name)
def test_joined_recordings_stay_one_utterance_in_25db_noise(a: Rec, b: Rec) -> None:
    x = joined(a, b)
    y = with_noise(x, 25.0, np.concatenate([a.samples, b.samples]))
    events = run(pcm(y))
    (u,) = utterances(events)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    assert len(starts) == 1 and abs(starts[0].t - (1.0 + a.lead_s)) <= 0.1  # noise alone: no start
    assert len(utterances(run(pcm(y), EndpointerConfig(trailing_silence_s=0.5)))) == 2


@pytest.mark.parametrize("a, b", pairs(5, seed=2), ids=lambda r: r.name)
def test_mulaw_round_tripped_audio_as_a_phone_delivers_it(a: Rec, b: Rec) -> None:
    x = joined(a, b)
    phone = mulaw.decode(mulaw.encode(pcm(x)))
    assert phone != pcm(x)  # it really is the lossy telephone version
    (lin,) = utterances(run(pcm(x)))
    (u,) = utterances(run(phone))
    assert abs(u.speech_start_s - lin.speech_start_s) <= 0.04
    assert abs(u.speech_end_s - lin.speech_end_s) <= 0.1
    assert len(utterances(run(phone, EndpointerConfig(trailing_silence_s=0.5)))) == 2


@pytest.mark.parametrize("rate, frame_ms", [(16000, 20), (32000, 10), (48000, 30), (8000, 10)])
def test_other_rates_and_frame_lengths_agree_with_8k(rate: int, frame_ms: int) -> None:
    a, b = pairs(1, seed=3)[0]
    x = joined(a, b)
    y = resample_array(x, RATE, rate) if rate != RATE else x
    (ref,) = utterances(run(pcm(x)))
    cfg = EndpointerConfig(sample_rate=rate, frame_ms=frame_ms)
    (u,) = utterances(run(pcm(y), cfg, chunk=977))
    assert u.sample_rate == rate
    assert abs(u.speech_start_s - ref.speech_start_s) <= 0.06
    assert abs(u.speech_end_s - ref.speech_end_s) <= 0.12
    assert len(u.audio) == round((u.end_s - u.start_s) * rate) * 2
    short = EndpointerConfig(sample_rate=rate, frame_ms=frame_ms, trailing_silence_s=0.5)
    assert len(utterances(run(pcm(y), short))) == 2


# ---------------------------------------------------------------- speech start, pre-roll, clicks


def test_speech_started_soon_after_real_onset_with_pre_roll() -> None:
    for rec in candidates()[:15]:
        x = np.concatenate([sil(1.0), rec.samples, sil(2.0)])
        events = run(pcm(x))
        start = next(e for e in events if isinstance(e, SpeechStarted))
        u = utterances(events)[0]
        onset = 1.0 + rec.lead_s
        assert abs(start.t - onset) <= 0.1, (rec.name, start.t, onset)
        assert 0 < start.detected_at - start.t <= 0.3, (rec.name, start)
        assert u.speech_start_s == start.t
        assert u.start_s == pytest.approx(start.t - 0.3)  # 0.3 s pre-roll
        assert u.end_s == pytest.approx(u.speech_end_s + 0.3)  # 0.3 s post-roll


def _clicks(seconds: float, every: float, rng: np.random.Generator) -> np.ndarray:
    x = sil(seconds)
    for t in np.arange(0.5, seconds - 0.1, every):
        i = int(t * RATE)
        x[i : i + 80] = (rng.choice([-1, 1], 80) * 20000).astype(np.int16)  # 10 ms bursts
    return x


def test_clicks_do_not_start_speech_nor_hold_an_utterance_open() -> None:
    rng = np.random.default_rng(7)
    events = run(pcm(_clicks(6.0, 0.7, rng)), EndpointerConfig(no_input_timeout_s=60))
    assert events == [], events
    rec = candidates()[2]
    clean = np.concatenate([sil(0.5), rec.samples, sil(4.0)])
    clicky = clean.copy()
    end = int((0.5 + rec.duration) * RATE)
    clicky[end:] = np.maximum(clicky[end:], _clicks(4.0, 0.45, rng)[: len(clicky) - end])
    (u_clean,) = utterances(run(pcm(clean)))
    (u_clicky,) = utterances(run(pcm(clicky)))
    assert u_clicky.speech_end_s == u_clean.speech_end_s
    assert u_clicky.pauses == u_clean.pauses


# ---------------------------------------------------------------- no input


def test_no_input_fires_after_8_seconds_and_not_before() -> None:
    ep = Endpointer()
    assert ep.feed(pcm(sil(7.98))) == []
    assert ep.feed(pcm(sil(0.01))) == []  # 7.99 s, half a frame pending
    (ev,) = ep.feed(pcm(sil(0.01)))
    assert isinstance(ev, NoInput) and ev.t == 8.0 and ev.waited_s == 8.0
    assert ep.feed(pcm(sil(10.0))) == []  # once per listening period
    ep.start_listening()  # at 18.0 s
    assert ep.feed(pcm(sil(7.9))) == []
    (ev,) = ep.feed(pcm(sil(0.2)))
    assert isinstance(ev, NoInput) and ev.t == pytest.approx(26.0)


def test_no_input_in_line_noise_and_not_when_the_caller_speaks() -> None:
    rec = candidates()[3]
    noise = with_noise(sil(12.0), 25.0, rec.samples, seed=4)
    events = run(pcm(noise))
    assert [type(e) for e in events] == [NoInput] and events[0].t == 8.0
    x = np.concatenate([sil(3.0), rec.samples, sil(12.0)])
    events = run(pcm(x))
    assert not any(isinstance(e, NoInput) for e in events)
    assert len(utterances(events)) == 1
    custom = run(pcm(sil(5.0)), EndpointerConfig(no_input_timeout_s=3.0))
    assert [(type(e), e.t) for e in custom] == [(NoInput, 3.0)]


# ---------------------------------------------------------------- max utterance


def test_max_utterance_splits_at_30_seconds_without_losing_audio() -> None:
    recs = list(candidates())
    parts, total = [sil(0.5)], 0.0
    for rec in recs:
        parts += [rec.samples, sil(0.3)]
        total += rec.duration + 0.3
        if total > 45:
            break
    parts.append(sil(3.0))
    x = pcm(np.concatenate(parts))
    us = utterances(run(x))
    assert [u.reason for u in us] == ["max_length", "silence"], [(u.reason, u.end_s) for u in us]
    first, second = us
    assert first.end_s - first.speech_start_s == pytest.approx(30.0)
    assert second.start_s == pytest.approx(max(first.end_s, second.speech_start_s - 0.3))
    for u in us:
        assert u.audio == x[round(u.start_s * RATE) * 2 : round(u.end_s * RATE) * 2]
    short = utterances(run(x, EndpointerConfig(max_utterance_s=10.0)))
    assert [u.reason for u in short][:4] == ["max_length"] * 4
    assert all(u.end_s - u.speech_start_s <= 10.0 + 1e-9 for u in short)


# ---------------------------------------------------------------- chunking, flush, config


def test_odd_chunk_sizes_give_the_same_events_as_whole_frames() -> None:
    a, b = pairs(1, seed=5)[0]
    x = pcm(np.concatenate([sil(9.0), joined(a, b, lead=0.2)]))
    whole = run(x, chunk=320)
    kinds = [type(e) for e in whole]
    assert kinds == [NoInput, SpeechStarted, UtteranceEnded], kinds
    rng = np.random.default_rng(11)
    ep, events, pos = Endpointer(), [], 0
    while pos < len(x):
        n = int(rng.choice([1, 3, 7, 159, 161, 333, 1001, 4095]))
        events += ep.feed(x[pos : pos + n])
        pos += n
    assert events + ep.flush() == whole
    assert run(x, chunk=len(x)) == whole


def test_flush_ends_the_utterance_in_progress() -> None:
    rec = candidates()[4]
    ep = Endpointer()
    assert ep.flush() == []
    events = ep.feed(pcm(np.concatenate([sil(0.5), rec.samples[: len(rec.samples) // 2]])))
    assert [type(e) for e in events] == [SpeechStarted] and ep.in_utterance
    (u,) = ep.flush()
    assert u.reason == "flush" and not ep.in_utterance
    assert u.end_s <= ep.time_s and u.speech_end_s > u.speech_start_s
    assert ep.flush() == []


def test_config_and_input_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="max_trailing_silence_s"):
        EndpointerConfig(trailing_silence_s=1.2, max_trailing_silence_s=1.0)
    with pytest.raises(ValueError, match="no_input_timeout_s must be positive"):
        EndpointerConfig(no_input_timeout_s=0)
    with pytest.raises(VadError, match="not supported"):
        Endpointer(EndpointerConfig(sample_rate=22050))
    with pytest.raises(TypeError, match="PCM16 bytes"):
        Endpointer().feed(np.zeros(160, np.int16))  # type: ignore[arg-type]


# ---------------------------------------------------------------- adaptive trailing silence


def test_adaptive_rule() -> None:
    cfg = EndpointerConfig()
    assert adaptive_trailing_silence([], cfg) == 1.2
    assert adaptive_trailing_silence([1.0, 1.0], cfg) == 1.2  # too few pauses to judge
    assert adaptive_trailing_silence([0.3] * 10, cfg) == 1.2  # never below the base
    assert adaptive_trailing_silence([1.0] * 5, cfg) == pytest.approx(1.5)
    assert adaptive_trailing_silence([0.4, 0.5, 0.6, 1.1, 1.1], cfg) == pytest.approx(1.65)
    assert adaptive_trailing_silence([1.8] * 5, cfg) == 2.0  # never above the bound
    off = EndpointerConfig(adaptive=False)
    assert adaptive_trailing_silence([1.0] * 5, off) == 1.2


def _spoken_with_gaps(recs: list[Rec], target_pause: float) -> np.ndarray:
    """Recordings joined so the real pause between their speech is `target_pause`."""
    parts = [sil(0.5)]
    for i, rec in enumerate(recs):
        parts.append(rec.samples)
        if i + 1 < len(recs):
            parts.append(sil(target_pause - rec.trail_s - recs[i + 1].lead_s))
    parts.append(sil(3.0))
    return np.concatenate(parts)


def test_trailing_silence_adapts_to_a_caller_with_long_pauses_within_bounds() -> None:
    recs = list(candidates())
    ep = Endpointer()
    assert ep.trailing_silence_s == 1.2
    slow = _spoken_with_gaps(recs[:4], 1.1)  # one utterance with three 1.1 s pauses
    (u,) = utterances(ep.feed(pcm(slow)))
    assert len([p for p in u.pauses if p >= 0.9]) == 3, u.pauses
    grown = ep.trailing_silence_s
    print(f"\npauses {u.pauses} -> trailing silence {grown:.2f} s")
    assert 1.55 <= grown <= 2.0

    # the state persists: a 1.45 s pause now stays inside one utterance...
    slower = _spoken_with_gaps(recs[4:7], 1.45)
    assert len(utterances(ep.feed(pcm(slower)))) == 1
    # ...where a fresh endpointer (a new call) cuts it
    assert len(utterances(run(pcm(slower)))) == 3

    # ever longer pauses never push it past the bound
    for k in range(3):
        pause = min(ep.trailing_silence_s - 0.25, 1.9)
        us = utterances(ep.feed(pcm(_spoken_with_gaps(recs[7 + 3 * k : 10 + 3 * k], pause))))
        assert len(us) == 1 and 1.2 <= ep.trailing_silence_s <= 2.0
    assert ep.trailing_silence_s == 2.0

    # a caller whose pauses shorten brings it back down, never below the base
    quick = Endpointer(EndpointerConfig(adapt_window=6))
    quick.feed(pcm(slow))
    assert quick.trailing_silence_s > 1.4
    for k in range(4):
        quick.feed(pcm(_spoken_with_gaps(recs[20 + 3 * k : 23 + 3 * k], 0.5)))
    assert quick.trailing_silence_s == 1.2
    assert all(p < 0.8 for p in quick.observed_pauses)


# ---------------------------------------------------------------- speaking rate


def test_speaking_rate_tracker_rules() -> None:
    sr = SpeakingRate(window=3)
    assert sr.caller_wpm is None
    assert sr.add(2, 1.0) is None  # too few words
    assert sr.add(5, 0.5) is None  # too little speech
    assert sr.add(30, 1.2) is None  # 1500 wpm: a glitch
    assert sr.add(10, 5.0) == pytest.approx(120.0)
    assert sr.caller_wpm == pytest.approx(120.0)
    sr.add(10, 4.0)  # 150
    sr.add(10, 2.0)  # 300: one hurried answer
    assert sr.caller_wpm == pytest.approx(150.0)  # the median does not swing to 190
    sr.add(10, 6.0)  # 100; window of 3 keeps 150, 300, 100
    assert sr.caller_wpm == pytest.approx(150.0) and len(sr.samples) == 3
    with pytest.raises(ValueError):
        sr.add(-1, 2.0)


def test_speaking_rate_of_real_speech_from_endpointer_timings() -> None:
    sr = SpeakingRate()
    rates = []
    for rec in candidates()[:12]:
        (u,) = utterances(run(pcm(np.concatenate([sil(0.5), rec.samples, sil(2.0)]))))
        assert 0 < u.speech_s <= u.speech_end_s - u.speech_start_s + 1e-9
        wpm = sr.add(rec.words, u.speech_s)
        if wpm is not None:
            rates.append(wpm)
    print(f"\nper-prompt wpm {[round(r) for r in rates]}; caller_wpm {sr.caller_wpm:.0f}")
    assert len(rates) >= 8
    # professional prompt voices talk at an ordinary conversational pace
    assert sr.caller_wpm is not None and 110 <= sr.caller_wpm <= 230


@pytest.mark.parametrize("a, b", pairs(4, seed=3), ids=lambda r: r.name)
def test_settled_audio_is_the_utterance_to_be_during_the_trailing_silence(a: Rec, b: Rec) -> None:
    # two real recordings 0.9 s apart: one utterance at the defaults. During the mid pause the
    # settled audio is offered and then outgrown (speech resumed); during the final trailing
    # silence it is byte for byte the audio the UtteranceEnded then carries.
    x = pcm(joined(a, b, gap=0.9))
    ep = Endpointer()
    offers: list[tuple[float, float, bytes]] = []  # (time offered, speech end, audio)
    ended = []
    step = int(0.02 * RATE) * 2
    for i in range(0, len(x), step):
        for e in ep.feed(x[i : i + step]):
            if isinstance(e, UtteranceEnded):
                ended.append((ep.time_s, e))
        settled = ep.settled_audio()
        if settled and (not offers or offers[-1][1] != settled[0]):
            offers.append((ep.time_s, *settled))
        if not ep.in_utterance:
            assert settled is None
    ((ended_at, u),) = ended
    assert len(offers) >= 2  # the mid-utterance pause, then the end
    mid, last = offers[0], offers[-1]
    assert mid[2] != u.audio and len(mid[2]) < len(u.audio)  # speech came back: outgrown
    assert last[1] == u.speech_end_s and last[2] == u.audio
    # offered one post-roll after the speech ended, long before the utterance ended
    assert last[0] - last[1] == pytest.approx(EndpointerConfig().post_roll_s, abs=0.03)
    assert ended_at - last[0] >= 0.85  # the head start recognition gets (1.2 s - 0.3 s)
