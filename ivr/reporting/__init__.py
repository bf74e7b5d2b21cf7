"""Service reports from the store: `build_report` (queries -> dataclasses), `parse_since`
(the `--since` period) and `plot_report` (the one-page PNG, in `ivr.reporting.plot`)."""

from ivr.reporting.period import SinceError, parse_since
from ivr.reporting.queries import ServiceReport, build_report

__all__ = ["ServiceReport", "SinceError", "build_report", "parse_since"]
