"""The `ivr` command line. Each group of commands lives in `ivr/commands/<group>.py`."""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    help="Offline-first voice service for elderly callers.",
    no_args_is_help=True,
    add_completion=False,
)

# (module, attribute, group name or None to merge top-level commands)
_COMMAND_MODULES = [
    ("ivr.commands.say", "register", None),  # ivr say
    ("ivr.commands.transcribe", "register", None),  # ivr transcribe
    ("ivr.commands.models", "app", "models"),  # ivr models list|install
    ("ivr.commands.doctor", "register", None),  # ivr doctor
    ("ivr.commands.demo", "register", None),  # ivr demo
    ("ivr.commands.db", "app", "db"),  # ivr db upgrade|seed
    ("ivr.commands.serve", "register", None),  # ivr serve
    ("ivr.commands.call", "app", "call"),  # ivr call simulate
    ("ivr.commands.cues", "register", None),  # ivr cues FILE
    ("ivr.commands.customers", "app", "customers"),  # ivr customers voice-cues
    ("ivr.commands.dialects", "app", "dialects"),  # ivr dialects list|check
    ("ivr.commands.escalation", "app", "escalation"),  # ivr escalation worker|list|show
    ("ivr.commands.users", "app", "users"),  # ivr users add|list|unlock|disable
    ("ivr.commands.outbound", "app", "outbound"),  # ivr outbound schedule|list|run-due
    ("ivr.commands.report", "register", None),  # ivr report --since 7d [--plot]
    ("ivr.commands.audit", "app", "audit"),  # ivr audit verify|purge
]


def _load() -> None:
    for module_name, attr, group in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command group not written yet
            raise
        obj = getattr(module, attr)
        if group is None:
            obj(app)
        else:
            app.add_typer(obj, name=group)


@app.callback()
def _root() -> None:
    """Offline-first voice service for elderly callers."""


_load()


def _not_alembic_chatter(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade ..." lines, drop the two it prints on every start."""
    return not str(record.msg).startswith(("Context impl", "Will assume"))


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.migration").addFilter(_not_alembic_chatter)
    app()
