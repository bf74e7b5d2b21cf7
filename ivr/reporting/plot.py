"""`ivr report --plot out.png`: the report on one page a service manager reads at a glance.

Top, full width: the questions older callers struggle with most (repeats, not understood,
asked for a person), stacked per question. Below: calls by channel and outcome; the no-match
rate by dialect; escalations by trigger and severity; the time to a person (histogram, the
15-second line, p50/p95 and the share within); outbound attempts by result (or notification
retries when the database has no outbound calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ivr.reporting.queries import ServiceReport

SEVERITY_COLOURS = {"low": "#9ecae1", "medium": "#fdae6b", "high": "#e6550d", "critical": "#a50f15"}
TROUBLE = (
    ("repeats", "asked to repeat", "#6baed6"),
    ("no_matches", "not understood", "#fd8d3c"),
    ("person_requests", "asked for a person", "#d62728"),
)


def _empty(ax: Any, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.text(0.5, 0.5, "nothing in this period", ha="center", va="center", color="0.5")
    ax.set_xticks([])
    ax.set_yticks([])


def _prompts(ax: Any, report: ServiceReport, top: int) -> None:
    title = "Where callers struggle: questions with the most repeats, no-matches, person requests"
    rows = report.prompts[:top]
    if not rows:
        _empty(ax, title)
        return
    rows = list(reversed(rows))  # the worst at the top
    labels = [f"{p.state}  (asked {p.asked})" for p in rows]
    left = [0] * len(rows)
    for attr, label, colour in TROUBLE:
        values = [getattr(p, attr) for p in rows]
        ax.barh(labels, values, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, (p, total) in enumerate(zip(rows, left, strict=True)):
        per = f"  ({p.trouble_per_ask:.1f} per ask)" if p.trouble_per_ask is not None else ""
        ax.text(total, y, f" {p.trouble}{per}", va="center", fontsize=9)
    ax.set_xlim(0, max(left) * 1.25 + 1)
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.set_xlabel("times in the period")
    ax.legend(loc="lower right", fontsize=9)


def _stacked(
    ax: Any, rows: Sequence[Any], bar: Callable[[Any], str], part: Callable[[Any], str]
) -> None:
    """One bar per `bar(row)` value, stacked by `part(row)` (one colour each), heights the
    rows' summed `count`s."""
    bars = sorted({bar(r) for r in rows})
    bottom = [0] * len(bars)
    for i, name in enumerate(sorted({part(r) for r in rows})):
        values = [sum(r.count for r in rows if bar(r) == b and part(r) == name) for b in bars]
        ax.bar(bars, values, bottom=bottom, label=name.replace("_", " "), color=f"C{i}")
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]


def _calls(ax: Any, report: ServiceReport) -> None:
    title = f"Calls by channel and outcome ({report.total_calls})"
    if not report.calls:
        _empty(ax, title)
        return
    _stacked(ax, report.calls, lambda c: c.channel, lambda c: c.outcome)
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.set_ylabel("calls")
    ax.yaxis.set_major_locator(_whole())
    ax.legend(fontsize=8)


def _recognition(ax: Any, report: ServiceReport) -> None:
    title = "Not understood, by dialect"
    rows = [r for r in report.recognition if r.recognitions]
    if not rows:
        _empty(ax, title)
        return
    rates = [r.no_match_rate or 0.0 for r in rows]
    bars = ax.bar([r.dialect for r in rows], rates, color="#fd8d3c")
    for bar, r in zip(bars, rows, strict=True):
        conf = f"\nconf {r.median_confidence:.2f}" if r.median_confidence is not None else ""
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            f"{r.no_matches}/{r.recognitions}{conf}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(0, max(max(rates) * 1.4, 0.1))
    ax.yaxis.set_major_formatter(_percent())
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.set_ylabel("share of spoken answers")


def _escalations(ax: Any, report: ServiceReport) -> None:
    total = sum(e.count for e in report.escalations)
    title = f"Escalations by trigger ({total})"
    if not report.escalations:
        _empty(ax, title)
        return
    triggers = sorted({e.trigger for e in report.escalations})
    left = [0] * len(triggers)
    for severity, colour in SEVERITY_COLOURS.items():
        values = [
            sum(e.count for e in report.escalations if e.trigger == t and e.severity == severity)
            for t in triggers
        ]
        if any(values):
            ax.barh(triggers, values, left=left, color=colour, label=severity)
            left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.set_xlabel("escalations")
    ax.set_xlim(0, max(left) * 1.1)
    ax.xaxis.set_major_locator(_whole())
    ax.legend(fontsize=8, title="severity", title_fontsize=8)


def _time_to_person(ax: Any, report: ServiceReport) -> None:
    t = report.time_to_person
    title = "Time to a person"
    if not t.to_person:
        _empty(ax, title)
        return
    waits = list(t.waits_s)
    if waits:
        top = max(max(waits) * 1.1, t.within_s * 2)
        bins = [x * top / 24 for x in range(25)]
        fast = [w for w in waits if w <= t.within_s]
        slow = [w for w in waits if w > t.within_s]
        ax.hist(
            [fast, slow],
            bins=bins,
            stacked=True,
            color=["#31a354", "#fd8d3c"],
            label=[f"within {t.within_s:.0f} s", "later"],
        )
        ax.legend(fontsize=8, loc="upper right")
    ax.axvline(t.within_s, color="#d62728", linestyle="--")
    share = f"{t.share_within:.0%}" if t.share_within is not None else "-"
    p50 = f"{t.p50_s:.0f} s" if t.p50_s is not None else "-"
    p95 = f"{t.p95_s:.0f} s" if t.p95_s is not None else "-"
    ax.set_title(
        f"{title}: {share} of {t.to_person} answered within {t.within_s:.0f} s; "
        f"p50 {p50}, p95 {p95}\nnot answered {t.to_person - t.answered}, "
        f"SLA breaches {t.sla_breaches}",
        loc="left",
        fontsize=11,
        fontweight="bold",
    )
    ax.set_xlabel("seconds from trigger to a person answering")
    ax.set_ylabel("escalations")
    ax.yaxis.set_major_locator(_whole())


def _outbound_or_retries(ax: Any, report: ServiceReport) -> None:
    if report.outbound or (report.outbound is not None and not report.notifications):
        title = "Outbound call attempts by result"
        if not report.outbound:
            _empty(ax, title)
            return
        _stacked(ax, report.outbound, lambda o: o.kind, lambda o: o.result)
        ax.set_ylabel("attempts")
        ax.yaxis.set_major_locator(_whole())
        ax.legend(fontsize=8)
        ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
        return
    title = "Notifications retried / given up"
    if not report.notifications:
        _empty(ax, title)
        return
    kinds = [n.kind for n in report.notifications]
    ax.bar(kinds, [n.retries for n in report.notifications], label="retried", color="#fdae6b")
    ax.bar(
        kinds,
        [n.given_up for n in report.notifications],
        bottom=[n.retries for n in report.notifications],
        label="given up",
        color="#a50f15",
    )
    ax.set_ylabel("notifications")
    ax.yaxis.set_major_locator(_whole())
    ax.legend(fontsize=8)
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")


def _whole() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def plot_report(report: ServiceReport, path: str | Path, *, top: int = 10) -> Path:
    """Draw the report into a PNG at `path` (its directory is created). Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(15, 12), layout="constrained")
    grid = fig.add_gridspec(3, 3, height_ratios=[1.3, 1, 1])
    _prompts(fig.add_subplot(grid[0, :]), report, top)
    _calls(fig.add_subplot(grid[1, 0]), report)
    _recognition(fig.add_subplot(grid[1, 1]), report)
    _escalations(fig.add_subplot(grid[1, 2]), report)
    _time_to_person(fig.add_subplot(grid[2, 0:2]), report)
    _outbound_or_retries(fig.add_subplot(grid[2, 2]), report)
    period = f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    fig.suptitle(f"Service report, {period}", fontsize=14, fontweight="bold")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
