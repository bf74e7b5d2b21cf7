"""`ivr report --since 7d [--plot out.png] [--json]`: how the service did, from the database.

For people: calls by channel and outcome, recognition by dialect, escalations, the time to a
person, notifications retried, tickets, outbound attempts, the questions older callers
struggle with most (repeats, not understood, asked for a person), and the faults of ours (a
failed backend step, an error in the dialog) that sent callers to a person. `--plot` draws the
same on one page (PNG); `--json` prints it for other tools. The figures come from the store, so they
cover every instance and every restart (the live, per-process figures are at GET /metrics).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ivr.reporting.queries import ServiceReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _show(console: Console, table: Table, rows: int) -> None:
    """The table, or one line saying the section is empty."""
    if rows:
        console.print(table)
    else:
        console.print(f"[bold]{table.title}[/]: none in this period")


def render(report: ServiceReport, console: Console, top: int = 10) -> None:
    """Print the report as rich tables."""
    period = f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    console.rule(f"[bold]Service report[/] {period}")

    t = Table(title=f"Where callers struggle (top {top} questions)", title_justify="left")
    for name in ("question (state)", "asked", "repeats", "not understood", "no answer"):
        t.add_column(name, justify="left" if name.startswith("question") else "right")
    t.add_column("asked for a person", justify="right")
    t.add_column("trouble per ask", justify="right")  # repeats + not understood + person
    for p in report.prompts[:top]:
        t.add_row(
            escape(p.state),
            str(p.asked),
            str(p.repeats),
            str(p.no_matches),
            str(p.no_inputs),
            str(p.person_requests),
            _num(p.trouble_per_ask, "{:.1f}"),
        )
    _show(console, t, len(report.prompts))

    t = Table(title=f"Calls ({report.total_calls})", title_justify="left")
    for name in ("channel", "outcome", "calls"):
        t.add_column(name, justify="right" if name == "calls" else "left")
    for c in report.calls:
        t.add_row(c.channel, c.outcome.replace("_", " "), str(c.count))
    _show(console, t, len(report.calls))

    t = Table(title="Recognition by dialect", title_justify="left")
    for name in ("dialect", "spoken answers", "not understood", "rate", "mean conf", "median"):
        t.add_column(name, justify="left" if name == "dialect" else "right")
    for r in report.recognition:
        t.add_row(
            escape(r.dialect),
            str(r.recognitions),
            str(r.no_matches),
            _pct(r.no_match_rate),
            _num(r.mean_confidence),
            _num(r.median_confidence),
        )
    _show(console, t, len(report.recognition))

    t = Table(title="Escalations", title_justify="left")
    for name in ("trigger", "severity", "count"):
        t.add_column(name, justify="right" if name == "count" else "left")
    for e in report.escalations:
        t.add_row(e.trigger, e.severity, str(e.count))
    _show(console, t, len(report.escalations))

    w = report.time_to_person
    t = Table(title="Time to a person", title_justify="left")
    for name in ("queued for a person", "answered", "p50", "p95"):
        t.add_column(name, justify="right")
    t.add_column(f"within {w.within_s:.0f} s", justify="right")
    t.add_column("SLA breaches", justify="right")
    t.add_row(
        str(w.to_person),
        str(w.answered),
        _num(w.p50_s, "{:.1f} s"),
        _num(w.p95_s, "{:.1f} s"),
        f"{w.answered_within} ({_pct(w.share_within)})",
        str(w.sla_breaches),
    )
    console.print(t)

    if report.notifications:
        t = Table(title="Notifications to contacts", title_justify="left")
        for name in ("kind", "retried", "given up"):
            t.add_column(name, justify="left" if name == "kind" else "right")
        for n in report.notifications:
            t.add_row(n.kind, str(n.retries), str(n.given_up))
        console.print(t)

    if report.outbound is not None:
        t = Table(title="Outbound call attempts", title_justify="left")
        for name in ("kind", "result", "attempts"):
            t.add_column(name, justify="right" if name == "attempts" else "left")
        for o in report.outbound:
            t.add_row(o.kind, o.result.replace("_", " "), str(o.count))
        _show(console, t, len(report.outbound))

    t = Table(title="Faults that sent callers to a person", title_justify="left")
    for name in ("fault", "question (state)", "step or input", "calls"):
        t.add_column(name, justify="right" if name == "calls" else "left")
    for f in report.faults[:top]:
        t.add_row(f.kind.replace("_", " "), escape(f.state or "-"), escape(f.what), str(f.count))
    _show(console, t, len(report.faults))

    k = report.tickets
    console.print(
        f"Tickets: {k.opened} opened ({k.still_open} still open), {k.resolved} resolved in the "
        "period"
    )
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/]")


def register(app: typer.Typer) -> None:
    """Add `ivr report` to the CLI."""

    @app.command("report")
    def report(
        since: str = typer.Option(
            "7d", "--since", help="How far back: 7d (days), 24h (hours), 30m (minutes), 2w."
        ),
        plot: Path | None = typer.Option(None, "--plot", help="Also draw a one-page PNG here."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
        top: int = typer.Option(10, "--top", min=1, max=100, help="Questions to rank."),
        db: str = typer.Option(
            "", "--db", help="Database URL (default: the service's, IVR_DATABASE_URL)."
        ),
    ) -> None:
        """How the service did: calls, recognition, escalations, time to a person, and the
        questions callers struggle with."""
        from sqlalchemy.exc import SQLAlchemyError

        from carestore.db import Store
        from carestore.engine import normalise_url, sqlite_path
        from ivr.reporting import SinceError, build_report, parse_since
        from ivr.settings import get_settings

        err = Console(stderr=True)

        def fail(msg: str) -> None:
            err.print(f"[red]error:[/red] {escape(msg)}")
            raise typer.Exit(2)

        try:
            span = parse_since(since)
        except SinceError as exc:
            fail(str(exc))
        url = db or get_settings().effective_database_url
        try:
            path = sqlite_path(normalise_url(url))
        except Exception as exc:  # a malformed URL
            fail(f"not a database URL: {url!r} ({exc})")
        if path is not None and not Path(path).is_file():
            fail(f"no database at {path} (run `ivr db upgrade`, or give --db)")
        store = Store(url)
        try:
            with err.status("reading the store"):
                found = build_report(store, span)
        except SQLAlchemyError as exc:
            fail(
                "the database could not be read (is it migrated? `ivr db upgrade`): "
                f"{str(exc).splitlines()[0]}"
            )
        finally:
            store.close()
        if plot is not None:
            from ivr.reporting.plot import plot_report

            try:
                written = plot_report(found, plot, top=top)
            except OSError as exc:
                fail(f"cannot write the plot {plot}: {exc}")
        if as_json:
            out = found.to_dict()
            if plot is not None:
                out["plot"] = str(written)
            typer.echo(json.dumps(out, indent=2))
            return
        console = Console()
        render(found, console, top)
        if plot is not None:
            console.print(f"plot written to {escape(str(written))}")
