"""Prosodic cues respond in the right direction against a caller's own calm baseline.

Speech is real espeak-ng synthesis at 8 kHz through mu-law: the same sentences rendered calmly
(the baseline, and a held-out calm rendition) and louder, faster, slower, higher, with long
silences, or with a synthesized 6 Hz tremor, by several voices.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from speech import mulaw
from speech.cues import (
    Assessment,
    CallerBaseline,
    Cue,
    CueConfig,
    CueTracker,
    assess_audio,
    fuse,
)
from speech.prosody import extract_prosody
from speech.wav import Audio, read_wav, write_wav

BASELINE_SENTENCES = [
    "Can you tell me when my next payment is due?",
    "Please send the letter to my home address.",
    "I want to speak to someone about my bill.",
    "My card is not working at the shop.",
]
TEST_SENTENCES = [
    "I would like to check the balance on my account please.",
    "I called yesterday and nobody called me back.",
]
VOICES = ["en-us", "en-gb+f3", "en-us+m3"]


def speak(tmp: Path, text: str, voice: str, p: int = 45, s: int = 140, a: int = 100):
    """espeak-ng rendition at 8 kHz through G.711 mu-law (int16 samples)."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed (apt-get install espeak-ng)"
    out = tmp / f"{abs(hash((text, voice, p, s, a)))}.wav"
    if not out.exists():
        cmd = [exe, "-v", voice, "-p", str(p), "-s", str(s), "-a", str(a), "-w", str(out), text]
        subprocess.run(cmd, check=True, capture_output=True)
    audio = read_wav(out, rate=8000)
    return mulaw.decode_array(mulaw.encode_array(audio.samples))


def add_tremor(x: np.ndarray, hz: float = 6.0, depth: float = 0.06, am: float = 0.4) -> np.ndarray:
    """Impose a tremor: +-`depth` pitch modulation (modulated delay line) and +-`am` amplitude
    modulation at `hz`, as in a shaky voice."""
    t = np.arange(len(x)) / 8000.0
    delay = depth / (2 * np.pi * hz) * (1 + np.sin(2 * np.pi * hz * t)) * 8000.0
    y = np.interp(np.arange(len(x)) - delay, np.arange(len(x)), x.astype(float))
    y *= (1 + am * np.sin(2 * np.pi * hz * t + 1.0)) / (1 + am)
    return np.clip(y, -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cues")


@pytest.fixture(scope="module")
def baselines(tmp: Path) -> dict[str, CallerBaseline]:
    out = {}
    for v in VOICES:
        b = CallerBaseline()
        for sent in BASELINE_SENTENCES:
            b.update(extract_prosody(speak(tmp, sent, v), 8000).features)
        out[v] = b
    return out


def _mean_strength(
    tmp: Path, baselines: dict, cue: str, render: Callable[[str, str], np.ndarray]
) -> float:
    vals = []
    for v in VOICES:
        for sent in TEST_SENTENCES:
            a, _ = assess_audio(render(sent, v), 8000, baseline=baselines[v])
            vals.append(a.strength(cue))
    return float(np.mean(vals))


@pytest.mark.parametrize(
    "cue,kwargs",
    [
        ("raised_voice", {"a": 200}),
        ("speaking_fast", {"s": 230}),
        ("speaking_slowly", {"s": 85}),
        ("high_pitch", {"p": 85}),
    ],
)
def test_renditions_raise_their_cue(tmp: Path, baselines, cue: str, kwargs: dict) -> None:
    calm = _mean_strength(tmp, baselines, cue, lambda s, v: speak(tmp, s, v))
    changed = _mean_strength(tmp, baselines, cue, lambda s, v: speak(tmp, s, v, **kwargs))
    assert calm < 0.15, f"{cue} fires on calm speech ({calm:.2f})"
    assert changed > calm + 0.4, f"{cue}: calm {calm:.2f}, changed {changed:.2f}"


def test_long_silence_raises_long_silences(tmp: Path, baselines) -> None:
    def gap(sent: str, v: str) -> np.ndarray:
        half = sent.split(" ")
        a = speak(tmp, " ".join(half[: len(half) // 2]), v)
        b = speak(tmp, " ".join(half[len(half) // 2 :]), v)
        return np.concatenate([a, np.zeros(2 * 8000, np.int16), b])

    calm = _mean_strength(tmp, baselines, "long_silences", lambda s, v: speak(tmp, s, v))
    paused = _mean_strength(tmp, baselines, "long_silences", gap)
    assert paused > calm + 0.5


def test_tremor_raises_trembling(tmp: Path, baselines) -> None:
    calm = _mean_strength(tmp, baselines, "trembling_voice", lambda s, v: speak(tmp, s, v))
    shaky = _mean_strength(
        tmp, baselines, "trembling_voice", lambda s, v: add_tremor(speak(tmp, s, v))
    )
    assert shaky > calm + 0.2, f"calm {calm:.2f}, tremor {shaky:.2f}"


def test_calm_speech_against_own_baseline_is_not_distress(tmp: Path, baselines) -> None:
    cfg = CueConfig()
    for v in VOICES:
        for sent in TEST_SENTENCES:
            a, _ = assess_audio(speak(tmp, sent, v), 8000, baseline=baselines[v], config=cfg)
            assert a.baseline_used
            assert a.level == "none", (v, sent, a.distress, [c.to_dict() for c in a.cues])


def test_agitated_scores_higher_than_calm_cold_and_with_baseline(tmp: Path, baselines) -> None:
    cold_gain = []
    for v in VOICES:
        for sent in TEST_SENTENCES:
            for base in (baselines[v], None):
                calm, _ = assess_audio(speak(tmp, sent, v), 8000, baseline=base)
                agit, _ = assess_audio(speak(tmp, sent, v, p=80, s=210, a=190), 8000, baseline=base)
                assert agit.baseline_used == (base is not None)
                assert (base is None) == (agit.certainty < 0.5)
                if base is None:
                    cold_gain.append(agit.distress - calm.distress)
                else:  # against the caller's own voice, every agitated rendition stands out
                    assert agit.distress > calm.distress + 0.3, (v, sent)
                    assert agit.level != "none"
    # Cold (population priors only) the signal is weaker, but there on average.
    assert float(np.mean(cold_gain)) > 0.1, cold_gain


def test_cue_spans_lie_within_the_utterance(tmp: Path, baselines) -> None:
    x = speak(tmp, TEST_SENTENCES[0], "en-us", a=200, s=220)
    a, r = assess_audio(x, 8000, baseline=baselines["en-us"], offset_s=10.0)
    assert a.cues
    for c in a.cues:
        assert 10.0 <= c.start_s <= c.end_s <= 10.0 + r.features.duration_s + 0.01
        assert 0.0 < c.strength <= 1.0
        assert c.evidence


def test_baseline_round_trip_and_robustness(tmp: Path, baselines) -> None:
    b = baselines["en-us"]
    data = json.loads(json.dumps(b.to_dict()))
    b2 = CallerBaseline.from_dict(data)
    assert b2.utterances == b.utterances == len(BASELINE_SENTENCES)
    for name in b.priors:
        assert b2.expect(name) == pytest.approx(b.expect(name))
    with pytest.raises(ValueError):
        CallerBaseline.from_dict({"version": 999})
    # One utterance does not make the spread tiny: spreads keep their floor/prior.
    one = CallerBaseline()
    f = extract_prosody(speak(tmp, TEST_SENTENCES[0], "en-us"), 8000).features
    one.update(f)
    for name, prior in one.priors.items():
        assert one.expect(name)[1] >= prior.min_sd
    # A wild utterance moves the mean by a bounded amount once two are known.
    mean_before = b2.expect("rms_mean_db")[0]
    wild = dict(f.to_dict(), rms_mean_db=f.rms_mean_db + 60.0)
    b2.update(wild)
    assert b2.expect("rms_mean_db")[0] - mean_before < 5.0


def test_tracker_learns_calm_start_then_flags_agitation(tmp: Path) -> None:
    tr = CueTracker()
    for sent in BASELINE_SENTENCES[:3]:
        a, _ = tr.assess(speak(tmp, sent, "en-gb+f3"), 8000, text="my account please")
        assert a.level == "none"
    assert tr.baseline.utterances == 3
    saved = tr.baseline.to_dict()
    tr2 = CueTracker(baseline=saved)  # next call, baseline from the profile
    a, feats = tr2.assess(
        speak(tmp, TEST_SENTENCES[0], "en-gb+f3", p=80, s=210, a=190).astype("<i2").tobytes(),
        8000,
        text="please help me",
    )
    assert a.baseline_used and a.level == "high"
    assert "asking_for_help" in a.contributions
    assert tr2.baseline.utterances == 3  # agitated speech is not learned
    # Repeated "what?" across utterances becomes a confusion cue.
    x = speak(tmp, "what", "en-gb+f3")
    tr2.assess(x, 8000, text="what?")
    a2, _ = tr2.assess(x, 8000, text="what")
    assert a2.strength("confusion") > 0


def test_fuse_contributions_explain_the_score() -> None:
    cues = [Cue("raised_voice", 1.0, 0, 1, "x"), Cue("pain", 0.5, 0, 1, "y", "lexical")]
    cfg = CueConfig()
    a = fuse(cues, cfg)
    w = cfg.weights
    assert a.contributions == pytest.approx(
        {"raised_voice": w["raised_voice"], "pain": 0.5 * w["pain"]}
    )
    expect = 1 - (1 - w["raised_voice"]) * (1 - 0.5 * w["pain"])
    assert a.distress == pytest.approx(expect)
    assert fuse([], cfg).distress == 0.0
    assert isinstance(a, Assessment) and a.to_dict()["distress"] == pytest.approx(expect, abs=1e-4)


def _cli() -> typer.Typer:
    from ivr.commands.cues import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """test root"""

    return app


def test_cli_json_has_distress_and_baseline_and_plot(tmp: Path) -> None:
    paths = []
    for i, sent in enumerate(BASELINE_SENTENCES[:2]):
        p = tmp / f"base{i}.wav"
        write_wav(p, Audio(speak(tmp, sent, "en-us"), 8000))
        paths.append(p)
    target = tmp / "target.wav"
    write_wav(target, Audio(speak(tmp, TEST_SENTENCES[0], "en-us", a=200, s=220), 8000))
    png = tmp / "plot.png"
    saved = tmp / "baseline.json"
    args = ["cues", str(target), "--json", "--plot", str(png), "--text", "I fell down"]
    for p in paths:
        args += ["--baseline", str(p)]
    res = CliRunner().invoke(_cli(), [*args, "--save-baseline", str(saved)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert 0.0 <= out["distress"] <= 1.0 and out["baseline_used"] is True
    assert {c["name"] for c in out["cues"]} >= {"fall", "raised_voice"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert CallerBaseline.from_dict(json.loads(saved.read_text())).utterances == 2
    # The saved baseline gives the same score.
    res2 = CliRunner().invoke(
        _cli(), ["cues", str(target), "--json", "--text", "I fell down", "--baseline", str(saved)]
    )
    assert json.loads(res2.stdout)["distress"] == pytest.approx(out["distress"])
    # Rich output without --json.
    res3 = CliRunner().invoke(_cli(), ["cues", str(target)])
    assert res3.exit_code == 0 and "distress" in res3.stdout


def test_cli_bad_file_exits_2(tmp: Path) -> None:
    bad = tmp / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    res = CliRunner().invoke(_cli(), ["cues", str(bad), "--json"])
    assert res.exit_code == 2
    assert "not a WAV" in res.output
    res = CliRunner().invoke(_cli(), ["cues", str(tmp / "missing.wav")])
    assert res.exit_code == 2 and "no such file" in res.output
