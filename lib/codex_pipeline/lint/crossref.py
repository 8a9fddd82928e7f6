"""Cross-references between the code and the manifests.

What the code handles, emits, submits and reads is asked from the code itself: each function
module ``codex_pipeline.handlers.<name>`` may expose ``HANDLES`` (CloudEvent types it accepts),
``EMITS`` (types it emits), ``TEMPLATE`` + ``PARAMETERS`` (the WorkflowTemplate it submits and
the parameter names it sets) and ``SETTINGS_READ`` (environment variables it reads). A check
runs where both its code side and its manifest side exist, so functions and manifests can land
in any order; a function folder without func.yaml, Trigger or SinkBinding is always reported
once ``eventing/`` exists.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_pipeline.lint.yamllines import Document, load_documents

ENTRY_FUNCTION = "ingest-webhook"  # reached by GitHub directly: no Trigger
INJECTED = {"K_SINK"}  # set by a SinkBinding, not by func.yaml


@dataclass(frozen=True)
class CodeFacts:
    name: str
    handles: frozenset[str] | None
    emits: frozenset[str] | None
    template: str | None
    parameters: frozenset[str] | None
    settings_read: frozenset[str] | None


def code_facts(name: str) -> CodeFacts | None:
    """What the function's module declares (None when there is no module yet)."""
    try:
        module = importlib.import_module(f"codex_pipeline.handlers.{name.replace('-', '_')}")
    except ModuleNotFoundError:
        return None

    def names(attr: str) -> frozenset[str] | None:
        value = getattr(module, attr, None)
        if value is None:
            return None
        if isinstance(value, str):
            return frozenset({value})
        if isinstance(value, dict):
            return frozenset(str(k) for k in value)
        return frozenset(str(v) for v in value)

    template = getattr(module, "TEMPLATE", None)
    return CodeFacts(
        name,
        names("HANDLES"),
        names("EMITS"),
        template if isinstance(template, str) else None,
        names("PARAMETERS"),
        names("SETTINGS_READ"),
    )


def function_folders(root: Path) -> list[Path]:
    base = root / "functions"
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "function").is_dir()) if base.is_dir() else []


def _subscriber(trigger: dict[str, Any]) -> str | None:
    ref = ((trigger.get("spec") or {}).get("subscriber") or {}).get("ref") or {}
    name = ref.get("name")
    return name if isinstance(name, str) else None


def _trigger_type(trigger: dict[str, Any]) -> str | None:
    value = (((trigger.get("spec") or {}).get("filter") or {}).get("attributes") or {}).get("type")
    return value if isinstance(value, str) else None


def _of_kind(documents: list[Document], kind: str) -> list[Document]:
    return [d for d in documents if d.value.get("kind") == kind]


def _name(doc: Document) -> str | None:
    name = (doc.value.get("metadata") or {}).get("name")
    return name if isinstance(name, str) else None


def readme_section(root: Path, heading: str) -> str:
    """The README text under ``## heading`` up to the next ``## `` heading ('' if absent)."""
    path = root / "README.md"
    text = path.read_text() if path.is_file() else ""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


Found = tuple[str, int, str]  # (file relative to root, line, message)


def check(root: Path, documents: list[Document]) -> Iterator[Found]:
    def rel(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    # Checks that need eventing/ run once it holds manifests (an empty folder is "not yet").
    eventing = any(d.file.is_relative_to(root / "eventing") for d in documents)
    triggers = _of_kind(documents, "Trigger")
    bindings = _of_kind(documents, "SinkBinding")
    templates = {_name(d): d for d in _of_kind(documents, "WorkflowTemplate")}
    folders = {p.name: p for p in function_folders(root)}
    facts = {name: code_facts(name) for name in folders}
    configuration = readme_section(root, "Configuration")

    # Triggers: each filter type is handled by its subscriber.
    for trigger in triggers:
        subscriber = _subscriber(trigger.value)
        wanted = _trigger_type(trigger.value)
        fact = facts.get(subscriber or "")
        if subscriber in folders and wanted and fact and fact.handles is not None and wanted not in fact.handles:
            yield (
                rel(trigger.file),
                trigger.line_of(("spec", "filter", "attributes", "type")),
                f"Trigger {_name(trigger)!r} sends type {wanted!r} to {subscriber}, which handles only "
                f"{', '.join(sorted(fact.handles)) or 'nothing'}",
            )

    routed = {_trigger_type(t.value) for t in triggers}
    for name, folder in folders.items():
        fact = facts[name]
        func_yaml = folder / "func.yaml"
        # Every type a function emits reaches some subscriber.
        if eventing and fact and fact.emits and name != ENTRY_FUNCTION:
            for missing in sorted(fact.emits - routed):
                yield rel(folder), 0, f"{name} emits {missing!r} but no Trigger filters on that type"
        # Every function (but the entry) has a Trigger; emitters through K_SINK have a SinkBinding.
        if eventing and name != ENTRY_FUNCTION and not any(_subscriber(t.value) == name for t in triggers):
            yield rel(folder), 0, f"{name} has no Trigger in eventing/ subscribing it"
        reads = fact.settings_read if fact else None
        if (
            eventing
            and reads
            and "K_SINK" in reads
            and not any(((b.value.get("spec") or {}).get("subject") or {}).get("name") == name for b in bindings)
        ):
            yield rel(folder), 0, f"{name} emits to K_SINK but no SinkBinding in eventing/ has it as subject"
        # Every env var read is in func.yaml's run.envs and the README configuration table.
        if reads and func_yaml.is_file():
            loaded, _ = load_documents(func_yaml)
            doc = loaded[0] if loaded else None
            envs = ((doc.value.get("run") or {}).get("envs") or []) if doc else []
            declared = {str(e.get("name")) for e in envs if isinstance(e, dict)}
            line = doc.line_of(("run", "envs")) if doc else 1
            for env in sorted(reads - declared - INJECTED):
                yield rel(func_yaml), line, f"{name} reads {env} but func.yaml run.envs does not set it"
            for env in sorted(declared - reads):
                yield rel(func_yaml), line, f"func.yaml sets {env}, which {name} does not read (SETTINGS_READ)"
        for env in sorted(reads or ()):
            if f"`{env}`" not in configuration:
                yield "README.md", 1, f"{name} reads {env}, which the README configuration table does not list"
        # Submitters: parameters exist in the template they name, required ones are set.
        if fact and fact.template and templates:
            template = templates.get(fact.template)
            if template is None:
                yield rel(folder), 0, f"{name} submits WorkflowTemplate {fact.template!r}, which workflows/ lacks"
            elif fact.parameters is not None:
                params = ((template.value.get("spec") or {}).get("arguments") or {}).get("parameters") or []
                declared_params = {p.get("name"): p for p in params if isinstance(p, dict)}
                for unknown in sorted(fact.parameters - set(declared_params)):
                    yield (
                        rel(template.file),
                        template.line_of(("spec", "arguments", "parameters")),
                        f"{name} sets parameter {unknown!r}, which WorkflowTemplate {fact.template!r} does not declare",
                    )
                for required, spec in sorted(declared_params.items(), key=lambda kv: str(kv[0])):
                    if "value" not in spec and "default" not in spec and required not in fact.parameters:
                        yield (
                            rel(template.file),
                            template.line_of(("spec", "arguments", "parameters")),
                            f"WorkflowTemplate {fact.template!r} requires parameter {required!r}, "
                            f"which {name} does not set",
                        )


def mounted_secrets(template: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], str, str | None]]:
    """(path, secret, key) for every secret a WorkflowTemplate mounts or reads into env."""
    spec = template.get("spec") or {}

    def volumes(items: Any, base: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str, str | None]]:
        for i, volume in enumerate(items or []):
            secret = (volume or {}).get("secret") if isinstance(volume, dict) else None
            if isinstance(secret, dict) and isinstance(secret.get("secretName"), str):
                keys = [k.get("key") for k in secret.get("items") or [] if isinstance(k, dict)]
                for key in keys or [None]:
                    yield (*base, i, "secret"), secret["secretName"], key

    yield from volumes(spec.get("volumes"), ("spec", "volumes"))
    for t, tmpl in enumerate(spec.get("templates") or []):
        if not isinstance(tmpl, dict):
            continue
        yield from volumes(tmpl.get("volumes"), ("spec", "templates", t, "volumes"))
        for part in ("container", "script"):
            body = tmpl.get(part) or {}
            for e, env in enumerate(body.get("env") or [] if isinstance(body, dict) else []):
                ref = ((env or {}).get("valueFrom") or {}).get("secretKeyRef") if isinstance(env, dict) else None
                if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                    yield ("spec", "templates", t, part, "env", e), ref["name"], ref.get("key")
            for e, source in enumerate(body.get("envFrom") or [] if isinstance(body, dict) else []):
                ref = (source or {}).get("secretRef") if isinstance(source, dict) else None
                if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                    yield ("spec", "templates", t, part, "envFrom", e), ref["name"], None


def secret_findings(root: Path, documents: list[Document]) -> Iterator[Found]:
    deployment = readme_section(root, "Deployment")
    for doc in _of_kind(documents, "WorkflowTemplate"):
        for path, secret, key in mounted_secrets(doc.value):
            missing = [text for text in (secret, key) if text and f"`{text}`" not in deployment]
            if missing:
                yield (
                    str(doc.file.relative_to(root)) if doc.file.is_relative_to(root) else str(doc.file),
                    doc.line_of(path),
                    f"WorkflowTemplate {_name(doc)!r} uses secret {secret!r}"
                    + (f" key {key!r}" if key else "")
                    + " which the README's Deployment section does not list",
                )
