"""Benchmark of the emotion cues: does the distress score separate agitated from calm speech?

Sets:
  synthetic  espeak-ng renditions of the same sentences by several voices, calm (lower pitch,
             slower, normal amplitude) against agitated (higher pitch, faster, louder); the
             baseline is that voice's other calm sentences.
  ravdess    real acted speech (../shared/data/ravdess): angry and fearful against neutral.
             The per-speaker baseline is that actor's calm recordings plus the neutral one that
             is not being scored (for angry/fearful files, one neutral file, alternating).
All audio goes to 8 kHz and through G.711 mu-law as on a phone call.

Thresholds on the distress score are chosen by leave-actors-out cross-validation (6 folds of 4
actors; for synthetic, leave-one-voice-out): the threshold maximising balanced accuracy on the
training actors is applied to the held-out ones, so no actor is scored with a threshold chosen
on it. The naive baseline beside it is a loudness-only score (RMS level, or RMS level minus the
speaker's baseline level), cross-validated the same way.

Prints per set and condition: balanced accuracy, false-alarm rate on neutral/calm, the
cross-validated thresholds, and the cost in CPU seconds per audio second.

Run: .venv/bin/python bench/cues.py [--ravdess DIR] [--no-synthetic]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speech import mulaw  # noqa: E402
from speech.cues import CallerBaseline, CueConfig, fuse, prosodic_cues  # noqa: E402
from speech.prosody import ProsodyResult, extract_prosody, warm_up  # noqa: E402
from speech.wav import read_wav  # noqa: E402

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"
SENTENCES = [
    "I would like to check the balance on my account please.",
    "Can you tell me when my next payment is due?",
    "I called yesterday and nobody called me back.",
    "My card is not working at the shop.",
    "Please send the letter to my home address.",
    "I want to speak to someone about my bill.",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+f2", "en-us+m3", "en-gb-scotland"]
CALM = {"p": 40, "s": 140, "a": 90}
AGITATED = {"p": 75, "s": 210, "a": 180}


@dataclass
class Item:
    """One recording: its group (actor/voice), label, prosody, and baseline recordings."""

    group: str
    label: str  # "neutral" | "distress" | "base"
    key: str
    result: ProsodyResult
    audio_s: float
    cpu_s: float
    baseline_keys: list[str] = field(default_factory=list)
    tag: str = ""  # finer label (RAVDESS emotion)


def phone(samples: np.ndarray, rate: int) -> np.ndarray:
    """To 8 kHz and through G.711 mu-law and back."""
    from speech.resample import resample_array

    x = resample_array(samples, rate, 8000) if rate != 8000 else samples
    return mulaw.decode_array(mulaw.encode_array(x))


def measure(x: np.ndarray) -> tuple[ProsodyResult, float]:
    """Prosody of 8 kHz samples and the CPU seconds it took."""
    t0 = time.process_time()
    r = extract_prosody(x, 8000)
    return r, time.process_time() - t0


def load_ravdess(folder: Path, progress: Progress) -> dict[str, Item]:
    """Neutral, calm, angry and fearful recordings of every actor."""
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    rows = [r for r in rows if r["emotion"] in ("neutral", "calm", "anger", "fear")]
    items: dict[str, Item] = {}
    task = progress.add_task("ravdess: prosody", total=len(rows))
    for r in rows:
        a = read_wav(folder / r["file"])
        x = phone(a.samples, a.sample_rate)
        phone_cache[r["file"]] = x
        res, cpu = measure(x)
        label = {"neutral": "neutral", "calm": "base"}.get(r["emotion"], "distress")
        items[r["file"]] = Item(
            r["actor"], label, r["file"], res, len(x) / 8000, cpu, tag=r["emotion"]
        )
        progress.advance(task)
    by_actor: dict[str, list[Item]] = {}
    for it in items.values():
        by_actor.setdefault(it.group, []).append(it)
    for actor_items in by_actor.values():
        calm = sorted(i.key for i in actor_items if i.label == "base")
        neutral = sorted(i.key for i in actor_items if i.label == "neutral")
        k = 0
        for it in sorted(actor_items, key=lambda i: i.key):
            if it.label == "neutral":
                it.baseline_keys = calm + [n for n in neutral if n != it.key]
            elif it.label == "distress":
                it.baseline_keys = calm + [neutral[k % len(neutral)]] if neutral else calm
                k += 1
    return items


def espeak(text: str, voice: str, p: int, s: int, a: int, out: Path) -> np.ndarray:
    """Render `text` with espeak-ng and take it through the phone path."""
    cmd = ["espeak-ng", "-v", voice, "-p", str(p), "-s", str(s), "-a", str(a), "-w", str(out)]
    subprocess.run([*cmd, text], check=True, capture_output=True)
    audio = read_wav(out)
    return phone(audio.samples, audio.sample_rate)


def load_synthetic(progress: Progress) -> dict[str, Item]:
    """Calm and agitated espeak-ng renditions; calm ones of other sentences form the baseline."""
    items: dict[str, Item] = {}
    task = progress.add_task("synthetic: espeak-ng + prosody", total=len(VOICES) * len(SENTENCES))
    with tempfile.TemporaryDirectory() as tmp:
        for v in VOICES:
            for i, sent in enumerate(SENTENCES):
                for label, pr in (("neutral", CALM), ("distress", AGITATED)):
                    x = espeak(sent, v, pr["p"], pr["s"], pr["a"], Path(tmp) / "x.wav")
                    res, cpu = measure(x)
                    key = f"{v}/{i}/{label}"
                    items[key] = Item(v, label, key, res, len(x) / 8000, cpu)
                progress.advance(task)
    for it in items.values():
        v, i, _ = it.key.split("/")
        others = [j for j in range(len(SENTENCES)) if str(j) != i]
        it.baseline_keys = [f"{v}/{j}/neutral" for j in others[:3]]
    return items


def scores(items: dict[str, Item], with_baseline: bool, cfg: CueConfig) -> dict[str, float]:
    """Distress score of every scored item (neutral and distress)."""
    out: dict[str, float] = {}
    for it in items.values():
        if it.label == "base":
            continue
        base = CallerBaseline()
        if with_baseline:
            for k in it.baseline_keys:
                base.update(items[k].result.features)
        cues = prosodic_cues(it.result, base, cfg)
        out[it.key] = fuse(cues, cfg, baseline_used=with_baseline).distress
    return out


def loudness(items: dict[str, Item], with_baseline: bool) -> dict[str, float]:
    """Naive score: the RMS level (minus the speaker's baseline level)."""
    out: dict[str, float] = {}
    for it in items.values():
        if it.label == "base":
            continue
        v = it.result.features.rms_mean_db
        if with_baseline:
            v -= float(np.mean([items[k].result.features.rms_mean_db for k in it.baseline_keys]))
        out[it.key] = v
    return out


def _bal(pos: np.ndarray, neg: np.ndarray, thr: float) -> float:
    return 0.5 * (float(np.mean(pos >= thr)) + float(np.mean(neg < thr)))


def low_fa_threshold(neg: np.ndarray, max_fa: float = 0.025) -> float:
    """Smallest threshold whose false-alarm rate on `neg` is at most `max_fa`."""
    s = np.sort(neg)
    k = int(np.floor(max_fa * len(s)))  # at most k negatives may reach the threshold
    return float(s[len(s) - k - 1] + 1e-6) if k < len(s) else float(s[0])


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> float:
    """Threshold maximising balanced accuracy (ties: the higher, i.e. fewer false alarms)."""
    cands = np.unique(np.concatenate([pos, neg]))
    mids = np.concatenate([[cands[0] - 1e-6], (cands[:-1] + cands[1:]) / 2, [cands[-1] + 1e-6]])
    accs = np.array([_bal(pos, neg, t) for t in mids])
    best = np.flatnonzero(accs >= accs.max() - 1e-12)
    return float(mids[best[-1]])


@dataclass
class CvResult:
    """Cross-validated figures."""

    balanced_accuracy: float
    false_alarms: float
    hit_rate: float
    thresholds: list[float]
    high_thresholds: list[float]
    hit_by_tag: dict[str, float] = field(default_factory=dict)


def cross_validate(items: dict[str, Item], score: dict[str, float], folds: list[list[str]]):
    """Leave-groups-out: threshold chosen on the other groups, applied to the held-out ones."""
    hits = fa = npos = nneg = 0
    thresholds: list[float] = []
    highs: list[float] = []
    tag_hits: dict[str, list[bool]] = {}
    for held in folds:
        train = [k for k in score if items[k].group not in held]
        test = [k for k in score if items[k].group in held]
        pos = np.array([score[k] for k in train if items[k].label == "distress"])
        neg = np.array([score[k] for k in train if items[k].label == "neutral"])
        thr = best_threshold(pos, neg)
        thresholds.append(thr)
        highs.append(low_fa_threshold(neg))
        for k in test:
            flag = score[k] >= thr
            if items[k].label == "distress":
                npos += 1
                hits += flag
                tag_hits.setdefault(items[k].tag, []).append(bool(flag))
            else:
                nneg += 1
                fa += flag
    hit_rate, fa_rate = hits / max(1, npos), fa / max(1, nneg)
    by_tag = {t: float(np.mean(v)) for t, v in sorted(tag_hits.items()) if t}
    return CvResult(0.5 * (hit_rate + 1 - fa_rate), fa_rate, hit_rate, thresholds, highs, by_tag)


def folds_of(groups: list[str], n_folds: int) -> list[list[str]]:
    """Split sorted groups into n_folds interleaved folds."""
    g = sorted(set(groups))
    return [g[i::n_folds] for i in range(min(n_folds, len(g)))]


def report(console: Console, name: str, items: dict[str, Item], n_folds: int) -> dict:
    """Evaluate one set, print a table, return the figures."""
    cfg = CueConfig()
    folds = folds_of([i.group for i in items.values()], n_folds)
    table = Table(title=f"{name}: distress vs neutral ({len(folds)}-fold leave-groups-out)")
    cols = ("method", "baseline", "balanced acc", "false alarms", "hit rate", "CV thresholds")
    for col in (*cols, "high (FA<=2.5%)"):
        table.add_column(col)
    out: dict = {}
    notes: list[str] = []
    for with_b in (True, False):
        for method, sc in (
            ("distress score", scores(items, with_b, cfg)),
            ("naive: loudness only", loudness(items, with_b)),
        ):
            r = cross_validate(items, sc, folds)
            tag = "per-speaker" if with_b else "cold"
            out[(method, tag)] = r
            if r.hit_by_tag:
                per = ", ".join(f"{t} {100 * v:.0f}%" for t, v in r.hit_by_tag.items())
                notes.append(f"{method}, {tag}: hit rate by emotion: {per}")
            table.add_row(
                method,
                tag,
                f"{100 * r.balanced_accuracy:.1f}%",
                f"{100 * r.false_alarms:.1f}%",
                f"{100 * r.hit_rate:.1f}%",
                f"{min(r.thresholds):.3g}..{max(r.thresholds):.3g} "
                f"(median {np.median(r.thresholds):.3g})",
                f"median {np.median(r.high_thresholds):.3g}",
            )
    for with_b in (True, False):
        sc = scores(items, with_b, cfg)
        thr = cfg.distress_elevated if with_b else cfg.distress_elevated_cold
        pos = np.array([v for k, v in sc.items() if items[k].label == "distress"])
        neg = np.array([v for k, v in sc.items() if items[k].label == "neutral"])
        table.add_row(
            "distress, default config",
            "per-speaker" if with_b else "cold",
            f"{100 * _bal(pos, neg, thr):.1f}%",
            f"{100 * float(np.mean(neg >= thr)):.1f}%",
            f"{100 * float(np.mean(pos >= thr)):.1f}%",
            f"{thr:.3g} (not held out)",
            "",
        )
    console.print(table)
    for n in notes:
        console.print(n)
    audio = sum(i.audio_s for i in items.values())
    cpu = sum(i.cpu_s for i in items.values())
    console.print(
        f"{name}: cost {cpu / audio:.4f} CPU s per audio s (prosody; {audio:.0f} s of audio; "
        f"cue fusion adds < 1 ms per utterance)"
    )
    return out


def f0_cost(items: dict[str, Item], n: int = 12) -> tuple[float, float]:
    """CPU s per audio s of librosa.yin (used) and librosa.pyin (the slower probabilistic
    alternative) with the same range and frames, on the first `n` recordings."""
    import librosa

    from speech.prosody import ProsodyConfig

    cfg = ProsodyConfig()
    kw = {"fmin": cfg.fmin, "fmax": cfg.fmax, "sr": 8000, "frame_length": cfg.frame_length}
    kw["hop_length"] = cfg.hop_length
    keys = sorted(items)[:n]
    audio = [phone_cache[k] for k in keys if k in phone_cache]
    total = sum(len(x) for x in audio) / 8000
    out = []
    for fn in (librosa.yin, librosa.pyin):
        t0 = time.process_time()
        for x in audio:
            fn(x.astype(np.float32) / 32768.0, **kw)
        out.append((time.process_time() - t0) / max(total, 1e-9))
    return out[0], out[1]


phone_cache: dict[str, np.ndarray] = {}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ravdess", type=Path, default=RAVDESS)
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args(argv)
    console = Console(width=132)
    if not (args.ravdess / "labels.csv").is_file():
        console.print(f"[red]RAVDESS folder missing:[/red] {args.ravdess}/labels.csv")
        return 2
    warm_up()  # librosa import and numba compilation, not counted as cost
    with Progress(console=console, transient=True) as progress:
        synth = None if args.no_synthetic else load_synthetic(progress)
        rav = load_ravdess(args.ravdess, progress)
    if synth is not None:
        report(console, "synthetic (espeak-ng)", synth, len(VOICES))
    report(console, "ravdess (real acted speech)", rav, 6)
    yin, pyin = f0_cost(rav)
    console.print(
        f"F0 estimator cost at 8 kHz: librosa.yin {yin:.4f}, librosa.pyin {pyin:.4f} "
        "CPU s per audio s (yin is used)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
