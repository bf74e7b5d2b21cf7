"""`ivr customers voice-cues ID --off|--on`: record a caller's choice about voice cues."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="Customers' choices kept on their profile.", no_args_is_help=True)


@app.command("voice-cues")
def voice_cues(
    customer_id: int = typer.Argument(..., help="the customer's id"),
    off: bool = typer.Option(..., "--off/--on", help="--off: never assess this caller's voice"),
) -> None:
    """Opt a caller out of (or back into) voice cues; opting out forgets their voice baseline."""
    from carestore import Store
    from carestore.errors import NotFound
    from ivr.settings import get_settings

    store = Store.from_settings(get_settings(), upgrade=True)
    try:
        profile = store.voice_profile(customer_id)
        profile = store.set_voice_cues_opt_out(customer_id, off)
    except NotFound as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    state = "off (opted out)" if profile.cues_opt_out else "on"
    Console().print(f"customer {customer_id}: voice cues {state}")
