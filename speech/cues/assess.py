"""Named prosodic cues, and the fused distress score.

Each prosodic cue is a weighted mean of feature deviations (z-scores against the caller's
baseline, or against weak population priors on a cold start), mapped linearly from
`z_on` (strength 0) to `z_full` (strength 1). The distress score fuses the cues as a noisy-OR,
``distress = 1 - prod(1 - weight_i * strength_i)``; each cue's contribution is
``weight_i * strength_i``, so an agent can see what made the score.

`CueTracker` is the per-call object: it measures each utterance, learns the caller's baseline
from the first calm utterances, keeps recent texts for the repeated-'what?' cue, and returns an
`Assessment`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from speech.cues.baseline import CallerBaseline
from speech.cues.lexical import PhraseBook, lexical_cues
from speech.cues.types import Assessment, Cue
from speech.prosody import ProsodyConfig, ProsodyFeatures, ProsodyResult, extract_prosody

PROSODIC_CUES = (
    "raised_voice",
    "high_pitch",
    "speaking_fast",
    "speaking_slowly",
    "long_silences",
    "trembling_voice",
    "flat_low_energy",
)

# Each prosodic cue: one or more groups of feature -> sign and weight of its deviation. A
# group's score is the weighted mean of its deviations; the cue takes its strongest group.
CUE_FEATURES: dict[str, list[dict[str, float]]] = {
    "raised_voice": [
        {"rms_mean_db": 1.0, "rms_p90_db": 1.0, "rms_sd_db": 1.0, "spectral_tilt_db": 1.0}
    ],
    "high_pitch": [{"f0_median_st": 1.0}],
    "speaking_fast": [{"speaking_rate": 1.0}],
    "speaking_slowly": [{"speaking_rate": -1.0, "pause_mean_s": 0.5}],
    "long_silences": [{"pause_max_s": 1.0, "pause_ratio": 1.0}],
    "trembling_voice": [
        # 3-12 Hz wobble of pitch (and, less reliably since syllables also modulate it, level)
        {"tremor_f0_st": 1.0, "tremor_amp_db": 0.25},
        {"jitter": 1.0, "shimmer_db": 0.5},  # cycle-to-cycle irregularity
    ],
    "flat_low_energy": [{"rms_mean_db": -1.0, "f0_range_st": -1.0, "rms_sd_db": -0.5}],
}


@dataclass(frozen=True)
class CueConfig:
    """Weights and thresholds (the application loads them from its settings).

    The distress thresholds differ with and without a caller baseline (deviations from
    population priors are smaller, so cold scores run lower). Defaults come from
    leave-actors-out cross-validation in bench/cues.py on acted speech (RAVDESS, angry/fearful
    against neutral, 8 kHz mu-law): "elevated" is the median over folds of the threshold that
    maximises training balanced accuracy (0.586 with a per-speaker baseline, 0.255 cold);
    "high" is the median threshold keeping training false alarms at or below 2.5 % (0.75 with
    a baseline), but at least elevated + 0.15 (cold: 0.40). Only these four numbers come from
    that data; nothing is trained on it. Re-run the bench after changing features or weights.
    """

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "raised_voice": 0.6,
            "high_pitch": 0.5,
            "speaking_fast": 0.3,
            "speaking_slowly": 0.3,
            "long_silences": 0.3,
            "trembling_voice": 0.5,
            "flat_low_energy": 0.3,
            "asking_for_help": 0.9,
            "pain": 0.8,
            "fall": 0.9,
            "fear": 0.7,
            "confusion": 0.4,
            "scam": 0.8,
        }
    )
    z_on: float = 1.0  # deviation (spreads) at which a prosodic cue starts
    z_full: float = 3.0  # deviation at which it is at full strength
    cold_z_scale: float = 1.0  # extra factor on cold-start deviations (population priors)
    min_strength: float = 0.05  # weaker cues are not reported
    distress_elevated: float = 0.59  # with a baseline (CV on RAVDESS, see above)
    distress_high: float = 0.75
    distress_elevated_cold: float = 0.25  # without one (CV on RAVDESS, see above)
    distress_high_cold: float = 0.40
    baseline_utterances: int = 3  # utterances learned into the baseline at the start of a call
    certainty_cold: float = 0.4

    def level(self, distress: float, baseline_used: bool = True) -> str:
        """ "none", "elevated" or "high" for a distress score."""
        high = self.distress_high if baseline_used else self.distress_high_cold
        elevated = self.distress_elevated if baseline_used else self.distress_elevated_cold
        if distress >= high:
            return "high"
        if distress >= elevated:
            return "elevated"
        return "none"


def _fmt(name: str, value: float, mean: float, sd: float, z: float) -> str:
    unit = {
        "rms_mean_db": " dBFS",
        "rms_p90_db": " dBFS",
        "spectral_tilt_db": " dB",
        "f0_median_st": " st",
        "speaking_rate": " syl/s",
        "pause_mean_s": " s",
        "pause_max_s": " s",
        "tremor_f0_st": " st",
        "tremor_amp_db": " dB",
        "shimmer_db": " dB",
        "f0_sd_st": " st",
        "f0_range_st": " st",
        "rms_sd_db": " dB",
    }.get(name, "")
    return f"{name} {value:.3g}{unit} vs usual {mean:.3g}±{sd:.2g} ({z:+.1f} sd)"


def _window(
    times: np.ndarray, values: np.ndarray, mask: np.ndarray, win_s: float, highest: bool
) -> tuple[float, float] | None:
    """The `win_s` stretch whose masked mean of `values` is highest (or lowest)."""
    if not mask.any():
        return None
    hop = float(times[1] - times[0]) if len(times) > 1 else 0.01
    n = max(1, int(round(win_s / hop)))
    v = np.where(mask, values, 0.0)
    m = mask.astype(float)
    k = np.ones(n)
    sv, sm = np.convolve(v, k, "same"), np.convolve(m, k, "same")
    ok = sm >= max(1.0, 0.6 * min(n, int(m.sum())))
    if not ok.any():
        return None
    mean = np.where(ok, sv / np.maximum(sm, 1), -np.inf if highest else np.inf)
    i = int(np.argmax(mean) if highest else np.argmin(mean))
    lo, hi = max(0, i - n // 2), min(len(times), i + n - n // 2)
    inside = np.flatnonzero(mask[lo:hi]) + lo
    return float(times[inside[0]]), float(times[inside[-1]])


def prosodic_cues(
    result: ProsodyResult,
    baseline: CallerBaseline | None,
    config: CueConfig | None = None,
    *,
    offset_s: float = 0.0,
) -> list[Cue]:
    """The prosodic cues of one measured utterance against `baseline` (None or empty: cold
    start against population priors). Times are shifted by `offset_s` (e.g. the utterance's
    start in the call)."""
    cfg = config or CueConfig()
    base = baseline if baseline is not None else CallerBaseline()
    cold = base.empty
    feats = result.features.to_dict()
    tr = result.tracks
    act = np.flatnonzero(tr.voiced) if tr.voiced.any() else np.flatnonzero(tr.active)
    if act.size:
        span = (float(tr.times[act[0]]), float(tr.times[act[-1]]))
    else:
        span = (0.0, result.features.duration_s)
    out: list[Cue] = []
    for cue, groups in CUE_FEATURES.items():
        best: tuple[float, list[tuple[float, str]]] | None = None
        for weights in groups:
            num = den = 0.0
            parts: list[tuple[float, str]] = []
            for name, w in weights.items():
                v = feats.get(name)
                if v is None or not math.isfinite(v):
                    continue
                z = base.z(name, v) * (cfg.cold_z_scale if cold else 1.0)
                num += w * z
                den += abs(w)
                mean, sd = base.expect(name)
                parts.append((w * z, _fmt(name, v, mean, sd, z)))
            if den > 0 and (best is None or num / den > best[0]):
                best = (num / den, parts)
        if best is None:
            continue
        score, parts = best
        strength = min(1.0, max(0.0, (score - cfg.z_on) / (cfg.z_full - cfg.z_on)))
        if strength < cfg.min_strength:
            continue
        parts.sort(key=lambda p: -p[0])
        evidence = "; ".join(text for c, text in parts if c > 0) or parts[0][1]
        if cold:
            evidence += " [no baseline: population priors]"
        where: tuple[float, float] | None = None
        if cue == "raised_voice":
            where = _window(tr.times, tr.rms_db, tr.active, 1.0, True)
        elif cue == "flat_low_energy":
            where = None
        elif cue == "high_pitch":
            f0 = np.nan_to_num(tr.f0_hz)
            where = _window(tr.times, f0, tr.voiced, 1.0, True)
        elif cue == "long_silences" and tr.pauses:
            where = max(tr.pauses, key=lambda p: p[1] - p[0])
        elif cue == "trembling_voice":
            f0 = np.nan_to_num(tr.f0_hz)
            d = np.abs(np.diff(f0, prepend=f0[0])) / np.maximum(f0, 1.0)
            where = _window(tr.times, d, tr.voiced, 1.0, True)
        s, e = where or span
        out.append(Cue(cue, strength, s + offset_s, e + offset_s, evidence, "prosody"))
    return out


def fuse(
    cues: Sequence[Cue],
    config: CueConfig | None = None,
    *,
    baseline_used: bool = False,
    certainty: float = 1.0,
    features: Mapping[str, float | None] | None = None,
) -> Assessment:
    """Fuse cues into one distress score (noisy-OR of weight x strength per cue name; the
    strongest cue of each name counts)."""
    cfg = config or CueConfig()
    best: dict[str, float] = {}
    for c in cues:
        best[c.name] = max(best.get(c.name, 0.0), c.strength)
    contributions: dict[str, float] = {}
    keep = 1.0
    for name, s in best.items():
        c = min(1.0, max(0.0, cfg.weights.get(name, 0.0) * s))
        if c > 0:
            contributions[name] = c
            keep *= 1.0 - c
    distress = 1.0 - keep
    contributions = dict(sorted(contributions.items(), key=lambda kv: -kv[1]))
    return Assessment(
        distress=distress,
        cues=sorted(cues, key=lambda c: -c.strength),
        contributions=contributions,
        baseline_used=baseline_used,
        certainty=certainty,
        level=cfg.level(distress, baseline_used),
        features=dict(features or {}),
    )


def assess_audio(
    samples: np.ndarray,
    sample_rate: int,
    *,
    text: str | None = None,
    baseline: CallerBaseline | None = None,
    pauses: list[float] | None = None,
    recent_texts: Sequence[str] = (),
    languages: Iterable[str] | None = None,
    offset_s: float = 0.0,
    config: CueConfig | None = None,
    prosody_config: ProsodyConfig | None = None,
    phrasebook: PhraseBook | None = None,
) -> tuple[Assessment, ProsodyResult]:
    """Measure one utterance and assess it: prosodic cues against `baseline` plus lexical cues
    from `text`. Returns the assessment and the prosody (features and tracks)."""
    cfg = config or CueConfig()
    result = extract_prosody(samples, sample_rate, pauses=pauses, config=prosody_config)
    cues = prosodic_cues(result, baseline, cfg, offset_s=offset_s)
    if text:
        span = (offset_s, offset_s + result.features.duration_s)
        cues += lexical_cues(
            text,
            start_s=span[0],
            end_s=span[1],
            recent_texts=recent_texts,
            languages=languages,
            book=phrasebook,
        )
    used = baseline is not None and not baseline.empty
    n = baseline.utterances if used and baseline is not None else 0
    certainty = cfg.certainty_cold + (1.0 - cfg.certainty_cold) * (n / (n + 2.0))
    return (
        fuse(
            cues,
            cfg,
            baseline_used=used,
            certainty=certainty,
            features=result.features.to_dict(),
        ),
        result,
    )


class CueTracker:
    """Per-call cue state: the caller's baseline (learned from the first calm utterances of the
    call, or restored from the profile) and recent texts. Not thread-safe; one per call."""

    def __init__(
        self,
        baseline: CallerBaseline | Mapping | None = None,
        config: CueConfig | None = None,
        *,
        languages: Iterable[str] | None = None,
        prosody_config: ProsodyConfig | None = None,
        phrasebook: PhraseBook | None = None,
        history: int = 4,
    ) -> None:
        if isinstance(baseline, Mapping):
            baseline = CallerBaseline.from_dict(baseline)
        self.baseline: CallerBaseline = baseline or CallerBaseline()
        self.config = config or CueConfig()
        self.languages = list(languages) if languages is not None else None
        self.prosody_config = prosody_config
        self.phrasebook = phrasebook
        self._learned_this_call = 0
        self._recent: list[str] = []
        self._history = history

    @property
    def learned_this_call(self) -> int:
        """Utterances of this call learned into the baseline so far."""
        return self._learned_this_call

    def assess(
        self,
        samples: np.ndarray | bytes,
        sample_rate: int,
        *,
        text: str | None = None,
        pauses: list[float] | None = None,
        offset_s: float = 0.0,
        learn: bool = True,
    ) -> tuple[Assessment, ProsodyFeatures]:
        """Assess one caller utterance (int16 array or PCM16 bytes). While fewer than
        `config.baseline_utterances` have been learned this call and the utterance is calm
        (distress level "none"), it is added to the baseline afterwards."""
        if isinstance(samples, bytes | bytearray):
            samples = np.frombuffer(bytes(samples), dtype="<i2")
        assessment, result = assess_audio(
            samples,
            sample_rate,
            text=text,
            baseline=self.baseline,
            pauses=pauses,
            recent_texts=self._recent,
            languages=self.languages,
            offset_s=offset_s,
            config=self.config,
            prosody_config=self.prosody_config,
            phrasebook=self.phrasebook,
        )
        if (
            learn
            and self._learned_this_call < self.config.baseline_utterances
            and assessment.level == "none"
            and result.features.voiced_s >= 0.3
        ):
            self.baseline.update(result.features)
            self._learned_this_call += 1
        if text is not None:
            self._recent = [*self._recent, text][-self._history :]
        return assessment, result.features
