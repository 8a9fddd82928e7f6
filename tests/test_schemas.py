"""The project's strict CRD schemas: valid bodies pass, misspellings and wrong versions fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from codex_pipeline import schemas


def workflow() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": "codex-planning-",
            "namespace": "argo-workflows",
            "labels": {"codex.proompteng.ai/issue": "7"},
        },
        "spec": {
            "workflowTemplateRef": {"name": "facteur-dispatch"},
            "arguments": {"parameters": [{"name": "eventBody", "value": "{}"}, {"name": "stage", "value": "plan"}]},
        },
    }


def template() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "facteur-dispatch"},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "stage", "value": "plan"}]},
            "volumes": [
                {"name": "gh", "secret": {"secretName": "codex-github", "items": [{"key": "token", "path": "token"}]}}
            ],
            "templates": [
                {
                    "name": "main",
                    "dag": {
                        "tasks": [
                            {
                                "name": "run",
                                "template": "step",
                                "depends": "",
                                "arguments": {"parameters": [{"name": "s", "value": "{{workflow.parameters.stage}}"}]},
                            }
                        ]
                    },
                },
                {
                    "name": "step",
                    "inputs": {"parameters": [{"name": "s"}]},
                    "retryStrategy": {
                        "limit": 2,
                        "retryPolicy": "OnError",
                        "backoff": {"duration": "10s", "factor": 2},
                    },
                    "container": {
                        "image": "ghcr.io/x/codex:1",
                        "command": ["codex-pipeline", "step"],
                        "args": ["{{inputs.parameters.s}}"],
                        "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "codex-github", "key": "token"}}}],
                        "volumeMounts": [{"name": "gh", "mountPath": "/var/gh", "readOnly": True}],
                    },
                },
            ],
        },
    }


def test_valid_workflow_and_template_have_no_problems() -> None:
    assert schemas.validate(workflow()) == []
    assert schemas.validate(template()) == []


@pytest.mark.parametrize(
    ("mutate", "path", "needle"),
    [
        (
            lambda d: d["spec"].__setitem__("workflowTemplateRf", d["spec"].pop("workflowTemplateRef")),
            ("spec",),
            "workflowTemplateRf",
        ),
        (
            lambda d: d["spec"]["arguments"]["parameters"][0].__setitem__("valu", "x"),
            ("spec", "arguments", "parameters", 0),
            "valu",
        ),
        (lambda d: d["metadata"].__setitem__("generatedName", "x"), ("metadata",), "generatedName"),
        (
            lambda d: d["spec"]["arguments"]["parameters"].append({"value": "x"}),
            ("spec", "arguments", "parameters", 2),
            "'name' is a required property",
        ),
    ],
)
def test_workflow_problems_name_the_path(mutate: Any, path: tuple[Any, ...], needle: str) -> None:
    body = workflow()
    mutate(body)
    problems = schemas.validate(body)
    assert any(p.path == path and needle in p.message for p in problems), problems


def test_misspelled_container_field_in_template_fails() -> None:
    body = template()
    container = body["spec"]["templates"][1]["container"]
    container["comand"] = container.pop("command")
    problems = schemas.validate(body)
    assert [(p.path, "comand" in p.message) for p in problems] == [(("spec", "templates", 1, "container"), True)]


def test_wrong_api_version_is_named() -> None:
    body = workflow()
    body["apiVersion"] = "argoproj.io/v1beta1"
    assert [str(p) for p in schemas.validate(body)] == [
        "apiVersion: Workflow is argoproj.io/v1alpha1, not 'argoproj.io/v1beta1' (the version the supported releases "
        "serve)"
    ]


def test_unknown_kind_is_a_problem() -> None:
    problems = schemas.validate({"apiVersion": "example.com/v1", "kind": "Gadget"})
    assert problems and problems[0].path == ("kind",)


TRIGGER: dict[str, Any] = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Trigger",
    "metadata": {"name": "route-task", "namespace": "codex"},
    "spec": {
        "broker": "github",
        "filter": {"attributes": {"type": "com.github.issues.opened"}},
        "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "route-task"}},
        "delivery": {
            "retry": 5,
            "backoffPolicy": "exponential",
            "backoffDelay": "PT1S",
            "deadLetterSink": {
                "ref": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink", "name": "dlq"}
            },
        },
    },
}


@pytest.mark.parametrize(
    "document",
    [
        TRIGGER,
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": {"name": "github", "annotations": {"eventing.knative.dev/broker.class": "Kafka"}},
            "spec": {"config": {"apiVersion": "v1", "kind": "ConfigMap", "name": "kafka-broker-config"}},
        },
        {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "SinkBinding",
            "metadata": {"name": "ingest"},
            "spec": {
                "subject": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "ingest-webhook"},
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink", "name": "raw"}},
            },
        },
        {
            "apiVersion": "sources.knative.dev/v1beta1",
            "kind": "KafkaSource",
            "metadata": {"name": "raw"},
            "spec": {
                "bootstrapServers": ["kafka:9092"],
                "topics": ["github.webhook.events"],
                "consumerGroup": "g",
                "initialOffset": "earliest",
                "sink": {"uri": "http://broker/"},
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1alpha1",
            "kind": "KafkaSink",
            "metadata": {"name": "raw"},
            "spec": {"topic": "github.webhook.events", "bootstrapServers": ["kafka:9092"], "contentMode": "binary"},
        },
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": "github.webhook.events", "labels": {"strimzi.io/cluster": "kafka"}},
            "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 604800000}},
        },
    ],
)
def test_eventing_kinds_valid_then_misspelled(document: dict[str, Any]) -> None:
    assert schemas.validate(document) == []
    broken = copy.deepcopy(document)
    broken["spec"]["colour"] = "red"
    problems = schemas.validate(broken)
    assert [p.path for p in problems] == [("spec",)] and "colour" in problems[0].message


def test_trigger_delivery_policy_misspelled() -> None:
    broken = copy.deepcopy(TRIGGER)
    broken["spec"]["delivery"]["backofPolicy"] = broken["spec"]["delivery"].pop("backoffPolicy")
    assert [p.path for p in schemas.validate(broken)] == [("spec", "delivery")]


def test_func_yaml_schema() -> None:
    good: dict[str, Any] = {
        "specVersion": "0.36.0",
        "created": "2026-11-29T18:00:00Z",
        "name": "route-task",
        "runtime": "python",
        "invoke": "http",
        "run": {"envs": [{"name": "CODEX_X", "value": "{{ secret:codex:x }}"}]},
        "deploy": {"healthEndpoints": {"liveness": "/health/liveness", "readiness": "/health/readiness"}},
    }
    assert schemas.validate_func_yaml(good) == []
    bad = copy.deepcopy(good)
    bad["deploy"]["healthEndpoint"] = bad["deploy"].pop("healthEndpoints")
    assert [p.path for p in schemas.validate_func_yaml(bad)] == [("deploy",)]
