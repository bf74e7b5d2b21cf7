"""On real acted speech (RAVDESS, read at run time from ../shared/data/ravdess), angry
recordings score higher than the same actor's neutral ones, through the telephone path (8 kHz,
G.711 mu-law), both cold and against a baseline of the actor's calm recordings."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from speech import mulaw
from speech.cues import CallerBaseline, assess_audio
from speech.prosody import extract_prosody
from speech.wav import read_wav

# ../shared/data/ravdess beside the checkout (CI lays a copy of shared/ there)
_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"
RAVDESS = Path(os.environ.get("IVR_RAVDESS_DIR", str(_DEFAULT)))
ACTORS = ["actor03", "actor08", "actor13", "actor18", "actor21", "actor24"]


def phone(path: Path) -> np.ndarray:
    audio = read_wav(path, rate=8000)
    return mulaw.decode_array(mulaw.encode_array(audio.samples))


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    labels = RAVDESS / "labels.csv"
    assert labels.is_file(), (
        f"RAVDESS recordings missing: {labels} not found (the shared data folder "
        f"{_DEFAULT} must be present; set IVR_RAVDESS_DIR to move it)"
    )
    return list(csv.DictReader(labels.open()))


def test_angry_scores_higher_than_same_actors_neutral(rows) -> None:
    diffs_cold, diffs_base = [], []
    for actor in ACTORS:
        mine = [r for r in rows if r["actor"] == actor]
        files = {
            e: [RAVDESS / r["file"] for r in mine if r["emotion"] == e]
            for e in ("neutral", "calm", "anger")
        }
        assert all(files.values()), f"{actor}: missing recordings in labels.csv"
        base = CallerBaseline()
        for f in files["calm"]:
            base.update(extract_prosody(phone(f), 8000).features)
        for baseline, diffs in ((None, diffs_cold), (base, diffs_base)):
            angry = [
                assess_audio(phone(f), 8000, baseline=baseline)[0].distress for f in files["anger"]
            ]
            neutral = [
                assess_audio(phone(f), 8000, baseline=baseline)[0].distress
                for f in files["neutral"]
            ]
            diffs.append(float(np.mean(angry) - np.mean(neutral)))
    # On average over actors, and for most actors individually.
    for name, diffs in (("cold", diffs_cold), ("baseline", diffs_base)):
        assert np.mean(diffs) > 0.15, (name, diffs)
        assert sum(d > 0 for d in diffs) >= len(diffs) - 1, (name, diffs)
