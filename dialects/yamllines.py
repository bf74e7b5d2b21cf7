"""YAML reading that remembers the line of every value, so problems can name file AND line.

Booleans follow YAML 1.2 (only true/false): in a pack, `yes:` and `no:` are intent names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


@dataclass
class LinedYaml:
    """Parsed data plus `lines`: path of keys/indexes -> 1-based line of that value."""

    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, *path: Any) -> int:
        """The line of the value at `path`, or of its nearest parent that has one (else 1)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def read_lined_yaml(path: str | Path) -> LinedYaml:
    """Parse a YAML file keeping lines (OSError or yaml.YAMLError on failure)."""
    text = Path(path).read_text(encoding="utf-8")
    loader = _Loader(text)
    out = LinedYaml(None)
    try:
        node = loader.get_single_node()
        if node is not None:
            out.data = _build(loader, node, (), out.lines)
    finally:
        loader.dispose()
    return out


def _build(loader: _Loader, node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: keys must be plain")
            key = loader.construct_object(key_node)
            result[key] = _build(loader, value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node)
