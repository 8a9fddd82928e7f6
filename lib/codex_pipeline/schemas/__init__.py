"""Strict JSON Schemas for the custom resources codex-pipeline writes, and ``validate``.

The schemas (YAML-encoded JSON Schema, draft 2020-12) are written for this project from the
documented upstream API fields; each names the API version it follows. Objects the upstream
closes are closed here, so a misspelled field is a problem, not silently ignored.

``validate(document)`` is what tests call on a submitted Argo Workflow body and what
``codex-pipeline lint`` calls on every manifest of a custom kind: it returns problems (empty
list = valid), each with the JSON path inside the document.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent

# kind -> (apiVersion it must have, schema file, pointer to the kind's schema inside the file).
# The version is the one the supported releases serve (README "Deployment": Knative Eventing 1.22,
# eventing-kafka-broker 1.23, Strimzi 1.0-1.2, Argo Workflows 4.1); kubectl refuses the whole
# `apply -k` when one object names a version the cluster does not serve.
KINDS: dict[str, tuple[str, str, str]] = {
    "Workflow": ("argoproj.io/v1alpha1", "argo-workflow.yaml", ""),
    "WorkflowTemplate": ("argoproj.io/v1alpha1", "argo-workflow.yaml", ""),
    "Broker": ("eventing.knative.dev/v1", "knative-eventing.yaml", "Broker"),
    "Trigger": ("eventing.knative.dev/v1", "knative-eventing.yaml", "Trigger"),
    "SinkBinding": ("sources.knative.dev/v1", "knative-eventing.yaml", "SinkBinding"),
    "KafkaSource": ("sources.knative.dev/v1beta1", "knative-eventing.yaml", "KafkaSource"),
    "KafkaSink": ("eventing.knative.dev/v1alpha1", "knative-eventing.yaml", "KafkaSink"),
    "KafkaTopic": ("kafka.strimzi.io/v1", "strimzi-kafkatopic.yaml", ""),
}
FUNC_YAML = "func-yaml.yaml"


@dataclass(frozen=True)
class Problem:
    """One schema violation: ``path`` is the key/index path inside the document."""

    path: tuple[str | int, ...]
    message: str
    unknown: tuple[str, ...] = ()  # the misspelled/unknown field names at ``path``, if any

    def __str__(self) -> str:
        where = "/".join(str(p) for p in self.path) or "(document)"
        return f"{where}: {self.message}"


@functools.cache
def _load(file: str) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load((_HERE / file).read_text())
    return loaded


@functools.cache
def _validator(file: str, kind: str) -> Any:
    from jsonschema import Draft202012Validator

    root = _load(file)
    schema = dict(root)
    if kind:
        schema = {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": f"#/$defs/kinds/{kind}"}
    return Draft202012Validator(schema)


def _problems(validator: Any, document: Any) -> list[Problem]:
    found = []
    for error in validator.iter_errors(document):
        found.append(Problem(tuple(error.absolute_path), _message(error), unknown_fields(error)))
    return sorted(found, key=lambda p: [str(x) for x in p.path])


def unknown_fields(error: Any) -> tuple[str, ...]:
    """The fields a jsonschema ``additionalProperties: false`` error is about."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return ()
    return tuple(sorted(str(k) for k in set(error.instance) - set(error.schema.get("properties", {}))))


def _message(error: Any) -> str:
    extra = unknown_fields(error)
    if extra:
        return f"unknown field(s) {', '.join(map(repr, extra))}"
    return str(error.message)


def validate(document: Any) -> list[Problem]:
    """Problems of one custom-resource document (Argo, Knative, Strimzi); [] when valid."""
    if not isinstance(document, dict):
        return [Problem((), "a manifest must be a mapping")]
    kind = document.get("kind")
    if kind not in KINDS:
        return [Problem(("kind",), f"no schema for kind {kind!r} (known: {', '.join(sorted(KINDS))})")]
    api_version, file, pointer = KINDS[kind]
    if document.get("apiVersion") != api_version:
        return [
            Problem(
                ("apiVersion",),
                f"{kind} is {api_version}, not {document.get('apiVersion')!r} "
                "(the version the supported releases serve)",
            )
        ]
    return _problems(_validator(file, pointer), document)


def validate_func_yaml(document: Any) -> list[Problem]:
    """Problems of one func.yaml (knative/func 1.23 schema; ``created`` required, RFC 3339).

    A YAML loader turns an unquoted timestamp into a datetime (func writes ``created`` unquoted):
    it is checked as the text func reads, so a zone-less time still fails the RFC 3339 pattern."""
    import datetime

    if isinstance(document, dict) and isinstance(document.get("created"), datetime.datetime | datetime.date):
        created = document["created"]
        text = created.isoformat()
        if isinstance(created, datetime.datetime) and created.utcoffset() == datetime.timedelta(0):
            text = text.replace("+00:00", "Z")
        document = {**document, "created": text}
    return _problems(_validator(FUNC_YAML, ""), document)
