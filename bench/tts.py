"""TTS benchmark: cold synthesis against cache hits, with the naive baseline in the same run.

    .venv/bin/python bench/tts.py [--repeats 20]

- naive: what a plain script does: `pyttsx3.init("espeak")` for every prompt, one
  `save_to_file` + `runAndWait` of the whole text, no cache (run in a child process, because
  espeak-ng keeps one synthesis callback per process). Empty outputs are counted: the bare
  driver sometimes cancels a run.
- cold: `TextToSpeech.render` on an empty cache (slow, clear, piece by piece with pauses, then
  stored), and `render_telephone` on a cache holding only the 22.05 kHz entry.
- hit: the same calls again, answered from the disk cache.

Figures are wall-clock milliseconds per prompt and per second of audio produced, plus CPU
milliseconds per prompt. Print only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "Hello, and thank you for calling. This is the community care line.",
    "Please tell me, in a few words, why you are calling today.",
    "Your reference number is 4 7 1 9 2. Please keep it for later.",
    "Your next payment of $42.50 is due on March 3rd, 2025.",
    "I did not hear you. [pause 1] Please say yes, or press 1.",
    "If you want to speak to a person, say agent at any time.",
    "Your appointment is on Tuesday at 10:30 am. Would you like a reminder?",
    "Thank you. Take care, and goodbye.",
]


def _naive_child(prompts: list[str], repeats: int, out: multiprocessing.Queue) -> None:
    import pyttsx3
    import pyttsx3.drivers.espeak as espeak_driver

    espeak_driver.print = lambda *a, **k: None  # its "Audio saved to" line
    tmp = Path(tempfile.mkdtemp(prefix="naive-tts-"))
    rows = []
    for _ in range(repeats):
        for i, text in enumerate(prompts):
            path = tmp / f"{i}.wav"
            wall, cpu = time.perf_counter(), time.process_time()
            engine = pyttsx3.init("espeak")  # a new engine per call
            engine.setProperty("rate", 140)
            engine.save_to_file(text, str(path))
            engine.runAndWait()
            with wave.open(str(path)) as w:
                seconds = w.getnframes() / w.getframerate()
            rows.append((time.perf_counter() - wall, time.process_time() - cpu, seconds))
            del engine
            gc.collect()  # so the next init really builds a new engine
    out.put(rows)


def _summary(rows: list[tuple[float, float, float]]) -> tuple[float, float, float, float, int]:
    walls = [r[0] for r in rows]
    cpus = [r[1] for r in rows]
    audio = sum(r[2] for r in rows)
    return (
        statistics.mean(walls) * 1000,
        statistics.median(walls) * 1000,
        statistics.mean(cpus) * 1000,
        sum(walls) / audio * 1000 if audio else float("nan"),
        sum(1 for r in rows if r[2] == 0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="cache-hit rounds per prompt")
    parser.add_argument("--naive-repeats", type=int, default=5, help="naive rounds per prompt")
    args = parser.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from speech.tts import TextToSpeech, engine_version, get_worker

    console = Console(width=max(Console().width, 150))
    results: dict[str, list[tuple[float, float, float]]] = {}
    steps = 1 + 2 * len(PROMPTS) + 2 * args.repeats * len(PROMPTS)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("naive baseline (child process)", total=steps)
        ctx = multiprocessing.get_context("spawn")
        q: multiprocessing.Queue = ctx.Queue()
        child = ctx.Process(target=_naive_child, args=(PROMPTS, args.naive_repeats, q))
        child.start()
        results["naive: pyttsx3.init per call, no cache"] = q.get(timeout=600)
        child.join()
        progress.advance(task)

        version = engine_version()  # start the worker before timing
        get_worker()
        with tempfile.TemporaryDirectory(prefix="bench-tts-") as cache_dir:
            tts = TextToSpeech(cache_dir, 256 * 1024 * 1024)

            def timed(label: str, fn, text: str, seconds_of) -> None:  # type: ignore[no-untyped-def]
                wall, cpu = time.perf_counter(), time.process_time()
                out = fn(text)
                row = (time.perf_counter() - wall, time.process_time() - cpu, seconds_of(out))
                results.setdefault(label, []).append(row)
                progress.advance(task)

            progress.update(task, description="cold renders")
            for text in PROMPTS:
                timed("cold: render (22.05 kHz, miss)", tts.render, text, lambda a: a.duration)
            for text in PROMPTS:
                timed(
                    "cold: render_telephone (web entry cached)",
                    tts.render_telephone,
                    text,
                    lambda b: len(b) / 8000,
                )
            progress.update(task, description="cache hits")
            for _ in range(args.repeats):
                for text in PROMPTS:
                    timed("hit: render (22.05 kHz)", tts.render, text, lambda a: a.duration)
                    timed(
                        "hit: render_telephone (8 kHz mu-law)",
                        tts.render_telephone,
                        text,
                        lambda b: len(b) / 8000,
                    )
            stats = tts.cache.stats_dict()

    table = Table(title=f"TTS: {len(PROMPTS)} prompts; {version}")
    for col in (
        "mode",
        "calls",
        "ms/prompt mean",
        "ms/prompt p50",
        "CPU ms/prompt",
        "ms per audio s",
        "empty outputs",
        "vs naive",
    ):
        table.add_column(col, justify="left" if col == "mode" else "right")
    naive_mean = _summary(results["naive: pyttsx3.init per call, no cache"])[0]
    for label, rows in results.items():
        mean, p50, cpu, per_audio_s, empty = _summary(rows)
        table.add_row(
            label,
            str(len(rows)),
            f"{mean:.2f}",
            f"{p50:.2f}",
            f"{cpu:.2f}",
            f"{per_audio_s:.3f}",
            str(empty),
            "baseline"
            if label.startswith("naive")
            else f"{naive_mean / mean:.1f}x faster"
            if mean < naive_mean
            else f"{mean / naive_mean:.1f}x slower",
        )
    console.print(table)
    audio_s = statistics.mean(r[2] for r in results["cold: render (22.05 kHz, miss)"])
    naive_s = statistics.mean(r[2] for r in results["naive: pyttsx3.init per call, no cache"])
    console.print(
        f"mean prompt length: {audio_s:.2f} s slow and clear (140 wpm + pauses) vs {naive_s:.2f} s "
        f"naive (140 wpm, no pauses); cache: {stats}; engine runs: {get_worker().engine_runs}, "
        f"retries: {get_worker().retries}"
    )


if __name__ == "__main__":
    main()
