"""A caller's own normal voice: running robust mean and spread of each prosody feature.

Cues are deviations from this baseline, never from fixed absolute thresholds. Each feature has
a weak prior (`FeaturePrior`): a population mean and spread used on a cold start (no baseline
yet, so only large deviations count), and a typical *within-speaker* spread that keeps one or two
utterances from making the spread tiny and every later utterance look extreme. The baseline is
a plain dict when serialised (`to_dict`/`from_dict`) so it can be kept on the caller's profile.

The priors are generic values for conversational telephone speech; they were NOT fitted to the
evaluation recordings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from speech.prosody import ProsodyFeatures

BASELINE_VERSION = 1


@dataclass(frozen=True)
class FeaturePrior:
    """Prior for one feature: population mean and spread (between speakers and occasions), the
    typical spread within one speaker's calm speech, and a floor for any spread estimate."""

    mean: float
    pop_sd: float
    within_sd: float
    min_sd: float


# Generic priors (pitch in semitones re 100 Hz, levels in dBFS, rate in syllables per voiced s).
# Levels: the nominal telephone active speech level is about -26 dBov (ITU-T P.56 practice); the
# mean of frame levels in dB runs a few dB below the power mean, hence -30 dBFS, with a wide
# spread because handsets and lines differ.
DEFAULT_PRIORS: dict[str, FeaturePrior] = {
    "f0_median_st": FeaturePrior(6.0, 6.0, 1.0, 0.5),
    "f0_sd_st": FeaturePrior(2.5, 1.0, 0.5, 0.25),
    "f0_range_st": FeaturePrior(6.5, 2.5, 1.3, 0.6),
    "rms_mean_db": FeaturePrior(-30.0, 8.0, 2.0, 1.0),
    "rms_p90_db": FeaturePrior(-22.0, 8.0, 2.0, 1.0),
    "rms_sd_db": FeaturePrior(5.5, 2.0, 1.0, 0.5),
    "speaking_rate": FeaturePrior(6.0, 1.5, 0.8, 0.4),
    "pause_ratio": FeaturePrior(0.08, 0.12, 0.06, 0.04),
    "pause_mean_s": FeaturePrior(0.35, 0.35, 0.2, 0.1),
    "pause_max_s": FeaturePrior(0.45, 0.6, 0.3, 0.15),
    "jitter": FeaturePrior(0.015, 0.012, 0.006, 0.003),
    "shimmer_db": FeaturePrior(1.5, 0.45, 0.25, 0.12),
    "tremor_f0_st": FeaturePrior(0.45, 0.3, 0.15, 0.08),
    "tremor_amp_db": FeaturePrior(2.8, 1.4, 0.8, 0.4),
    "spectral_tilt_db": FeaturePrior(-14.0, 4.0, 1.5, 0.75),
    "voiced_fraction": FeaturePrior(0.85, 0.12, 0.06, 0.03),
}


@dataclass
class _Stat:
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0


@dataclass
class CallerBaseline:
    """Running per-feature statistics of one caller's calm speech.

    `update(features)` adds one utterance (NaN features are skipped; once two values are known,
    a new value is clipped to mean +- `clip_sd` spreads first, so one odd utterance cannot
    drag the baseline). `expect(name)` gives the (mean, spread) to compare against."""

    priors: dict[str, FeaturePrior] = field(default_factory=lambda: dict(DEFAULT_PRIORS))
    prior_weight: float = 0.1  # pseudo-utterances of the prior in the mean
    spread_weight: float = 2.0  # pseudo-utterances of `within_sd` in the spread
    clip_sd: float = 3.0
    utterances: int = 0
    stats: dict[str, _Stat] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when nothing has been learned yet (a cold start)."""
        return self.utterances == 0

    def update(self, features: ProsodyFeatures | Mapping[str, float | None]) -> None:
        """Learn one utterance of the caller's normal voice."""
        values = features.to_dict() if isinstance(features, ProsodyFeatures) else features
        for name in self.priors:
            v = values.get(name)
            if v is None or not math.isfinite(float(v)):
                continue
            v = float(v)
            st = self.stats.setdefault(name, _Stat())
            if st.n >= 2:
                mu, sd = self.expect(name)
                v = min(max(v, mu - self.clip_sd * sd), mu + self.clip_sd * sd)
            st.n += 1
            delta = v - st.mean
            st.mean += delta / st.n
            st.m2 += delta * (v - st.mean)
        self.utterances += 1

    def count(self, name: str) -> int:
        """How many utterances gave a value for `name`."""
        st = self.stats.get(name)
        return st.n if st else 0

    def expect(self, name: str) -> tuple[float, float]:
        """(mean, spread) expected for `name` from this caller: the population prior when
        nothing is known, else the caller's own values shrunk slightly towards the prior."""
        prior = self.priors[name]
        st = self.stats.get(name)
        if st is None or st.n == 0:
            return prior.mean, max(prior.pop_sd, prior.min_sd)
        k0, ks = self.prior_weight, self.spread_weight
        mean = (k0 * prior.mean + st.n * st.mean) / (k0 + st.n)
        var = (ks * prior.within_sd**2 + st.m2) / (ks + st.n - 1)
        return mean, max(math.sqrt(var), prior.min_sd)

    def z(self, name: str, value: float | None) -> float:
        """Deviation of `value` from this caller's normal, in spreads (0 when unmeasured)."""
        if value is None or not math.isfinite(float(value)) or name not in self.priors:
            return 0.0
        mean, sd = self.expect(name)
        return (float(value) - mean) / sd

    def to_dict(self) -> dict:
        """Serialisable form (kept on the caller's profile across calls)."""
        return {
            "version": BASELINE_VERSION,
            "utterances": self.utterances,
            "features": {
                k: {"n": s.n, "mean": s.mean, "m2": s.m2} for k, s in sorted(self.stats.items())
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping, priors: dict[str, FeaturePrior] | None = None
    ) -> CallerBaseline:
        """Rebuild a baseline from `to_dict()` output; unknown features are ignored."""
        if not isinstance(data, Mapping) or data.get("version") != BASELINE_VERSION:
            raise ValueError(f"not a caller baseline (version {BASELINE_VERSION}): {data!r:.80}")
        b = cls(priors=dict(priors or DEFAULT_PRIORS))
        b.utterances = int(data.get("utterances", 0))
        for k, s in dict(data.get("features", {})).items():
            if k in b.priors:
                n, mean, m2 = int(s["n"]), float(s["mean"]), float(s["m2"])
                if n < 0 or m2 < 0 or not (math.isfinite(mean) and math.isfinite(m2)):
                    raise ValueError(f"bad baseline statistics for {k}: {s!r}")
                b.stats[k] = _Stat(n, mean, m2)
        return b
