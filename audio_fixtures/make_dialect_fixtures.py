"""Regenerate the English dialect evaluation set in `audio_fixtures/dialects/`.

For each shipped English dialect pack: every phrase the dialect itself adds (its own
expressions) and a fixed set of standard phrases (one or two per intent of the dialog's English
lexicon), each synthesized with the dialect's espeak-ng voice at its pack rate, with the pitch
varied from utterance to utterance. Stored as 8 kHz mu-law WAV (telephone audio), with
`manifest.csv` (file, dialect, voice, kind, state, intent, text).

    .venv/bin/python audio_fixtures/make_dialect_fixtures.py

Synthetic speech whose wording we control; a supplement to real recordings, not a replacement.
"""

from __future__ import annotations

import csv
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialects.model import DialectPack  # noqa: E402
from ivr.flows import load_lexicon_for  # noqa: E402
from ivr.flows.packs import pack_library  # noqa: E402
from speech import mulaw  # noqa: E402
from speech.wav import read_wav  # noqa: E402

OUT = ROOT / "audio_fixtures" / "dialects"
RATE = 8000
CONFIRM_INTENTS = ("yes", "no")
MENU_INTENTS = ("account", "problem", "progress")
PITCHES = (38, 50, 62, 44, 56)
# standard phrases: two for the answers callers give most, one for the rest
STANDARD_PER_INTENT = {"yes": 2, "no": 2, "person": 2, "repeat": 2}


def state_for(intent: str) -> str:
    """The dialog state an answer of `intent` is given in: yes/no to a confirm question,
    everything else (menu choices and requests accepted everywhere) at the main menu."""
    return "anything_else" if intent in CONFIRM_INTENTS else "main_menu"


def english_dialects() -> list[DialectPack]:
    """The shipped English dialect packs (not the base pack)."""
    lib = pack_library()
    return [lib.resolve(i) for i in lib.of_language("en") if lib.files[i].inherits]


def rows_for(pack: DialectPack) -> list[dict[str, str]]:
    """The utterances of one dialect: its own expressions, then the standard ones."""
    rows = []
    for intent, phrases in pack.intents.items():
        for ph in phrases:
            if ph.origin.pack == pack.id:
                rows.append({"kind": "specific", "intent": intent, "text": ph.text})
    base = load_lexicon_for("en")
    for intent, phrases in base.intents.items():
        for text in phrases[: STANDARD_PER_INTENT.get(intent, 1)]:
            rows.append({"kind": "standard", "intent": intent, "text": text})
    for row in rows:
        row["state"] = state_for(row["intent"])
        row["dialect"] = pack.id
        row["voice"] = pack.tts.voice
    return rows


def write_mulaw_wav(path: Path, pcm16: bytes) -> None:
    """A WAVE file with G.711 mu-law samples (format tag 7), 8 kHz mono."""
    data = mulaw.encode(pcm16)
    fmt = struct.pack("<HHIIHHH", 7, 1, RATE, RATE, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data))
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def synthesize(text: str, voice: str, rate_wpm: int, pitch: int) -> bytes:
    """espeak-ng speech as 8 kHz PCM16 (soxr resampling)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(
            [espeak, "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        return read_wav(path, rate=RATE).pcm


def main() -> None:
    """Write every dialect's WAVs and the manifest (replacing the old set)."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.wav"):
        old.unlink()
    manifest = []
    for pack in english_dialects():
        for n, row in enumerate(rows_for(pack)):
            name = f"{pack.id}_{n:03d}.wav"
            pitch = PITCHES[n % len(PITCHES)]
            write_mulaw_wav(
                OUT / name, synthesize(row["text"], pack.tts.voice, pack.tts.rate_wpm, pitch)
            )
            manifest.append({"file": name, **row})
        print(f"{pack.id}: {sum(1 for r in manifest if r['dialect'] == pack.id)} utterances")
    fields = ["file", "dialect", "voice", "kind", "state", "intent", "text"]
    with open(OUT / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(manifest)
    size = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(manifest)} utterances, {size / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
