"""Drawings of one recording's cues: pitch, loudness and cue strengths over time (matplotlib,
Agg backend, so it works without a display)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech.cues.assess import PROSODIC_CUES, CueConfig, prosodic_cues
from speech.cues.baseline import CallerBaseline
from speech.cues.types import Assessment
from speech.prosody import ProsodyConfig, ProsodyError, ProsodyResult, extract_prosody


@dataclass(frozen=True)
class CueTimeline:
    """Prosodic cue strengths on sliding windows: `times` are window centres (s) and
    `strengths[name]` one value per window."""

    times: np.ndarray
    strengths: dict[str, np.ndarray]


def cue_timeline(
    samples: np.ndarray,
    sample_rate: int,
    baseline: CallerBaseline | None = None,
    *,
    window_s: float = 2.0,
    hop_s: float = 0.5,
    config: CueConfig | None = None,
    prosody_config: ProsodyConfig | None = None,
) -> CueTimeline:
    """Prosodic cues measured on `window_s` windows every `hop_s` seconds."""
    n = len(samples)
    win = min(n, int(window_s * sample_rate))
    hop = max(1, int(hop_s * sample_rate))
    starts = list(range(0, max(1, n - win + 1), hop)) or [0]
    times: list[float] = []
    strengths: dict[str, list[float]] = {c: [] for c in PROSODIC_CUES}
    for s in starts:
        try:
            r = extract_prosody(samples[s : s + win], sample_rate, config=prosody_config)
        except ProsodyError:
            continue
        got = {c.name: c.strength for c in prosodic_cues(r, baseline, config)}
        times.append((s + win / 2) / sample_rate)
        for name in PROSODIC_CUES:
            strengths[name].append(got.get(name, 0.0))
    return CueTimeline(np.array(times), {k: np.array(v) for k, v in strengths.items()})


def plot_cues(
    result: ProsodyResult,
    assessment: Assessment,
    path: str | Path,
    *,
    timeline: CueTimeline | None = None,
    title: str = "",
) -> Path:
    """Draw pitch, loudness and cue strengths over time into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = result.tracks
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    ax_f0, ax_rms, ax_cue = axes
    ax_f0.plot(tr.times, tr.f0_hz, ".", markersize=2, color="tab:blue")
    ax_f0.set_ylabel("pitch (Hz)")
    ax_f0.set_title(title or f"distress {assessment.distress:.2f} ({assessment.level})")
    ax_rms.plot(tr.times, tr.rms_db, color="tab:green", linewidth=1)
    for s, e in tr.pauses:
        ax_rms.axvspan(s, e, color="0.85")
    ax_rms.set_ylabel("level (dBFS)")
    if timeline is not None and len(timeline.times):
        for name, vals in timeline.strengths.items():
            if vals.max(initial=0) > 0:
                ax_cue.plot(timeline.times, vals, marker="o", markersize=3, label=name)
    for i, c in enumerate(assessment.cues):
        ax_cue.hlines(c.strength, c.start_s, c.end_s, linewidth=5, alpha=0.5, color=f"C{i % 10}")
        ax_cue.text(c.start_s, c.strength + 0.03, c.name, fontsize=7)
    ax_cue.set_ylim(0, 1.1)
    ax_cue.set_ylabel("cue strength")
    ax_cue.set_xlabel("time (s)")
    if ax_cue.get_legend_handles_labels()[0]:
        ax_cue.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
