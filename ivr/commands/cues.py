"""`ivr cues FILE`: prosody features, emotion cues and the distress score of a recording.

`--baseline` (repeatable) first learns the caller's normal voice from other recordings of the
same caller (WAV files) or loads a saved baseline (a JSON file from `--save-baseline` or from a
caller's profile). `--text` adds lexical cues from the words heard. `--json` prints everything
as JSON with a top-level `distress`; `--plot out.png` draws pitch, loudness and cue strengths.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def register(app: typer.Typer) -> None:
    """Add `ivr cues` to the CLI."""

    @app.command("cues")
    def cues(
        file: Path = typer.Argument(..., help="WAV recording of the caller (any rate; mu-law ok)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (top-level 'distress')."),
        baseline: list[Path] = typer.Option(
            [],
            "--baseline",
            help="Calm recording(s) of the same caller, or a saved baseline .json (repeatable).",
        ),
        plot: Path | None = typer.Option(None, "--plot", help="Draw a PNG timeline here."),
        text: str | None = typer.Option(None, "--text", help="Words heard (lexical cues)."),
        save_baseline: Path | None = typer.Option(
            None, "--save-baseline", help="Write the learned baseline (JSON) here."
        ),
    ) -> None:
        """Print the prosody features, cues and distress score of FILE."""
        from speech.cues import CallerBaseline, CueConfig, assess_audio
        from speech.prosody import ProsodyError, extract_prosody
        from speech.wav import AudioFormatError, read_wav

        err = Console(stderr=True)

        def fail(msg: str) -> None:
            err.print(f"[red]error:[/red] {escape(msg)}")
            raise typer.Exit(2)

        cfg = CueConfig()
        base = CallerBaseline()
        saved = [b for b in baseline if b.suffix.lower() == ".json"]
        if len(saved) > 1:
            fail("give at most one saved baseline (.json)")
        for b in [*saved, *(b for b in baseline if b not in saved)]:
            try:
                if b in saved:
                    base = CallerBaseline.from_dict(json.loads(b.read_text()))
                else:
                    audio = read_wav(b)
                    base.update(extract_prosody(audio.samples, audio.sample_rate).features)
            except (AudioFormatError, ProsodyError, OSError, ValueError, KeyError) as exc:
                fail(f"baseline {b}: {exc}")
        try:
            audio = read_wav(file)
            assessment, result = assess_audio(
                audio.samples, audio.sample_rate, text=text, baseline=base, config=cfg
            )
        except (AudioFormatError, ProsodyError) as exc:
            fail(str(exc))
            return
        if save_baseline is not None:
            save_baseline.write_text(json.dumps(base.to_dict(), indent=2))
        if plot is not None:
            from speech.cues.plot import cue_timeline, plot_cues

            timeline = cue_timeline(audio.samples, audio.sample_rate, base, config=cfg)
            try:
                plot_cues(result, assessment, plot, timeline=timeline, title=file.name)
            except OSError as exc:
                fail(f"cannot write plot {plot}: {exc}")
        if as_json:
            out = {"file": str(file), **assessment.to_dict()}
            out["baseline"] = {"files": [str(b) for b in baseline], "utterances": base.utterances}
            if plot is not None:
                out["plot"] = str(plot)
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
            return
        con = Console()
        ft = Table(title=f"prosody of {escape(file.name)}")
        ft.add_column("feature")
        ft.add_column("value", justify="right")
        ft.add_column("usual (mean ± spread)", justify="right")
        for k, v in result.features.to_dict().items():
            shown = "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"
            usual = ""
            if k in base.priors:
                m, sd = base.expect(k)
                usual = f"{m:.4g} ± {sd:.2g}"
            ft.add_row(k, shown, usual)
        con.print(ft)
        ct = Table(title="cues")
        for col in ("cue", "strength", "seconds", "contribution", "evidence"):
            ct.add_column(col)
        for c in assessment.cues:
            ct.add_row(
                c.name,
                f"{c.strength:.2f}",
                f"{c.start_s:.2f}-{c.end_s:.2f}",
                f"{assessment.contributions.get(c.name, 0.0):.2f}",
                escape(c.evidence),
            )
        con.print(ct if assessment.cues else "no cues")
        used = "caller baseline" if assessment.baseline_used else "no baseline (cold start)"
        con.print(
            f"distress [bold]{assessment.distress:.2f}[/bold] ({assessment.level}; {used}, "
            f"certainty {assessment.certainty:.2f})"
        )
        if plot is not None:
            con.print(f"plot written to {escape(str(plot))}")
