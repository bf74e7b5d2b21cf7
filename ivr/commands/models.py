"""`ivr models list|install`: the speech models this machine has, and installing official ones."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ivr.settings import get_settings
from speech.asr.install import DEFAULT_CATALOG_URL, ModelInstallError, install_model
from speech.asr.registry import list_models

app = typer.Typer(help="Speech recognition models: list installed ones, install official ones.")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@app.command("list")
def list_cmd(
    models_dir: Path = typer.Option(None, help="models folder (default: <data_dir>/models)"),
    as_json: bool = typer.Option(False, "--json", help="print the list as JSON"),
) -> None:
    """Show installed models with their languages, engines and sizes."""
    folder = models_dir or get_settings().models_dir
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in list_models(folder)], indent=2))
        return
    table = Table(title=f"Speech models (models folder: {folder})")
    for col in ("name", "language", "engine", "size", "source", "path"):
        table.add_column(col, overflow="fold")
    for m in list_models(folder):
        table.add_row(m.name, m.language, m.engine, _human(m.size_bytes), m.source, str(m.path))
    Console().print(table)


@app.command("install")
def install_cmd(
    name: str = typer.Argument(..., help="official model name, e.g. vosk-model-small-en-us-0.15"),
    url: str = typer.Option(None, help="download this zip archive instead of the catalog's"),
    sha256: str = typer.Option(None, help="expected SHA-256 of the archive"),
    catalog: str = typer.Option(DEFAULT_CATALOG_URL, help="model catalog (model-list.json) URL"),
    language: str = typer.Option(None, help="language of the model (default: from its name)"),
    models_dir: Path = typer.Option(None, help="models folder (default: <data_dir>/models)"),
) -> None:
    """Download an official Vosk model, verify its checksum, unpack it into the models folder."""
    folder = models_dir or get_settings().models_dir
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(name, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            if url:
                path = install_model(
                    url, folder, sha256=sha256, language=language, progress=progress
                )
                if path.name != name:
                    path = path.rename(path.with_name(name))
            else:
                path = install_model(
                    name,
                    folder,
                    sha256=sha256,
                    catalog_url=catalog,
                    language=language,
                    progress=progress,
                )
        except ModelInstallError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    Console().print(f"installed {name} in {path}")
