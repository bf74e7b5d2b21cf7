"""Prosody features of one utterance on the telephone band (8 kHz), with librosa.

`extract_prosody(samples, sample_rate)` returns a `ProsodyFeatures` record (pitch, loudness,
speaking rate, pauses, voice instability, spectral tilt) and frame-level tracks for plotting.
Audio at other rates is resampled to `ProsodyConfig.sample_rate` first.

How each feature is measured (10 ms hop, all on the 8 kHz signal):

- Pitch: `librosa.yin` between `fmin` and `fmax` (wide enough for older low male and high
  female voices; no absolute pitch threshold is used anywhere else). A frame is voiced when it is
  active (see below) and its normalised autocorrelation at the YIN period is at least
  `voicing_threshold`. Level and spread are in semitones re 100 Hz, so every pitch measure is a
  ratio and comparable across voices.
- Activity: frame RMS level (dBFS) above max(`floor_dbfs`, utterance p95 - `active_range_db`).
- Loudness: mean, spread and p90 of the frame RMS level (dBFS) over active frames.
- Speaking rate: syllable-like nuclei (peaks of the smoothed 300-2500 Hz band energy that stand
  out by `nucleus_prominence_db` and lie in voiced frames) per second of voiced time.
- Pauses: inactive runs of at least `min_pause_s` between the first and last stretch of
  speech (active frames including voiced ones; breaths and clicks around the words do not
  count), or the durations given by the endpointer (`UtteranceEnded.pauses`).
- Instability: frame jitter (mean |change of period| between consecutive voiced frames relative
  to the period), frame shimmer (mean |change of level| in dB), tremor (standard deviation of
  the 3-12 Hz band of the pitch contour in semitones and of the level contour in dB, estimated
  robustly from the median absolute deviation, within voiced stretches of at least 0.25 s
  after bridging unvoiced gaps up to 60 ms and clamping octave slips).
- Spectral tilt: level of 1-4 kHz relative to 0-1 kHz (dB) over voiced frames; a raised,
  effortful voice has a flatter spectrum (higher value).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from speech.resample import resample_array


class ProsodyError(ValueError):
    """The audio cannot be measured (empty, too short, wrong shape); the message says why."""


@dataclass(frozen=True)
class ProsodyConfig:
    """Analysis parameters. Defaults suit 8 kHz telephone speech of older callers."""

    sample_rate: int = 8000
    hop_s: float = 0.01
    frame_length: int = 512  # samples at sample_rate for YIN (>= 2 periods of fmin)
    fmin: float = 60.0
    fmax: float = 450.0
    voicing_threshold: float = 0.45
    floor_dbfs: float = -55.0
    active_range_db: float = 35.0
    min_pause_s: float = 0.25
    nucleus_prominence_db: float = 2.5
    nucleus_min_gap_s: float = 0.08
    tremor_band_hz: tuple[float, float] = (3.0, 12.0)
    min_voiced_run_s: float = 0.25
    tremor_max_gap_s: float = 0.06
    min_duration_s: float = 0.2

    @property
    def hop_length(self) -> int:
        """Hop in samples."""
        return max(1, int(round(self.hop_s * self.sample_rate)))


@dataclass(frozen=True)
class ProsodyFeatures:
    """Prosody of one utterance. Pitch in semitones re 100 Hz (and Hz for display), levels in
    dBFS, times in seconds. NaN means "could not be measured" (e.g. no voiced frames)."""

    duration_s: float
    speech_s: float
    voiced_s: float
    voiced_fraction: float  # voiced frames / active frames
    f0_mean_hz: float
    f0_median_st: float  # semitones re 100 Hz
    f0_range_st: float  # p90 - p10, semitones
    f0_sd_st: float  # standard deviation, semitones
    rms_mean_db: float
    rms_sd_db: float
    rms_p90_db: float
    speaking_rate: float  # syllable nuclei per voiced second
    pause_ratio: float  # pause time / (speech + pause time)
    pause_mean_s: float
    pause_max_s: float
    n_pauses: int
    jitter: float  # relative, e.g. 0.02 = 2 %
    shimmer_db: float
    tremor_f0_st: float
    tremor_amp_db: float
    spectral_tilt_db: float  # 1-4 kHz minus 0-1 kHz level

    def to_dict(self) -> dict[str, float | None]:
        """Plain JSON-safe dict; NaN (not measured) becomes None."""
        return {
            k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in asdict(self).items()
        }


FEATURE_NAMES = tuple(f.name for f in fields(ProsodyFeatures))


@dataclass(frozen=True)
class ProsodyTracks:
    """Frame-level tracks for plotting: frame centre times (s), F0 (Hz, NaN when unvoiced),
    RMS level (dBFS), voiced and active masks, syllable nucleus times and pause spans (s)."""

    times: np.ndarray
    f0_hz: np.ndarray
    rms_db: np.ndarray
    voiced: np.ndarray
    active: np.ndarray
    nuclei_s: np.ndarray
    pauses: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ProsodyResult:
    """Features plus the tracks they came from."""

    features: ProsodyFeatures
    tracks: ProsodyTracks


def _to_float(samples: np.ndarray, sample_rate: int, config: ProsodyConfig) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ProsodyError(f"expected mono audio (1-D array), got shape {x.shape}")
    if sample_rate <= 0:
        raise ProsodyError(f"sample rate must be positive, got {sample_rate}")
    if x.dtype == np.int16:
        y = x.astype(np.float32) / 32768.0
    elif np.issubdtype(x.dtype, np.floating):
        y = x.astype(np.float32)
    else:
        raise ProsodyError(f"expected int16 or float samples, got {x.dtype}")
    if sample_rate != config.sample_rate:
        y = resample_array(y, sample_rate, config.sample_rate).astype(np.float32)
    if len(y) < config.min_duration_s * config.sample_rate:
        raise ProsodyError(
            f"audio too short to measure: {len(y) / config.sample_rate:.3f} s "
            f"(need {config.min_duration_s} s)"
        )
    if not np.all(np.isfinite(y)):
        raise ProsodyError("audio contains NaN or infinite samples")
    return y


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end_exclusive) of each run of True."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or len(x) == 0:
        return x.copy()
    k = np.ones(n) / n
    pad = n // 2
    xp = np.pad(x, (pad, n - 1 - pad), mode="edge")
    return np.convolve(xp, k, mode="valid")


def _band(x: np.ndarray, frame_rate: float, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Crude band-pass by difference of moving averages (keeps lo..hi Hz modulations)."""
    n_hi = max(1, int(round(frame_rate / hi_hz)))
    n_lo = max(n_hi + 1, int(round(frame_rate / lo_hz)))
    return _smooth(x, n_hi) - _smooth(x, n_lo)


def _nanstat(fn: Callable[[np.ndarray], Any], x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(fn(x)) if x.size else float("nan")


def _robust_sd(x: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (resists outliers)."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def extract_prosody(
    samples: np.ndarray,
    sample_rate: int,
    *,
    pauses: list[float] | None = None,
    config: ProsodyConfig | None = None,
) -> ProsodyResult:
    """Measure the prosody of one utterance (mono int16 or float samples at `sample_rate`).

    `pauses` (seconds), when given, are the endpointer's intra-utterance pauses and replace the
    pause durations derived from the audio. Raises `ProsodyError` on unusable audio.
    """
    import librosa

    cfg = config or ProsodyConfig()
    y = _to_float(samples, sample_rate, cfg)
    sr = cfg.sample_rate
    hop = cfg.hop_length
    n_frame = cfg.frame_length
    frame_rate = sr / hop
    duration = len(y) / sr

    padded = np.pad(y, (n_frame // 2, n_frame // 2))
    frames = librosa.util.frame(padded, frame_length=n_frame, hop_length=hop)  # (n_frame, T)
    n_t = frames.shape[1]
    times = np.arange(n_t) * hop / sr

    # Level on a 25 ms window around each frame centre.
    win = int(0.025 * sr)
    c0 = n_frame // 2 - win // 2
    core = frames[c0 : c0 + win]
    rms = np.sqrt(np.mean(core.astype(np.float64) ** 2, axis=0))
    rms_db = 20.0 * np.log10(np.maximum(rms, 1e-7))
    ref = float(np.percentile(rms_db, 95))
    active = rms_db > max(cfg.floor_dbfs, ref - cfg.active_range_db)

    # Pitch (YIN) and a voicing decision from the normalised autocorrelation at the YIN period.
    f0 = librosa.yin(
        y, fmin=cfg.fmin, fmax=cfg.fmax, sr=sr, frame_length=n_frame, hop_length=hop, center=True
    )[:n_t]
    if len(f0) < n_t:
        f0 = np.pad(f0, (0, n_t - len(f0)), constant_values=np.nan)
    spec_acf = np.fft.rfft(frames * np.hanning(n_frame)[:, None], n=2 * n_frame, axis=0)
    acf = np.fft.irfft(np.abs(spec_acf) ** 2, axis=0)[:n_frame]
    # Unbias the autocorrelation of the Hann-windowed frame by the window's own autocorrelation.
    w = np.hanning(n_frame)
    wspec = np.fft.rfft(w, n=2 * n_frame)
    wacf = np.fft.irfft(np.abs(wspec) ** 2)[:n_frame]
    wacf = np.maximum(wacf / wacf[0], 1e-3)
    lag = np.clip(
        np.round(sr / np.where(np.isfinite(f0), f0, cfg.fmax)).astype(int), 1, n_frame - 1
    )
    r0 = np.maximum(acf[0], 1e-12)
    r_t = acf[lag, np.arange(n_t)] / r0 / wacf[lag]
    edge = (f0 <= cfg.fmin * 1.02) | (f0 >= cfg.fmax * 0.98)
    voiced = active & (r_t >= cfg.voicing_threshold) & np.isfinite(f0) & ~edge
    # Drop isolated voiced frames (clicks) shorter than 30 ms.
    for s, e in _runs(voiced):
        if e - s < 3:
            voiced[s:e] = False
    f0_track = np.where(voiced, f0, np.nan)
    st = 12.0 * np.log2(np.where(voiced, f0, 100.0) / 100.0)
    st_v = st[voiced]

    # Spectral band energies (0-1 kHz, 1-4 kHz; 300-2500 Hz for syllable nuclei).
    core_w = core * np.hanning(win)[:, None]
    spec = np.abs(np.fft.rfft(core_w, n=256, axis=0)) ** 2
    freqs = np.fft.rfftfreq(256, 1.0 / sr)
    low = spec[(freqs >= 50) & (freqs < 1000)].sum(axis=0) + 1e-12
    high = spec[(freqs >= 1000) & (freqs <= 4000)].sum(axis=0) + 1e-12
    mid = spec[(freqs >= 300) & (freqs <= 2500)].sum(axis=0) + 1e-12
    tilt = 10.0 * np.log10(high / low)

    # Syllable-like nuclei.
    from scipy.signal import find_peaks

    env = _smooth(10.0 * np.log10(mid), max(1, int(round(0.04 * frame_rate))))
    peaks, _ = find_peaks(
        env,
        prominence=cfg.nucleus_prominence_db,
        distance=max(1, int(round(cfg.nucleus_min_gap_s * frame_rate))),
    )
    peaks = peaks[voiced[peaks]]
    voiced_s = float(voiced.sum()) / frame_rate
    speaking_rate = len(peaks) / voiced_s if voiced_s >= 0.1 else float("nan")

    # Pauses: inactive runs between the first and last *speech* run (an active run with voiced
    # frames), so a breath or click before or after the words does not make a pause.
    speech_runs = [(s, e) for s, e in _runs(active) if voiced[s:e].any()]
    pause_spans: list[tuple[float, float]] = []
    if speech_runs:
        first, last = speech_runs[0][0], speech_runs[-1][1] - 1
        inner = ~active[first : last + 1]
        for s, e in _runs(inner):
            if (e - s) / frame_rate >= cfg.min_pause_s:
                pause_spans.append(((first + s) / frame_rate, (first + e) / frame_rate))
        span_s = (last + 1 - first) / frame_rate
    else:
        span_s = 0.0
    pause_list = (
        [float(p) for p in pauses] if pauses is not None else [e - s for s, e in pause_spans]
    )
    pause_total = float(sum(pause_list))
    speech_s = max(0.0, span_s - sum(e - s for s, e in pause_spans))
    pause_ratio = pause_total / (speech_s + pause_total) if speech_s + pause_total > 0 else 0.0

    # Instability within voiced runs.
    d_period: list[np.ndarray] = []
    d_level: list[np.ndarray] = []
    trem_f0: list[np.ndarray] = []
    trem_amp: list[np.ndarray] = []
    min_run = int(round(cfg.min_voiced_run_s * frame_rate))
    lo_hz, hi_hz = cfg.tremor_band_hz
    for s, e in _runs(voiced):
        period = 1.0 / f0[s:e]
        d_period.append(np.abs(np.diff(period)) / np.mean(period))
        d_level.append(np.abs(np.diff(rms_db[s:e])))
    # Tremor on voiced stretches with short unvoiced gaps bridged, octave slips clamped.
    bridged = voiced.copy()
    max_gap = int(round(cfg.tremor_max_gap_s * frame_rate))
    vr = _runs(voiced)
    for (_, e1), (s2, _) in zip(vr[:-1], vr[1:], strict=True):
        if s2 - e1 <= max_gap:
            bridged[e1:s2] = True
    idx = np.arange(n_t)
    for s, e in _runs(bridged):
        if e - s < min_run:
            continue
        v = voiced[s:e]
        st_run = np.interp(idx[s:e], idx[s:e][v], st[s:e][v])
        med = float(np.median(st_run))
        st_run = np.clip(st_run, med - 6.0, med + 6.0)
        db_run = np.interp(idx[s:e], idx[s:e][v], rms_db[s:e][v])
        trem_f0.append(_band(st_run, frame_rate, lo_hz, hi_hz)[v])
        trem_amp.append(_band(db_run, frame_rate, lo_hz, hi_hz)[v])

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.array([])

    nan = float("nan")
    jit, shim, tf0, tamp = cat(d_period), cat(d_level), cat(trem_f0), cat(trem_amp)
    act_db = rms_db[active]
    feats = ProsodyFeatures(
        duration_s=round(duration, 4),
        speech_s=round(speech_s, 4),
        voiced_s=round(voiced_s, 4),
        voiced_fraction=float(voiced.sum() / max(1, active.sum())),
        f0_mean_hz=_nanstat(np.mean, f0[voiced]),
        f0_median_st=_nanstat(np.median, st_v),
        f0_range_st=(
            float(np.percentile(st_v, 90) - np.percentile(st_v, 10)) if st_v.size >= 5 else nan
        ),
        f0_sd_st=float(np.std(st_v)) if st_v.size >= 5 else nan,
        rms_mean_db=_nanstat(np.mean, act_db),
        rms_sd_db=_nanstat(np.std, act_db),
        rms_p90_db=float(np.percentile(act_db, 90)) if act_db.size else nan,
        speaking_rate=float(speaking_rate),
        pause_ratio=float(pause_ratio),
        pause_mean_s=float(np.mean(pause_list)) if pause_list else 0.0,
        pause_max_s=float(max(pause_list)) if pause_list else 0.0,
        n_pauses=len(pause_list),
        jitter=_nanstat(np.mean, jit),
        shimmer_db=_nanstat(np.mean, shim),
        tremor_f0_st=_robust_sd(tf0) if tf0.size >= 10 else nan,
        tremor_amp_db=_robust_sd(tamp) if tamp.size >= 10 else nan,
        spectral_tilt_db=_nanstat(np.mean, tilt[voiced]),
    )
    tracks = ProsodyTracks(
        times=times,
        f0_hz=f0_track,
        rms_db=rms_db,
        voiced=voiced,
        active=active,
        nuclei_s=peaks / frame_rate,
        pauses=pause_spans,
    )
    return ProsodyResult(feats, tracks)


def warm_up(config: ProsodyConfig | None = None) -> None:
    """Import librosa and compile its kernels now (about 1.5 s once per process), so the first
    caller utterance is not delayed; call at application start-up."""
    cfg = config or ProsodyConfig()
    rng = np.random.default_rng(0)
    t = np.arange(cfg.sample_rate) / cfg.sample_rate
    tone = 0.1 * np.sin(2 * np.pi * 150.0 * t) + 0.01 * rng.standard_normal(len(t))
    extract_prosody(tone.astype(np.float32), cfg.sample_rate, config=cfg)
