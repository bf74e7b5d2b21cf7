"""YAML reading for flow, prompt and lexicon files, with YAML 1.2 booleans.

PyYAML follows YAML 1.1, where `yes`, `no`, `on` and `off` are booleans; in a dialog file they
are words ("yes: [yes, yeah]"). Here only `true` and `false` are booleans.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """A safe loader whose booleans are only true/false."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (OSError or yaml.YAMLError on failure)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
