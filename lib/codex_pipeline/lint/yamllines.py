"""Load YAML documents keeping the line of every key, so a finding can name its line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    file: Path
    line: int
    value: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: tuple[Any, ...]) -> int:
        """The line of ``path`` or of its nearest ancestor present in the file (1-based)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.line


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key == "<<":  # merge key: fold the merged mapping in
                merged = _build(value_node, path, lines)
                if isinstance(merged, dict):
                    for k, v in merged.items():
                        result.setdefault(k, v)
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), lines) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_documents(path: Path) -> tuple[list[Document], list[tuple[int, str]]]:
    """The mapping documents of ``path`` and (line, message) for what cannot be loaded."""
    documents: list[Document] = []
    errors: list[tuple[int, str]] = []
    try:
        nodes = list(yaml.compose_all(path.read_text(), Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [((mark.line + 1) if mark else 1, f"not valid YAML: {exc}")]
    for node in nodes:
        if node is None:
            continue
        lines: dict[Path_, int] = {}
        value = _build(node, (), lines)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append((node.start_mark.line + 1, "document is not a mapping"))
            continue
        documents.append(Document(path, node.start_mark.line + 1, value, lines))
    return documents, errors
