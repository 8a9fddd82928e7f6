"""The event topology declared in ``eventing/``, read as the local router needs it.

``codex-pipeline dev`` routes events by these objects instead of a copy of them, so a Trigger
filter, a retry policy or a dead-letter sink changed in ``eventing/`` changes the local run
too. Only what Knative would act on is read: KafkaSinks (sink name -> topic), KafkaSources
(topics -> broker), Brokers (default delivery), Triggers (broker, filter, subscriber, delivery)
and SinkBindings (function -> K_SINK). Anything the router could not honour (a CESQL filter, a
subscriber that is not a function, a dead-letter sink that is not a KafkaSink) is refused at
start with the file that declares it, rather than silently routed differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KAFKA_SINK_INGRESS = "http://kafka-sink-ingress.knative-eventing.svc.cluster.local"
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class TopologyError(ValueError):
    """eventing/ declares something the local router cannot honour."""


def knative_duration(text: str) -> tuple[float, float]:
    """(seconds as Knative runs them, seconds as written) of an ISO 8601 duration.

    Knative (and the Kafka control plane, which hands it on in milliseconds) parses delivery
    durations with rickb777/date's ``period``, which keeps one decimal place in every field:
    ``PT0.25S`` is stored as 0.2 s and ``PT1.25M`` as 1.2 min. A difference between the two values
    means the manifest promises a wait Knative will not keep."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise TopologyError(f"not an ISO 8601 duration: {text!r} (e.g. PT0.5S)")
    scale = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    written = kept = 0.0
    for unit, value in match.groupdict().items():
        if value:
            whole, _, fraction = value.partition(".")
            tenths = int(whole) * 10 + int(fraction[:1] or 0)
            written += float(value) * scale[unit]
            kept += tenths * scale[unit] / 10
    return kept, written


def parse_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration as Knative runs it (``PT0.5S``, ``PT1M``, ``P1D``; see
    :func:`knative_duration`: one decimal place per field is kept)."""
    return knative_duration(text)[0]


Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Delivery:
    """A Knative delivery spec. ``retry`` None means no retry at all (Knative's default)."""

    retry: int | None = None
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.2
    timeout: float = 30.0
    dead_letter: Key | None = None

    def delay(self, retry: int) -> float:
        """Wait before retry number ``retry`` (1-based), as Knative documents it: linear
        ``backoffDelay * retry``, exponential ``backoffDelay * 2^retry``."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * retry
        return float(self.backoff_delay * 2**retry)

    @property
    def attempts(self) -> int:
        return 1 + (self.retry or 0)


@dataclass(frozen=True)
class Filter:
    """A Trigger's filter: ``filter.attributes`` (exact) and/or ``filters`` (SubscriptionsAPI)."""

    attributes: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[Mapping[str, Any], ...] = ()

    def matches(self, attributes: Mapping[str, str]) -> bool:
        if self.expressions:  # Knative: when ``filters`` is set, ``filter`` is ignored
            return all(_matches(expression, attributes) for expression in self.expressions)
        # An empty value matches any (Knative's "any" filter value).
        return all(not wanted or attributes.get(name) == wanted for name, wanted in self.attributes.items())


def _matches(expression: Mapping[str, Any], attributes: Mapping[str, str]) -> bool:
    ((dialect, value),) = expression.items()
    if dialect == "exact":
        return all(attributes.get(k) == v for k, v in value.items())
    if dialect == "prefix":
        return all(attributes.get(k, "").startswith(v) and k in attributes for k, v in value.items())
    if dialect == "suffix":
        return all(attributes.get(k, "").endswith(v) and k in attributes for k, v in value.items())
    if dialect == "all":
        return all(_matches(item, attributes) for item in value)
    if dialect == "any":
        return any(_matches(item, attributes) for item in value)
    if dialect == "not":
        return not _matches(value, attributes)
    raise TopologyError(f"filter dialect {dialect!r} is not supported locally")


@dataclass(frozen=True)
class Trigger:
    name: str
    namespace: str
    broker: Key
    filter: Filter
    subscriber: str  # function name (Knative Service name)
    delivery: Delivery


@dataclass(frozen=True)
class Source:
    name: str
    topics: tuple[str, ...]
    broker: Key


@dataclass
class Topology:
    sinks: dict[Key, str] = field(default_factory=dict)  # KafkaSink -> topic
    sources: list[Source] = field(default_factory=list)
    brokers: dict[Key, Delivery] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)
    bindings: dict[str, Key] = field(default_factory=dict)  # function -> KafkaSink (K_SINK)

    def topics(self) -> list[str]:
        return sorted(set(self.sinks.values()) | {t for s in self.sources for t in s.topics})

    def triggers_of(self, broker: Key) -> list[Trigger]:
        return [t for t in self.triggers if t.broker == broker]

    def sink_for_url(self, url: str) -> Key | None:
        """The KafkaSink a cluster URL (``kafka-sink-ingress…/<namespace>/<name>``) names."""
        if not url.startswith(KAFKA_SINK_INGRESS + "/"):
            return None
        parts = url[len(KAFKA_SINK_INGRESS) + 1 :].strip("/").split("/")
        key = (parts[0], parts[1]) if len(parts) == 2 else None
        return key if key in self.sinks else None


def _meta(doc: Mapping[str, Any]) -> Key:
    meta = doc.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name"))


def _ref_key(ref: Mapping[str, Any], namespace: str) -> Key:
    return str(ref.get("namespace") or namespace), str(ref.get("name"))


def _delivery(
    spec: Mapping[str, Any] | None,
    namespace: str,
    where: str,
    sinks: Mapping[Key, str],
    default: Delivery | None = None,
) -> Delivery:
    if not spec:
        return default or Delivery()
    dead = None
    dls = spec.get("deadLetterSink")
    if dls:
        ref = dls.get("ref") or {}
        if ref.get("kind") != "KafkaSink":
            raise TopologyError(f"{where}: deadLetterSink must be a KafkaSink locally, got {dls!r}")
        dead = _ref_key(ref, namespace)
        if dead not in sinks:
            raise TopologyError(f"{where}: deadLetterSink KafkaSink {dead[0]}/{dead[1]} is not declared")
    return Delivery(
        retry=spec.get("retry"),
        backoff_policy=str(spec.get("backoffPolicy") or "exponential"),
        backoff_delay=parse_duration(spec["backoffDelay"]) if spec.get("backoffDelay") else 0.2,
        timeout=parse_duration(spec["timeout"]) if spec.get("timeout") else 30.0,
        dead_letter=dead,
    )


def _documents(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(folder.rglob("*.y*ml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                found.append((path, doc))
    return found


def load(folder: Path) -> Topology:
    """Read ``eventing/``; TopologyError names what cannot be honoured locally."""
    if not folder.is_dir():
        raise TopologyError(f"{folder} does not exist: the local router reads its Triggers and sinks there")
    docs = _documents(folder)
    topology = Topology()
    for _path, doc in docs:
        if doc.get("kind") == "KafkaSink":
            topology.sinks[_meta(doc)] = str(doc["spec"]["topic"])
    for path, doc in docs:
        if doc.get("kind") == "Broker":
            key = _meta(doc)
            topology.brokers[key] = _delivery(
                (doc.get("spec") or {}).get("delivery"), key[0], f"{path.name}: Broker {key[1]}", topology.sinks
            )
    for path, doc in docs:
        kind, (namespace, name) = doc.get("kind"), _meta(doc)
        spec = doc.get("spec") or {}
        where = f"{path.name}: {kind} {name}"
        if kind == "KafkaSource":
            ref = (spec.get("sink") or {}).get("ref") or {}
            if ref.get("kind") != "Broker":
                raise TopologyError(f"{where}: the local router feeds KafkaSources into Brokers only")
            topology.sources.append(Source(name, tuple(spec.get("topics") or ()), _ref_key(ref, namespace)))
        elif kind == "Trigger":
            broker = (namespace, str(spec.get("broker")))
            if broker not in topology.brokers:
                raise TopologyError(f"{where}: Broker {broker[1]} is not declared")
            ref = (spec.get("subscriber") or {}).get("ref") or {}
            if ref.get("kind") != "Service":
                raise TopologyError(f"{where}: subscriber must be a function (Knative Service) locally")
            expressions = tuple(spec.get("filters") or ())
            for expression in expressions:
                if "cesql" in str(expression):
                    raise TopologyError(f"{where}: CESQL filters are not supported by the local router")
            topology.triggers.append(
                Trigger(
                    name,
                    namespace,
                    broker,
                    Filter(dict((spec.get("filter") or {}).get("attributes") or {}), expressions),
                    str(ref.get("name")),
                    _delivery(spec.get("delivery"), namespace, where, topology.sinks, topology.brokers[broker]),
                )
            )
        elif kind == "SinkBinding":
            ref = (spec.get("sink") or {}).get("ref") or {}
            subject = (spec.get("subject") or {}).get("name")
            if ref.get("kind") == "KafkaSink" and subject:
                topology.bindings[str(subject)] = _ref_key(ref, namespace)
    for source in topology.sources:
        if source.broker not in topology.brokers:
            raise TopologyError(f"KafkaSource {source.name}: Broker {source.broker[1]} is not declared")
    return topology
