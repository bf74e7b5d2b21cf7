"""`ivr dialects list` and `ivr dialects check`: the shipped dialect packs and their problems."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dialects.engines import RecognitionUnavailable, engine_for
from dialects.model import PackError
from ivr.flows import flow_path
from ivr.flows.packs import check_pack, pack_library, service_flows

app = typer.Typer(help="Dialect packs: wording, phrases, voice and recognizer per dialect.")


@app.command("list")
def list_packs(
    packs_dir: Path = typer.Option(None, help="Pack folder (default: the shipped packs)."),
    models_dir: Path = typer.Option(None, help="Folder of installed Vosk models."),
) -> None:
    """Show every pack: language, base, voice, rate, phrases and the recognizer in use."""
    lib = pack_library(str(packs_dir) if packs_dir else None)
    table = Table(title="Dialect packs")
    for col in ("id", "name", "inherits", "voice", "rate", "phrases", "own", "recognizer"):
        table.add_column(col)
    for pid in lib.ids():
        try:
            pack = lib.resolve(pid)
        except PackError as exc:
            table.add_row(pid, "[red]invalid[/red]", "", "", "", "", "", str(exc.issues[0]))
            continue
        try:
            chosen = engine_for(pack, models_dir)
            recog = f"{chosen.engine.name} {getattr(chosen.engine, 'model_name', '')}"
            if chosen.fallback:
                recog += " (fallback)"
        except RecognitionUnavailable:
            recog = "[yellow]none installed: keypad only[/yellow]"
        table.add_row(
            pid,
            pack.name,
            lib.files[pid].inherits or "-",
            pack.tts.voice,
            str(pack.tts.rate_wpm),
            str(len(pack.phrase_intents())),
            str(len(pack.own_phrases())),
            recog,
        )
    Console().print(table)


@app.command("check")
def check(
    dialect: list[str] = typer.Argument(None, help="Pack ids (default: all)."),
    flow: str = typer.Option(
        None,
        help="One flow name or file the packs must fit (default: every flow the service runs).",
    ),
    packs_dir: Path = typer.Option(None, help="Pack folder (default: the shipped packs)."),
    models_dir: Path = typer.Option(None, help="Folder of installed Vosk models."),
    strict: bool = typer.Option(False, help="Treat warnings (no recognizer) as problems."),
) -> None:
    """Validate packs against the service's flows (or one `--flow`) and their recognizer;
    exit 1 on any error.

    Against all flows, an intent or prompt any flow uses is fine in a pack; a prompt key is
    missing only when some flow speaks it and neither the pack nor its base words it.
    """
    from ivr.dialog.flow import FlowError, load_flow

    console = Console()
    folder = str(packs_dir) if packs_dir else None
    lib = pack_library(folder)
    try:
        flows = [load_flow(flow_path(flow))] if flow else service_flows()
    except (FlowError, OSError) as exc:
        console.print(f"cannot read the flow: {exc}", markup=False)
        raise typer.Exit(2) from exc
    names = ", ".join(Path(f.source).stem for f in flows)
    console.print(f"checking against flow(s): {names}", markup=False)
    errors = warnings = 0
    for issue in lib.issues:
        console.print(str(issue), markup=False)
        errors += 1
    for pid in dialect or lib.ids():
        issues = check_pack(pid, flows, folder=folder, models_dir=models_dir)
        for issue in issues:
            console.print(str(issue), markup=False)
        errs = sum(1 for i in issues if i.severity == "error")
        warns = len(issues) - errs
        errors += errs
        warnings += warns
        status = "ok" if not issues else f"{errs} error(s), {warns} warning(s)"
        console.print(f"{pid}: {status}", markup=False)
    console.print(f"{errors} error(s), {warnings} warning(s)", markup=False)
    if errors or (strict and warnings):
        raise typer.Exit(1)
