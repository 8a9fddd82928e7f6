"""Secrets reach a WorkflowTemplate's containers as files, never as environment variables.

A value set from a Secret into ``env`` (``valueFrom.secretKeyRef``) or ``envFrom.secretRef`` sits in
``/proc/<pid>/environ`` of the container's first process (Argo's executor holds the whole
environment), where any process of the same uid reads it, and Codex runs in that container. So
lint refuses both, and a Secret volume must keep its files private to the step (``defaultMode`` at
most 0400, no item mode wider). Each finding names the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codex_pipeline.lint.yamllines import Document

Found = tuple[str, int, str]
KINDS = ("WorkflowTemplate", "Workflow", "ClusterWorkflowTemplate")
CONTAINER_KEYS = ("container", "script")
LIST_KEYS = ("initContainers", "sidecars")
PRIVATE = 0o400


def _file(root: Path, doc: Document) -> str:
    return str(doc.file.relative_to(root)) if doc.file.is_relative_to(root) else str(doc.file)


def _containers(template: dict[str, Any], base: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    for key in CONTAINER_KEYS:
        if isinstance(template.get(key), dict):
            yield (*base, key), template[key]
    for key in LIST_KEYS:
        for i, item in enumerate(template.get(key) or []):
            if isinstance(item, dict):
                yield (*base, key, i), item


def _env_findings(file: str, doc: Document, name: str, path: tuple[Any, ...], body: dict[str, Any]) -> Iterator[Found]:
    for e, env in enumerate(body.get("env") or []):
        ref = (env.get("valueFrom") or {}).get("secretKeyRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            yield (
                file,
                doc.line_of((*path, "env", e)),
                f"template {name!r} sets {env.get('name')!r} from secret {ref.get('name')!r}: secrets reach "
                "the step as files (a Secret volume, mode 0400, and the setting's _FILE variable), never "
                "as environment variables, which Codex could read from /proc/<pid>/environ",
            )
    for e, source in enumerate(body.get("envFrom") or []):
        if isinstance(source, dict) and isinstance(source.get("secretRef"), dict):
            yield (
                file,
                doc.line_of((*path, "envFrom", e)),
                f"template {name!r} loads secret {source['secretRef'].get('name')!r} into its environment: "
                "mount it as a Secret volume instead",
            )


def _mode_findings(file: str, doc: Document, volumes: Any, base: tuple[Any, ...]) -> Iterator[Found]:
    for v, volume in enumerate(volumes or []):
        secret = volume.get("secret") if isinstance(volume, dict) else None
        if not isinstance(secret, dict):
            continue
        mode = secret.get("defaultMode")
        if not isinstance(mode, int) or mode & ~PRIVATE:
            shown = "unset (0644)" if mode is None else (f"0{mode:o}" if isinstance(mode, int) else repr(mode))
            yield (
                file,
                doc.line_of((*base, v, "secret")),
                f"Secret volume {volume.get('name')!r}: defaultMode is {shown}; set 0400 (256) so only the "
                "step's user can read the files",
            )
        for i, item in enumerate(secret.get("items") or []):
            if isinstance(item, dict) and isinstance(item.get("mode"), int) and item["mode"] & ~PRIVATE:
                yield (
                    file,
                    doc.line_of((*base, v, "secret", "items", i)),
                    f"Secret volume {volume.get('name')!r}: item {item.get('key')!r} has mode "
                    f"0{item['mode']:o}; at most 0400",
                )


def check(root: Path, documents: list[Document]) -> Iterator[Found]:
    for doc in documents:
        value = doc.value
        if value.get("kind") not in KINDS or not isinstance(value.get("spec"), dict):
            continue
        file, spec = _file(root, doc), value["spec"]
        yield from _mode_findings(file, doc, spec.get("volumes"), ("spec", "volumes"))
        for t, template in enumerate(spec.get("templates") or []):
            if not isinstance(template, dict):
                continue
            base = ("spec", "templates", t)
            yield from _mode_findings(file, doc, template.get("volumes"), (*base, "volumes"))
            for path, body in _containers(template, base):
                yield from _env_findings(file, doc, str(template.get("name")), path, body)
