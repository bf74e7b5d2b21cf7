"""`ivr transcribe FILE`: recognise a WAV file with the real offline engines."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ivr.settings import get_settings
from speech.asr.base import ASRError
from speech.asr.registry import get_engine, recognize
from speech.wav import AudioFormatError, read_wav


def transcribe(
    file: Path = typer.Argument(..., help="WAV file (PCM or mu-law, any rate, mono or stereo)"),
    phrases: str = typer.Option(
        None, help='comma-separated phrase list, e.g. "yes,no,operator"; omit for free-form'
    ),
    engine: str = typer.Option(
        None,
        help="vosk, pocketsphinx or whisper (default: best installed; English is PocketSphinx "
        "with Whisper as its listener when Whisper is installed)",
    ),
    language: str = typer.Option(None, help="en, ko, ... (default: IVR_LANGUAGE)"),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
) -> None:
    """Transcribe FILE; with --phrases, recognise it against that phrase list."""
    err = Console(stderr=True)
    settings = get_settings()
    plist = [p.strip() for p in phrases.split(",") if p.strip()] if phrases else None
    try:
        audio = read_wav(file)
        if audio.duration == 0:
            raise AudioFormatError(f"{file}: no audio samples")
        eng = get_engine(language or settings.language, engine, settings.models_dir)
        result = recognize(eng, audio, plist)
    except (AudioFormatError, ASRError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if plist:
        shown = "(rejected: not in the phrase list)" if result.rejected else result.phrase
        typer.echo(f"{shown}\t(heard: {result.text!r}, confidence {result.confidence:.2f})")
    else:
        typer.echo(result.text)


def register(app: typer.Typer) -> None:
    """Add `ivr transcribe` to the CLI."""
    app.command("transcribe")(transcribe)
