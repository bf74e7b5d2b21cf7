"""`ivr call simulate`: a whole call offline through the real websocket handler."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Calls: simulate one offline.", no_args_is_help=True)


def _printer(console: Console):  # noqa: ANN202 - returns a listener
    from ivr.session.events import SessionEvent

    def show(e: SessionEvent) -> None:
        t = f"[dim]{e.t:7.2f}s[/]"
        d = e.data
        if e.kind == "prompt":
            console.print(f"{t} [bold cyan]system[/] ({d.get('rate')} wpm) {d.get('text')}")
        elif e.kind == "heard":
            conf = d.get("confidence")
            console.print(
                f"{t} [bold green]caller[/] heard {d.get('text')!r} -> intent "
                f"[bold]{d.get('intent')}[/] ({d.get('input_kind')}, confidence {conf})"
            )
        elif e.kind == "dtmf":
            console.print(f"{t} [bold green]caller[/] pressed {d.get('digit')}")
        elif e.kind == "state":
            console.print(f"{t} [magenta]state[/] {d.get('before')} -> {d.get('after')}")
        elif e.kind in ("barge_in", "no_input", "timeout_warning", "action", "error", "stop"):
            console.print(f"{t} [yellow]{e.kind}[/] {d if d else ''}")

    return show


@app.command()
def simulate(
    steps: list[str] = typer.Argument(
        None, help="say:FILE.wav | say-text:WORDS | press:DIGITS | wait:SECONDS, in order"
    ),
    from_: str = typer.Option("+441632960001", "--from", help="caller ID"),
    speed: float = typer.Option(1.0, help="1 = real time; 10 = ten times faster"),
    out: Path = typer.Option(Path("call-heard.wav"), "--out", "-o", help="what the caller heard"),
    linger: float = typer.Option(12.0, help="seconds of call time after the last step"),
) -> None:
    """Run a call offline through the real server and print the conversation."""
    from ivr.session.simulate import StepError, parse_step
    from ivr.session.simulate import simulate as run
    from ivr.settings import get_settings

    console = Console()
    try:
        parsed = [parse_step(s) for s in steps or []]
    except StepError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    result = run(
        get_settings(),
        parsed,
        from_=from_,
        speed=speed,
        linger_s=linger,
        on_event=_printer(console),
    )
    out.write_bytes(result.heard_wav)
    console.print(
        f"[bold]call {result.call_sid}[/]: {len(result.events)} events, "
        f"{result.clears} barge-in clears; what the caller heard -> {out}"
    )
    if result.action_twiml:
        console.print(f"next TwiML: {result.action_twiml}")
