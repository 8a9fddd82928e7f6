"""Offline manifest lint: ``eventing/``, ``workflows/`` and ``functions/*/func.yaml``.

Every YAML document is validated against a strict schema (Kubernetes core kinds through
kubernetes-validate, custom kinds and func.yaml through :mod:`codex_pipeline.schemas`);
unknown kinds are errors, and a custom kind must be at the API version the supported releases
serve (README "Deployment"). Argo WorkflowTemplates are then checked beyond the schema
(parameter references resolve, referenced templates exist, commands are real
``codex-pipeline`` verbs), :mod:`codex_pipeline.lint.deployable` holds everything to what a
real cluster does with it, and :mod:`codex_pipeline.lint.credentials` keeps secrets out of
containers' environments. Every finding names the file and line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_pipeline import schemas
from codex_pipeline.lint.yamllines import Document, load_documents

KUBERNETES_VERSION = "1.32.0"
MANIFEST_DIRS = ("eventing", "workflows")


@dataclass(frozen=True)
class Finding:
    """One lint problem (``skip`` findings explain a check that could not run)."""

    file: str
    line: int
    message: str
    skip: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'skipped: ' if self.skip else ''}{self.message}"


def manifest_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder in MANIFEST_DIRS:
        base = root / folder
        if base.is_dir():
            found.extend(sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
    return found


def func_files(root: Path) -> list[Path]:
    return sorted((root / "functions").glob("*/func.yaml"))


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def lint(root: Path, *, verbs: Collection[str], kustomize: bool = True) -> list[Finding]:
    """Every finding for the tree at ``root`` (empty = clean).

    ``verbs`` are the ``codex-pipeline`` verbs a WorkflowTemplate may call; the CLI passes its
    own table, so the lint package does not import the CLI (tooling layers stay one-way).
    """
    findings: list[Finding] = []
    documents: list[Document] = []
    for path in manifest_files(root):
        loaded, errors = load_documents(path)
        findings.extend(Finding(_rel(root, path), line, msg) for line, msg in errors)
        documents.extend(loaded)
    for doc in documents:
        if doc.file.name == "kustomization.yaml" or doc.value.get("kind") == "Kustomization":
            continue
        findings.extend(_schema_findings(root, doc))
    for path in func_files(root):
        loaded, errors = load_documents(path)
        findings.extend(Finding(_rel(root, path), line, msg) for line, msg in errors)
        for doc in loaded:
            findings.extend(
                Finding(_rel(root, path), doc.line_of(p.path + p.unknown[:1]), f"func.yaml: {p}")
                for p in schemas.validate_func_yaml(doc.value)
            )
            if "subscriptions" in (doc.value.get("deploy") or {}):
                findings.append(
                    Finding(
                        _rel(root, path),
                        doc.line_of(("deploy", "subscriptions")),
                        "deploy.subscriptions makes func create Triggers without delivery "
                        "policy; declare Triggers in eventing/",
                    )
                )
    for folder in (root / "functions").glob("*/"):
        if folder.is_dir() and (folder / "function").is_dir() and not (folder / "func.yaml").is_file():
            findings.append(Finding(_rel(root, folder), 0, "function folder has no func.yaml"))
    findings.extend(_argo_findings(root, documents, verbs))
    from codex_pipeline.lint import crossref

    findings.extend(Finding(file, line, message) for file, line, message in crossref.check(root, documents))
    findings.extend(Finding(file, line, message) for file, line, message in crossref.secret_findings(root, documents))
    findings.extend(_local_routing_findings(root, documents))
    from codex_pipeline.lint import deployable

    findings.extend(Finding(file, line, message) for file, line, message in deployable.check(root, documents))
    from codex_pipeline.lint import credentials

    findings.extend(Finding(file, line, message) for file, line, message in credentials.check(root, documents))
    if kustomize:
        findings.extend(kustomize_findings(root))
    return findings


def _local_routing_findings(root: Path, documents: list[Document]) -> Iterator[Finding]:
    """eventing/ must stay routable by `codex-pipeline dev`, or local runs stop matching the cluster."""
    if not any(d.file.is_relative_to(root / "eventing") for d in documents):
        return
    from codex_pipeline.dev.topology import TopologyError, load

    try:
        load(root / "eventing")
    except TopologyError as error:
        yield Finding("eventing", 0, f"`codex-pipeline dev` cannot route eventing/: {error}")
    except (KeyError, TypeError, ValueError) as error:  # a malformed manifest, reported by the schema check too
        yield Finding("eventing", 0, f"`codex-pipeline dev` cannot read eventing/: {error!r}")


def _schema_findings(root: Path, doc: Document) -> Iterator[Finding]:
    file = _rel(root, doc.file)
    value = doc.value
    kind = value.get("kind")
    if not isinstance(kind, str) or not isinstance(value.get("apiVersion"), str):
        yield Finding(file, doc.line, "document has no apiVersion/kind")
        return
    if kind in schemas.KINDS:
        for problem in schemas.validate(value):
            yield Finding(file, doc.line_of(problem.path + problem.unknown[:1]), f"{kind}: {problem}")
        return
    yield from _core_findings(file, doc, kind)


def _core_findings(file: str, doc: Document, kind: str) -> Iterator[Finding]:
    import kubernetes_validate
    from jsonschema import ValidationError
    from kubernetes_validate.utils import SchemaNotFoundError

    try:
        kubernetes_validate.validate(doc.value, KUBERNETES_VERSION, strict=True)
    except SchemaNotFoundError:
        yield Finding(file, doc.line, f"unknown kind {doc.value.get('apiVersion')}/{kind}: no schema")
    except ValidationError as error:  # kubernetes-validate's error is a jsonschema error
        path = tuple(error.absolute_path)
        message = str(error.message)
        where = "/".join(map(str, path)) or "(document)"
        yield Finding(file, doc.line_of(path + schemas.unknown_fields(error)[:1]), f"{kind}: {where}: {message}")


# --- Argo checks beyond the schema -------------------------------------------------------

_REF = re.compile(r"\{\{\s*(inputs|workflow)\.parameters\.([A-Za-z0-9_.-]+?)\s*\}\}")
# Argo resolves {{workflow.annotations.<key>}} only for keys the Workflow (or the template's
# workflowMetadata) carries, and refuses the whole Workflow otherwise ("failed to resolve"); a
# value a submitter may or may not set is a parameter with a default instead.
_ANNOTATION_REF = re.compile(r"\{\{\s*workflow\.annotations\.([A-Za-z0-9_./-]+?)\s*\}\}")


def _walk_strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, (*path, index))


def _argo_findings(root: Path, documents: list[Document], verbs: Collection[str]) -> Iterator[Finding]:
    for doc in documents:
        value = doc.value
        if value.get("kind") not in ("WorkflowTemplate", "Workflow") or not isinstance(value.get("spec"), dict):
            continue
        file = _rel(root, doc.file)
        spec = value["spec"]
        workflow_params = {
            p.get("name") for p in (spec.get("arguments") or {}).get("parameters") or [] if isinstance(p, dict)
        }
        declared_annotations = set((spec.get("workflowMetadata") or {}).get("annotations") or {})
        templates = [t for t in spec.get("templates") or [] if isinstance(t, dict)]
        names = {t.get("name") for t in templates}
        entry = spec.get("entrypoint")
        if entry and entry not in names:
            yield Finding(file, doc.line_of(("spec", "entrypoint")), f"entrypoint {entry!r} is not a template")
        for index, template in enumerate(templates):
            base = ("spec", "templates", index)
            inputs = {
                p.get("name") for p in (template.get("inputs") or {}).get("parameters") or [] if isinstance(p, dict)
            }
            for path, text in _walk_strings(template, base):
                for key in _ANNOTATION_REF.findall(text):
                    # workflow.annotations.json is Argo's own: every annotation as JSON, always defined.
                    if key not in declared_annotations and key != "json":
                        yield Finding(
                            file,
                            doc.line_of(path),
                            f"template {template.get('name')!r}: {{{{workflow.annotations.{key}}}}} "
                            "fails every Workflow that lacks the annotation (Argo: failed to resolve); "
                            "pass it as a workflow parameter with a default",
                        )
                for scope, name in _REF.findall(text):
                    known = inputs if scope == "inputs" else workflow_params
                    if name not in known:
                        yield Finding(
                            file,
                            doc.line_of(path),
                            f"template {template.get('name')!r}: {{{{{scope}.parameters.{name}}}}} "
                            f"does not resolve (declared: {', '.join(sorted(map(str, known))) or 'none'})",
                        )
            for path, ref in _template_refs(template, base):
                if ref not in names:
                    yield Finding(
                        file,
                        doc.line_of(path),
                        f"template {template.get('name')!r} references unknown template {ref!r}",
                    )
            for key in ("container", "script"):
                body = template.get(key)
                if isinstance(body, dict):
                    yield from _command_findings(file, doc, (*base, key), body, verbs)


def _template_refs(template: dict[str, Any], base: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    for i, group in enumerate(template.get("steps") or []):
        for j, step in enumerate(group or []):
            if isinstance(step, dict) and isinstance(step.get("template"), str):
                yield (*base, "steps", i, j, "template"), step["template"]
    for i, task in enumerate((template.get("dag") or {}).get("tasks") or []):
        if isinstance(task, dict) and isinstance(task.get("template"), str):
            yield (*base, "dag", "tasks", i, "template"), task["template"]


def _command_findings(
    file: str, doc: Document, base: tuple[Any, ...], body: dict[str, Any], verbs: Collection[str]
) -> Iterator[Finding]:
    words = [w for w in (body.get("command") or []) + (body.get("args") or []) if isinstance(w, str)]
    source = body.get("source")
    if isinstance(source, str):
        words.extend(source.split())
    for index, word in enumerate(words):
        if word.rsplit("/", 1)[-1] == "codex-pipeline" and index + 1 < len(words):
            verb = words[index + 1]
            if not verb.startswith("-") and verb not in verbs:
                yield Finding(
                    file,
                    doc.line_of((*base, "command")) or doc.line_of(base),
                    f"runs `codex-pipeline {verb}`, which is not a codex-pipeline verb "
                    f"(verbs: {', '.join(sorted(verbs))})",
                )


# --- kustomize ----------------------------------------------------------------------------


def kustomize_findings(root: Path) -> list[Finding]:
    found: list[Finding] = []
    for folder in MANIFEST_DIRS:
        base = root / folder
        if not (base / "kustomization.yaml").is_file():
            continue
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            found.append(
                Finding(folder, 0, f"`kubectl kustomize {folder}/` not run: kubectl is not on PATH", skip=True)
            )
            continue
        done = subprocess.run(
            [kubectl, "kustomize", str(base)], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            found.append(
                Finding(
                    f"{folder}/kustomization.yaml", 1, f"`kubectl kustomize {folder}/` fails: {done.stderr.strip()}"
                )
            )
    return found
