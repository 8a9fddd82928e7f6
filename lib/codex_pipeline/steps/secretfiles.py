"""Credentials as the steps receive them: a mounted secret file named by ``<NAME>_FILE``, or ``<NAME>``.

The WorkflowTemplates mount each Secret as a volume (files mode 0400, owned by the step's user) and
set only the ``*_FILE`` paths in the environment: a value in the environment would sit in
``/proc/<pid>/environ`` of the container's first process, where anything of the same uid reads it.
The plain variable still wins (local runs and ``codex-pipeline dev``), as in :mod:`codex_pipeline.shell.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from codex_pipeline.errors import ConfigurationError


def secret(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set (as itself or as a ``_FILE``), stripped; ``None`` when none is."""
    for name in names:
        if environ.get(name, "").strip():
            return environ[name].strip()
        path = environ.get(f"{name}_FILE", "").strip()
        if path:
            try:
                value = Path(path).read_text().strip()
            except FileNotFoundError:
                continue  # an optional Secret (Discord) that is not there
            except OSError as exc:
                raise ConfigurationError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
            if value:
                return value
    return None
