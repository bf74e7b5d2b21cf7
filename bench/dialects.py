"""Dialect awareness, measured: per English dialect, intent accuracy with the dialect's pack
against the same pipeline with only the base pack, and detection of synthetic unknown callers.

    .venv/bin/python bench/dialects.py [--callers 20]

Audio: `audio_fixtures/dialects/` (espeak-ng, each dialect's own voice, 8 kHz mu-law; regenerate
with `audio_fixtures/make_dialect_fixtures.py`). Recognizer: the real PocketSphinx English
engine with phrase lists (`speech.asr.registry.get_engine("en")`), one list per dialog state;
a dialect pack's recognizer also offers its accent variants (`dialects.lexicon`).

Which data chose what: the recognizer's confidence threshold and front end were chosen on real
human speech (Asterisk prompts, see tests/test_asr_phrases_en.py), never on these fixtures; the
accent variants are generated, not fitted; the detector's threshold and margin are unchanged. So
every figure here is on data no setting was fitted to. The fixtures are espeak-ng speech, and
the variants come from espeak-ng's rules for the same voice: on real callers the gain from the
variants is expected to be smaller than here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.flows.dialect_eval import (  # noqa: E402
    detection,
    detection_ceiling,
    english_dialects,
    intent_scores,
    load_manifest,
)
from speech.asr.registry import get_engine  # noqa: E402
from speech.asr.whisper_engine import int8_arithmetic  # noqa: E402


def main() -> None:
    """Print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--callers", type=int, default=20, help="synthetic callers per dialect")
    args = ap.parse_args()
    engine = get_engine("en")
    rows = load_manifest()
    started = time.process_time()
    print(f"recognizer: {engine.name} {getattr(engine, 'model_name', '')}; {len(rows)} utterances")
    print(f"Whisper's int8 arithmetic: {int8_arithmetic()}")
    head = f"{'dialect':<14}{'n':>4}  {'base all':>8} {'aware all':>9}  "
    head += f"{'base own':>8} {'aware own':>9} {'gain':>6}  {'base std':>8} {'aware std':>9}"
    print(head)
    for dialect in english_dialects():
        base, aware = intent_scores(engine, rows, dialect)
        n = sum(base.total.values())
        gain = aware.accuracy("specific") - base.accuracy("specific")
        print(
            f"{dialect:<14}{n:>4}  {base.accuracy():>8.3f} {aware.accuracy():>9.3f}  "
            f"{base.accuracy('specific'):>8.3f} {aware.accuracy('specific'):>9.3f} "
            f"{gain * 100:>+5.0f}p  {base.accuracy('standard'):>8.3f} "
            f"{aware.accuracy('standard'):>9.3f}"
        )
    intent_cpu = time.process_time() - started
    print(
        "\ndetection of unknown callers (3 answers each, heard with every English pack, and "
        "by each candidate dialect's own recognizer, weighed by its lexicon):"
    )
    print(f"{'dialect':<14}{'callers':>8} {'right':>7} {'turns':>6}")
    t0 = time.process_time()
    lexical = detection(engine, rows, callers_per_dialect=args.callers, acoustic=False)
    lexical_cpu = time.process_time() - t0
    results = detection(engine, rows, callers_per_dialect=args.callers)
    for res in results.values():
        print(f"{res.dialect:<14}{res.callers:>8} {res.rate:>7.2f} {res.mean_turns:>6.2f}")
    total = sum(r.callers for r in results.values())
    right = sum(r.detected for r in results.values())
    print(f"{'all':<14}{total:>8} {right / total:>7.2f}")
    lex_right = sum(r.detected for r in lexical.values())
    print(f"{'lexical only':<14}{total:>8} {lex_right / total:>7.2f}  (the words alone, as before)")
    ceiling = detection_ceiling(rows, callers_per_dialect=args.callers)
    print(f"{'as scripted':<14}{total:>8} {ceiling:>7.2f}  (every answer heard right)")
    acoustic_cpu = time.process_time() - t0 - lexical_cpu
    print(
        f"\nCPU: intent tables {intent_cpu:.1f} s; detection lexical only {lexical_cpu:.1f} s, "
        f"with every candidate's recognizer {acoustic_cpu:.1f} s "
        f"({len(results) + 1} recognizers per answer, during the first answers only)"
    )


if __name__ == "__main__":
    main()
