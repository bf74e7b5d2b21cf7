"""Prosody features on real synthetic speech (espeak-ng) taken to 8 kHz mu-law."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from speech import mulaw
from speech.prosody import FEATURE_NAMES, ProsodyError, extract_prosody
from speech.wav import read_wav

SENTENCE = "I would like to check the balance on my account please."


def speak(tmp: Path, text: str, voice: str = "en-us", p: int = 45, s: int = 140, a: int = 100):
    """espeak-ng rendition of `text` at 8 kHz through G.711 mu-law (int16 samples)."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed (apt-get install espeak-ng)"
    out = tmp / f"{abs(hash((text, voice, p, s, a)))}.wav"
    cmd = [exe, "-v", voice, "-p", str(p), "-s", str(s), "-a", str(a), "-w", str(out), text]
    subprocess.run(cmd, check=True, capture_output=True)
    audio = read_wav(out, rate=8000)
    return mulaw.decode_array(mulaw.encode_array(audio.samples))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prosody")


def test_features_are_complete_and_plausible(tmp: Path) -> None:
    r = extract_prosody(speak(tmp, SENTENCE), 8000)
    f = r.features
    d = f.to_dict()
    assert set(d) == set(FEATURE_NAMES)
    assert 2.0 < f.duration_s < 6.0
    assert 0.3 < f.voiced_fraction <= 1.0
    assert 70 < f.f0_mean_hz < 250  # espeak-ng en-us male voice
    assert 2.0 < f.speaking_rate < 10.0
    assert -60 < f.rms_mean_db < 0
    assert f.f0_sd_st > 0 and f.jitter > 0 and f.shimmer_db > 0
    # Tracks line up with each other and the audio.
    t = r.tracks
    assert len(t.times) == len(t.f0_hz) == len(t.rms_db) == len(t.voiced)
    assert abs(t.times[-1] - f.duration_s) < 0.05
    assert np.all(np.isnan(t.f0_hz[~t.voiced]))


def test_directions_pitch_rate_loudness(tmp: Path) -> None:
    calm = extract_prosody(speak(tmp, SENTENCE), 8000).features
    high = extract_prosody(speak(tmp, SENTENCE, p=85), 8000).features
    fast = extract_prosody(speak(tmp, SENTENCE, s=230), 8000).features
    slow = extract_prosody(speak(tmp, SENTENCE, s=90), 8000).features
    loud = extract_prosody(speak(tmp, SENTENCE, a=200), 8000).features
    assert high.f0_median_st > calm.f0_median_st + 2
    assert fast.speaking_rate > calm.speaking_rate > slow.speaking_rate
    assert loud.rms_mean_db > calm.rms_mean_db + 3


def test_pauses_derived_and_given(tmp: Path) -> None:
    a = speak(tmp, "I called the bank yesterday.")
    b = speak(tmp, "Nobody called me back.")
    x = np.concatenate([a, np.zeros(int(1.5 * 8000), np.int16), b])
    f = extract_prosody(x, 8000).features
    assert f.n_pauses >= 1
    assert 1.2 < f.pause_max_s < 2.2
    assert f.pause_ratio > 0.2
    given = extract_prosody(x, 8000, pauses=[0.4, 0.5]).features
    assert given.n_pauses == 2 and math.isclose(given.pause_max_s, 0.5)


def test_other_rates_are_resampled(tmp: Path) -> None:
    x8 = speak(tmp, SENTENCE)
    from speech.resample import resample_array

    x16 = resample_array(x8, 8000, 16000)
    f8 = extract_prosody(x8, 8000).features
    f16 = extract_prosody(x16, 16000).features
    assert abs(f8.f0_median_st - f16.f0_median_st) < 0.5
    assert abs(f8.duration_s - f16.duration_s) < 0.01


@pytest.mark.parametrize(
    "samples,rate,message",
    [
        (np.zeros(0, np.int16), 8000, "too short"),
        (np.zeros(100, np.int16), 8000, "too short"),
        (np.zeros((2, 8000), np.int16), 8000, "mono"),
        (np.zeros(8000, np.int16), 0, "positive"),
        (np.full(8000, np.nan, np.float32), 8000, "NaN"),
        (np.zeros(8000, np.int32), 8000, "int16 or float"),
    ],
)
def test_bad_input_is_a_clear_error(samples: np.ndarray, rate: int, message: str) -> None:
    with pytest.raises(ProsodyError, match=message):
        extract_prosody(samples, rate)


def test_silence_measures_without_crashing() -> None:
    f = extract_prosody(np.zeros(8000, np.int16), 8000).features
    assert f.voiced_s == 0.0
    assert math.isnan(f.f0_mean_hz)
    assert f.to_dict()["f0_mean_hz"] is None


@pytest.mark.parametrize("hz", [70.0, 150.0, 320.0])
def test_pitch_of_a_harmonic_tone(hz: float) -> None:
    from speech.prosody import warm_up

    warm_up()
    t = np.arange(16000) / 8000.0
    x = sum(0.2 / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, 6) if hz * k < 3800)
    f = extract_prosody(x.astype(np.float32), 8000).features
    assert abs(f.f0_mean_hz - hz) / hz < 0.03, f.f0_mean_hz
    assert f.voiced_fraction > 0.9
    assert f.f0_sd_st < 0.2
