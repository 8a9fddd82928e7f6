"""What a Workflow asks to run, read the way Argo Workflows (4.1) reads it, for local runs.

A submitted Workflow names a WorkflowTemplate (``spec.workflowTemplateRef``) and passes
``spec.arguments.parameters``. :func:`resolve` merges the two as Argo does (the Workflow's
arguments win by name, the template's defaults fill the rest) and gives the values every
``{{…}}`` expression of the template may use: ``workflow.name``, ``workflow.namespace``,
``workflow.uid``, ``workflow.creationTimestamp``, ``workflow.parameters.<p>``,
``workflow.labels.<l>``, ``workflow.annotations.<a>``, ``workflow.annotations.json`` (all of them as
JSON, as Argo 3.6+ gives it) (and, in an exit handler,
``workflow.status``, ``workflow.failures`` and ``workflow.duration``); ``inputs.parameters.<p>``
are per template.

Only simple tags are substituted, once (Argo substitutes twice, see FACTS.md; a local run has no
reason to). Expression tags (``{{=…}}``) and unknown names are left as they are.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_TAG = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class TemplateError(Exception):
    """The Workflow cannot run here (no such template, a parameter without a value, ...)."""


def _documents(folder: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, document) of every ``kind`` under ``folder`` (``*.yaml``, multi-document); a file
    that is not YAML is skipped (lint reports it, a local run should not die of it)."""
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == kind:
                yield str((document.get("metadata") or {}).get("name") or ""), document


def load_templates(folder: Path) -> dict[str, dict[str, Any]]:
    """Every WorkflowTemplate under ``folder``, by name."""
    return {name: document for name, document in _documents(folder, "WorkflowTemplate") if name}


def semaphore_limits(folder: Path) -> dict[str, int]:
    """``<configmap>/<key>`` -> limit, from the ConfigMaps under ``folder`` (what a semaphore's
    ``configMapKeyRef`` names; Argo reads the limit from the key's value)."""
    limits: dict[str, int] = {}
    for name, document in _documents(folder, "ConfigMap"):
        for key, value in (document.get("data") or {}).items():
            if str(value).strip().isdigit():
                limits[f"{name}/{key}"] = int(str(value).strip())
    return limits


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    """``value`` (a string, or lists/dicts of them) with each known ``{{name}}`` replaced."""
    if isinstance(value, str):
        return _TAG.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value


@dataclass
class Resolved:
    """A Workflow joined with its template: the spec to run and the workflow-level variables."""

    name: str
    namespace: str
    template_name: str
    spec: dict[str, Any]
    variables: dict[str, str]
    labels: dict[str, str]
    annotations: dict[str, str]

    def template(self, name: str) -> dict[str, Any]:
        for template in self.spec.get("templates") or []:
            if isinstance(template, dict) and template.get("name") == name:
                return template
        raise TemplateError(f"template {name!r} is not defined in {self.template_name}")


def _parameters(items: Any) -> list[dict[str, Any]]:
    return [item for item in items or [] if isinstance(item, dict) and item.get("name")]


def resolve(workflow: Mapping[str, Any], templates: Mapping[str, dict[str, Any]]) -> Resolved:
    metadata = workflow.get("metadata") or {}
    spec = workflow.get("spec") or {}
    name = str(metadata.get("name") or "")
    ref = (spec.get("workflowTemplateRef") or {}).get("name")
    if ref:
        if ref not in templates:
            known = ", ".join(sorted(templates))
            raise TemplateError(f"WorkflowTemplate {ref!r} is not in workflows/ (known: {known})")
        merged = copy.deepcopy(templates[ref].get("spec") or {})
        own = {key: value for key, value in spec.items() if key not in ("workflowTemplateRef", "arguments")}
        merged.update(copy.deepcopy(own))
    else:
        merged = copy.deepcopy(dict(spec))
    defaults = {p["name"]: p for p in _parameters((merged.get("arguments") or {}).get("parameters"))}
    given = {p["name"]: p for p in _parameters((spec.get("arguments") or {}).get("parameters"))}
    parameters: dict[str, str] = {}
    for key in [*defaults, *[k for k in given if k not in defaults]]:
        item = given.get(key) or defaults[key]
        if "value" not in item:
            raise TemplateError(f"workflow parameter {key!r} has no value (the Workflow must pass it)")
        parameters[key] = str(item["value"])
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    variables = {
        "workflow.name": name,
        "workflow.namespace": str(metadata.get("namespace") or "default"),
        "workflow.uid": str(metadata.get("uid") or uuid.uuid5(uuid.NAMESPACE_URL, f"codex-pipeline-dev/{name}")),
        "workflow.creationTimestamp": str(metadata.get("creationTimestamp") or ""),
        "workflow.serviceAccountName": str(merged.get("serviceAccountName") or "default"),
        **{f"workflow.parameters.{key}": value for key, value in parameters.items()},
        **{f"workflow.labels.{key}": value for key, value in labels.items()},
        **annotation_variables(annotations),
    }
    return Resolved(name, variables["workflow.namespace"], str(ref or ""), merged, variables, labels, annotations)


def annotation_variables(annotations: Mapping[str, str]) -> dict[str, str]:
    """``workflow.annotations.<a>`` and ``workflow.annotations.json`` (every annotation, as JSON)."""
    return {
        **{f"workflow.annotations.{key}": value for key, value in annotations.items()},
        "workflow.annotations.json": json.dumps(dict(annotations), separators=(",", ":")),
    }


def input_parameters(
    template: Mapping[str, Any], passed: Mapping[str, str], variables: Mapping[str, str]
) -> dict[str, str]:
    """``inputs.parameters.<p>`` of a template: what the caller passed, else the input's own value."""
    values: dict[str, str] = {}
    for item in _parameters((template.get("inputs") or {}).get("parameters")):
        key = item["name"]
        if key in passed:
            values[f"inputs.parameters.{key}"] = passed[key]
        elif "value" in item:
            values[f"inputs.parameters.{key}"] = str(substitute(str(item["value"]), variables))
        elif "default" in item:
            values[f"inputs.parameters.{key}"] = str(substitute(str(item["default"]), variables))
        else:
            raise TemplateError(f"input parameter {key!r} of template {template.get('name')!r} has no value")
    return values
