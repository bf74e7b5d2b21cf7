"""`ivr demo`: speak and transcribe through the real engines, as a first check of a machine."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

DEMO_PROMPT = "Hello. You can speak or press keys. Say yes, no, or operator."
DEMO_PHRASES = ["yes", "no", "operator", "repeat", "help", "goodbye"]


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        text: str = typer.Option(DEMO_PROMPT, help="what to say"),
        answer: str = typer.Option("operator", help="the reply to synthesize and recognise"),
    ) -> None:
        """Speak a prompt slowly on the telephone band, then recognise a spoken answer offline."""
        from ivr.settings import get_settings
        from speech import mulaw
        from speech.asr.registry import get_engine, recognize
        from speech.tts import TextToSpeech, VoiceSettings
        from speech.wav import Audio

        console = Console()
        settings = get_settings()
        voice = VoiceSettings(voice=settings.tts_voice, rate_wpm=settings.tts_rate_wpm)
        tts = TextToSpeech(settings.tts_cache_dir, settings.tts_cache_max_mb * 1024 * 1024, voice)
        prompt = tts.render_telephone(text, voice)
        console.print(
            f"[bold]said[/] ({voice.voice}, {voice.rate_wpm} wpm): {text!r} -> "
            f"{len(prompt) / 8000:.1f} s of 8 kHz mu-law"
        )
        reply = Audio.from_pcm(mulaw.decode(tts.render_telephone(answer, voice)), 8000)
        engine = get_engine(settings.language, models_dir=settings.models_dir)
        table = Table(title=f"recognising {answer!r} with {engine.name} ({engine.model_name})")
        table.add_column("mode")
        table.add_column("heard")
        table.add_column("confidence")
        for mode, phrases in (("phrase list", DEMO_PHRASES), ("free-form", None)):
            rec = recognize(engine, reply, phrases)
            table.add_row(mode, rec.text or "(nothing)", f"{rec.confidence:.2f}")
        console.print(table)
