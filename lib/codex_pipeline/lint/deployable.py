"""Checks that hold the manifests to what a real cluster does with them (issue 13).

Each rule is a class of deployment failure that once shipped: a function func refuses to
deploy, an internal function on the public ingress, a backoff Knative silently shortens, events
dropped for want of a dead-letter sink, unordered deliveries of one issue, task text that Argo
substitutes or puts in an environment variable, an output artifact with nowhere to go, an
unpinned runner image, failed pods deleted before anyone reads them, and a namespace nobody
creates. Every finding names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codex_pipeline.lint.yamllines import Document, load_documents

Found = tuple[str, int, str]  # (file relative to root, line, message)

VISIBILITY_LABEL = "networking.knative.dev/visibility"
ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order"
BROKER_CLASS = "eventing.knative.dev/broker.class"
DURATION_FIELDS = ("backoffDelay", "timeout", "retryAfterMax")
# podGC strategies that keep a failed pod (its logs and events) until the Workflow goes.
KEEPS_FAILED_PODS = ("OnPodSuccess", "OnWorkflowSuccess")
STORAGE_KINDS = ("s3", "gcs", "azure", "oss", "hdfs", "artifactory", "http", "git")


def _rel(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _name(doc: Document) -> str:
    return str((doc.value.get("metadata") or {}).get("name") or "")


def _of_kind(documents: list[Document], kind: str) -> list[Document]:
    return [d for d in documents if d.value.get("kind") == kind]


def check(root: Path, documents: list[Document]) -> Iterator[Found]:
    yield from _delivery_findings(root, documents)
    yield from _ordering_findings(root, documents)
    yield from _namespace_findings(root, documents)
    for doc in _of_kind(documents, "WorkflowTemplate"):
        yield from _task_parameter_findings(root, doc)
        yield from _image_findings(root, doc)
        yield from _artifact_findings(root, doc, documents)
    yield from _pod_gc_findings(root, _of_kind(documents, "WorkflowTemplate"))
    yield from _visibility_findings(root, documents)
    for doc in documents:
        yield from _workload_image_findings(root, doc)


# --- Knative delivery ----------------------------------------------------------------------


def _delivery_findings(root: Path, documents: list[Document]) -> Iterator[Found]:
    from codex_pipeline.dev.topology import TopologyError, knative_duration

    for doc in documents:
        kind = doc.value.get("kind")
        if kind not in ("Trigger", "KafkaSource", "Broker"):
            continue
        delivery = (doc.value.get("spec") or {}).get("delivery")
        base = ("spec", "delivery")
        if kind in ("Trigger", "KafkaSource") and not (isinstance(delivery, dict) and delivery.get("deadLetterSink")):
            effect = (
                "the dispatcher commits the offset after the last retry: the event is gone"
                if kind == "KafkaSource"
                else "an event no retry delivers is dropped"
            )
            yield (
                _rel(root, doc.file),
                doc.line_of(base) or doc.line,
                f"{kind} {_name(doc)!r} has no spec.delivery.deadLetterSink: {effect}",
            )
        if not isinstance(delivery, dict):
            continue
        for field in DURATION_FIELDS:
            text = delivery.get(field)
            if not isinstance(text, str):
                continue
            try:
                kept, written = knative_duration(text)
            except TopologyError as error:
                yield _rel(root, doc.file), doc.line_of((*base, field)), f"{kind} {_name(doc)!r}: {error}"
                continue
            if abs(kept - written) > 1e-9:
                yield (
                    _rel(root, doc.file),
                    doc.line_of((*base, field)),
                    f"{kind} {_name(doc)!r}: {field} {text} loses precision: Knative keeps one decimal "
                    f"place and runs it as {kept:g} s, not {written:g} s",
                )


def _ordering_findings(root: Path, documents: list[Document]) -> Iterator[Found]:
    kafka_brokers = {
        ((d.value.get("metadata") or {}).get("namespace"), _name(d))
        for d in _of_kind(documents, "Broker")
        if ((d.value.get("metadata") or {}).get("annotations") or {}).get(BROKER_CLASS) == "Kafka"
    }
    for doc in _of_kind(documents, "Trigger"):
        metadata = doc.value.get("metadata") or {}
        broker = (doc.value.get("spec") or {}).get("broker")
        if (metadata.get("namespace"), broker) not in kafka_brokers:
            continue
        if (metadata.get("annotations") or {}).get(ORDER_ANNOTATION) != "ordered":
            yield (
                _rel(root, doc.file),
                doc.line_of(("metadata",)) or doc.line,
                f"Trigger {_name(doc)!r} on Kafka Broker {broker!r} lacks annotation {ORDER_ANNOTATION}: "
                "ordered (without it the events of one issue reach the subscriber unordered)",
            )


# --- namespaces -----------------------------------------------------------------------------


def _namespace_findings(root: Path, documents: list[Document]) -> Iterator[Found]:
    declared = {_name(d) for d in _of_kind(documents, "Namespace")}
    seen: set[str] = set()
    for doc in documents:
        namespace = (doc.value.get("metadata") or {}).get("namespace")
        if isinstance(namespace, str) and namespace not in declared and namespace not in seen:
            seen.add(namespace)
            yield (
                _rel(root, doc.file),
                doc.line_of(("metadata", "namespace")),
                f"namespace {namespace!r} is used but no Namespace in eventing/ or workflows/ creates it "
                "(the first apply fails)",
            )
    for path in sorted((root / "functions").glob("*/func.yaml")):
        loaded, _ = load_documents(path)
        for doc in loaded:
            namespace = (doc.value.get("deploy") or {}).get("namespace")
            if isinstance(namespace, str) and namespace not in declared and namespace not in seen:
                seen.add(namespace)
                yield (
                    _rel(root, path),
                    doc.line_of(("deploy", "namespace")),
                    f"func deploys into namespace {namespace!r}, which no Namespace in eventing/ creates",
                )


# --- functions ------------------------------------------------------------------------------


def _visibility_findings(root: Path, documents: list[Document]) -> Iterator[Found]:
    """A function only Triggers call must not have a public route."""
    subscribed = {
        str(((t.value.get("spec") or {}).get("subscriber") or {}).get("ref", {}).get("name"))
        for t in _of_kind(documents, "Trigger")
    }
    for path in sorted((root / "functions").glob("*/func.yaml")):
        if path.parent.name not in subscribed:
            continue
        loaded, _ = load_documents(path)
        for doc in loaded:
            labels = (doc.value.get("deploy") or {}).get("labels") or []
            values = {str(item.get("key")): item.get("value") for item in labels if isinstance(item, dict)}
            if values.get(VISIBILITY_LABEL) != "cluster-local":
                yield (
                    _rel(root, path),
                    doc.line_of(("deploy",)) or doc.line,
                    f"{path.parent.name} is called only by Triggers but has no deploy.labels "
                    f"{VISIBILITY_LABEL}: cluster-local (its Knative Service gets a public URL)",
                )


# --- Argo -----------------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)


def _strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _mentions(expression: str, scope: str, name: str) -> bool:
    return bool(
        re.search(rf"\b{scope}\.parameters(\.{re.escape(name)}\b|\[\s*['\"]{re.escape(name)}['\"]\s*\])", expression)
    )


def task_parameters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Workflow parameters without a value or default: what the submitter sets per task (task data)."""
    params = ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    return {
        str(p["name"]): p
        for p in params
        if isinstance(p, dict) and "name" in p and "value" not in p and "default" not in p
    }


def _is_raw_data(path: tuple[Any, ...]) -> bool:
    return len(path) >= 6 and path[-5:-3] == ("inputs", "artifacts") and path[-2:] == ("raw", "data")


def _task_parameter_findings(root: Path, doc: Document) -> Iterator[Found]:
    """Task data reaches a step only base64-encoded, as the data of a raw input artifact (a file)."""
    file = _rel(root, doc.file)
    spec = doc.value.get("spec") or {}
    tasks = task_parameters(doc.value)
    for name, param in tasks.items():
        if "base64" not in str(param.get("description") or ""):
            yield (
                file,
                doc.line_of(("spec", "arguments", "parameters")),
                f"WorkflowTemplate {_name(doc)!r}: task parameter {name!r} must be base64 (say so in its "
                "description): Argo substitutes a value, then the result again",
            )
    entry = spec.get("entrypoint")
    for index, template in enumerate(spec.get("templates") or []):
        if not isinstance(template, dict):
            continue
        base = ("spec", "templates", index)
        tainted = set()
        for param in (template.get("inputs") or {}).get("parameters") or []:
            if not isinstance(param, dict):
                continue
            value = str(param.get("value") or param.get("default") or "")
            if any(_mentions(e, "workflow", t) for e in _EXPRESSION.findall(value) for t in tasks) or (
                template.get("name") == entry and param.get("name") in tasks and "value" not in param
            ):
                tainted.add(str(param.get("name")))
        for path, text in _strings(template, base):
            for expression in _EXPRESSION.findall(text):
                for scope, names in (("workflow", tasks), ("inputs", tainted)):
                    for name in names:
                        if not _mentions(expression, scope, name):
                            continue
                        if scope == "workflow" and _is_raw_data(path):
                            if text.strip() != f"{{{{workflow.parameters.{name}}}}}":
                                yield (
                                    file,
                                    doc.line_of(path),
                                    f"template {template.get('name')!r}: raw artifact data must be exactly "
                                    f"{{{{workflow.parameters.{name}}}}} (the base64 text, nothing around it)",
                                )
                            continue
                        where = "an environment variable" if "env" in path else "plain form"
                        yield (
                            file,
                            doc.line_of(path),
                            f"template {template.get('name')!r} passes task parameter {name!r} in {where}: "
                            "task data reaches a step only as the data of a raw input artifact (a file)",
                        )


def _parameter_default(template: dict[str, Any], text: str) -> str:
    match = re.fullmatch(r"\{\{\s*workflow\.parameters\.([A-Za-z0-9_.-]+)\s*\}\}", text.strip())
    if not match:
        return text
    for param in ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []:
        if isinstance(param, dict) and param.get("name") == match.group(1):
            return str(param.get("value") or param.get("default") or "")
    return ""


def image_is_pinned(image: str) -> bool:
    """A digest, or a tag other than ``latest``."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def _image_findings(root: Path, doc: Document) -> Iterator[Found]:
    for index, template in enumerate((doc.value.get("spec") or {}).get("templates") or []):
        if not isinstance(template, dict):
            continue
        for part in ("container", "script"):
            body = template.get(part)
            if not isinstance(body, dict) or not isinstance(body.get("image"), str):
                continue
            image = _parameter_default(doc.value, body["image"])
            path = ("spec", "templates", index, part, "image")
            if not image_is_pinned(image):
                yield (
                    _rel(root, doc.file),
                    doc.line_of(path),
                    f"template {template.get('name')!r} runs image {image!r}: pin a version tag or a digest "
                    "(a node keeps running whatever `latest` it pulled first)",
                )
            elif body.get("imagePullPolicy") == "Never":
                yield (
                    _rel(root, doc.file),
                    doc.line_of(path),
                    f"template {template.get('name')!r}: imagePullPolicy Never cannot fetch the pinned image",
                )


# Where each workload kind keeps its pod spec (Kubernetes apps/v1 and batch/v1).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
}


def _workload_image_findings(root: Path, doc: Document) -> Iterator[Found]:
    """The same pin rule for a Kubernetes workload (the reconcile CronJob runs the runner image too)."""
    path = POD_SPEC_PATHS.get(str(doc.value.get("kind")))
    if path is None:
        return
    pod: Any = doc.value
    for key in path:
        pod = pod.get(key) if isinstance(pod, dict) else None
    if not isinstance(pod, dict):
        return
    for group in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(group) or []):
            image = container.get("image") if isinstance(container, dict) else None
            if isinstance(image, str) and not image_is_pinned(image):
                yield (
                    _rel(root, doc.file),
                    doc.line_of((*path, group, index, "image")) or doc.line,
                    f"{doc.value.get('kind')} {_name(doc)!r} container {container.get('name')!r} runs image "
                    f"{image!r}: pin a version tag or a digest (a node keeps running whatever `latest` it "
                    "pulled first)",
                )


def _pod_gc_findings(root: Path, templates: list[Document]) -> Iterator[Found]:
    strategies: dict[str, list[Document]] = {}
    for doc in templates:
        strategy = str(((doc.value.get("spec") or {}).get("podGC") or {}).get("strategy") or "")
        if strategy not in KEEPS_FAILED_PODS:
            yield (
                _rel(root, doc.file),
                doc.line_of(("spec", "podGC")) or doc.line,
                f"WorkflowTemplate {_name(doc)!r}: podGC strategy {strategy or 'unset'!r} does not keep failed "
                f"pods for inspection (use {' or '.join(KEEPS_FAILED_PODS)})",
            )
        strategies.setdefault(strategy, []).append(doc)
    if len(strategies) > 1:
        names = ", ".join(f"{_name(d)}={s or 'unset'}" for s, docs in sorted(strategies.items()) for d in docs)
        first = templates[0]
        yield (
            _rel(root, first.file),
            first.line_of(("spec", "podGC")) or first.line,
            f"WorkflowTemplates differ in podGC strategy ({names}): one policy for every run",
        )


def _artifact_findings(root: Path, doc: Document, documents: list[Document]) -> Iterator[Found]:
    import yaml

    spec = doc.value.get("spec") or {}
    outputs = [
        t for t in spec.get("templates") or [] if isinstance(t, dict) and ((t.get("outputs") or {}).get("artifacts"))
    ]
    if not outputs:
        return
    file = _rel(root, doc.file)
    ref = spec.get("artifactRepositoryRef")
    if not isinstance(ref, dict) or not ref.get("configMap") or not ref.get("key"):
        yield (
            file,
            doc.line_of(("spec",)) or doc.line,
            f"WorkflowTemplate {_name(doc)!r} has output artifacts but no spec.artifactRepositoryRef "
            "(configMap + key): without a repository the step errors at upload, after its work is done",
        )
        return
    namespace = (doc.value.get("metadata") or {}).get("namespace")
    maps = [
        d
        for d in _of_kind(documents, "ConfigMap")
        if _name(d) == ref["configMap"] and (d.value.get("metadata") or {}).get("namespace") in (namespace, None)
    ]
    line = doc.line_of(("spec", "artifactRepositoryRef"))
    if not maps:
        yield (
            file,
            line,
            f"artifactRepositoryRef names ConfigMap {ref['configMap']!r}, which workflows/ does not "
            "declare (Argo then falls back to a default repository that may not exist)",
        )
        return
    text = (maps[0].value.get("data") or {}).get(ref["key"])
    try:
        repository = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        repository = None
    if not isinstance(repository, dict) or not any(kind in repository for kind in STORAGE_KINDS):
        yield (
            file,
            line,
            f"ConfigMap {ref['configMap']!r} key {ref['key']!r} does not describe an artifact "
            f"repository (one of: {', '.join(STORAGE_KINDS)})",
        )
