"""`ivr say "TEXT" -o out.wav`: speak a prompt slowly and clearly into a WAV file.

The default output is 22.05 kHz 16-bit PCM WAV (what the kiosk page plays). `--telephone`
writes exactly what a caller hears: 8 kHz G.711 mu-law in a WAV container (format tag 7), the
bytes sent to Twilio in 20 ms frames; any WAV player (sox, aplay, browsers) plays it.
Prompts go through the TTS disk cache at `IVR_DATA_DIR/tts-cache`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ivr.settings import get_settings


def register(app: typer.Typer) -> None:
    """Add `ivr say` to the CLI."""

    @app.command("say")
    def say(
        text: str = typer.Argument(
            ..., help='What to say. Pause markers: "[pause]", "[pause 1.5]", "[pause 500ms]".'
        ),
        output: Path = typer.Option(..., "--output", "-o", help="WAV file to write."),
        rate: int | None = typer.Option(
            None, "--rate", help="Words per minute (default from IVR_TTS_RATE_WPM, 140)."
        ),
        voice: str | None = typer.Option(
            None, "--voice", help="espeak-ng voice, e.g. en-us, en-gb-scotland, ko, yue."
        ),
        pitch: int | None = typer.Option(None, "--pitch", help="Base pitch 0-100 (default 50)."),
        telephone: bool = typer.Option(
            False, "--telephone", help="Write 8 kHz mu-law WAV (what callers hear)."
        ),
    ) -> None:
        """Speak TEXT slowly and clearly into a WAV file."""
        from speech.tts import TextToSpeech, TTSError, VoiceSettings, mulaw_wav_bytes
        from speech.tts.text import PromptSyntaxError
        from speech.wav import wav_bytes

        console = Console(stderr=True)
        settings = get_settings()
        try:
            vs = VoiceSettings(
                voice=voice or settings.tts_voice,
                rate_wpm=rate if rate is not None else settings.tts_rate_wpm,
                pitch=pitch if pitch is not None else 50,
            )
            tts = TextToSpeech(settings.tts_cache_dir, settings.tts_cache_max_mb * 1024 * 1024, vs)
            if telephone:
                ulaw = tts.render_telephone(text, vs)
                data = mulaw_wav_bytes(ulaw)
                seconds = len(ulaw) / 8000.0
            else:
                audio = tts.render(text, vs)
                data = wav_bytes(audio)
                seconds = audio.duration
        except (ValueError, PromptSyntaxError, TTSError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from exc
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(data)
        except OSError as exc:
            console.print(
                f"[red]error:[/red] cannot write {escape(str(output))}: {escape(str(exc))}"
            )
            raise typer.Exit(1) from exc
        kind = "8 kHz mu-law" if telephone else "22.05 kHz PCM"
        hit = "cache hit" if tts.stats.hits else "rendered"
        console.print(
            f"wrote {escape(str(output))} ({seconds:.2f} s, {kind}, {vs.rate_wpm} wpm, {hit})"
        )
