"""eventing/ wires the five functions as ARCHITECTURE.md says, read through the same model the
local router uses (so these checks hold for `codex-pipeline dev` and for the cluster alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from codex_pipeline.dev.topology import Delivery, Filter, TopologyError, load, parse_duration
from codex_pipeline.wire.events import TASK_TYPES

ROOT = Path(__file__).resolve().parent.parent
EVENTING = ROOT / "eventing"


@pytest.fixture(scope="module")
def topology():
    return load(EVENTING)


def _docs(kind: str) -> list[dict[str, Any]]:
    return [
        d
        for p in sorted(EVENTING.glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if isinstance(d, dict) and d.get("kind") == kind
    ]


def subscribers(topology, attributes: dict[str, str]) -> set[str]:
    """Functions an event reaches: through every KafkaSource whose broker has a matching Trigger."""
    return {t.subscriber for t in topology.triggers if t.filter.matches(attributes)}


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("com.github.issues.opened", {"route-task"}),
        ("com.github.issue_comment.created", {"route-task"}),
        ("com.github.check_suite.completed", {"route-task"}),
        (TASK_TYPES["planning"], {"dispatch-planning"}),
        (TASK_TYPES["implementation"], {"promote-plan"}),
        (TASK_TYPES["review"], {"request-review"}),
        (TASK_TYPES["readiness"], {"request-review"}),
        ("codex.workflow.submitted", set()),  # the effect functions' reply: an audit trail, never a loop
        ("dev.knative.kafka.event", set()),
    ],
)
def test_each_type_reaches_exactly_its_function(topology, event_type, expected):
    assert subscribers(topology, {"type": event_type}) == expected


def test_raw_and_task_events_live_on_different_brokers(topology):
    brokers = {t.subscriber: t.broker for t in topology.triggers}
    assert brokers["route-task"] == ("codex", "github-webhook")
    assert {brokers[f] for f in ("dispatch-planning", "promote-plan", "request-review")} == {("codex", "codex-tasks")}


def test_topics_are_the_specs_and_every_sink_topic_is_a_strimzi_topic(topology):
    declared = {d["spec"]["topicName"] for d in _docs("KafkaTopic")}
    assert {"github.webhook.events", "github.codex.tasks", "github.issues.codex.tasks"} <= declared
    assert set(topology.sinks.values()) <= declared
    assert {t for s in topology.sources for t in s.topics} <= declared


def test_sources_feed_raw_topic_to_raw_broker_and_protobuf_tasks_to_task_broker(topology):
    fed = {topic: source.broker for source in topology.sources for topic in source.topics}
    assert fed == {
        "github.webhook.events": ("codex", "github-webhook"),
        "github.issues.codex.tasks": ("codex", "codex-tasks"),
    }


def test_retries_wait_one_second_doubling_to_sixteen(topology):
    """backoffDelay PT0.5S, exponential: Knative waits backoffDelay * 2^n (PT0.25S would run as 0.2 s)."""
    for trigger in topology.triggers:
        assert [trigger.delivery.delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 16], trigger.name


def test_every_trigger_retries_with_backoff_and_dead_letters(topology):
    dead_letter_topic = {d["spec"]["topicName"] for d in _docs("KafkaTopic") if "dead" in d["spec"]["topicName"]}
    assert dead_letter_topic
    for trigger in topology.triggers:
        delivery = trigger.delivery
        assert delivery.retry and delivery.retry >= 3, trigger.name
        assert delivery.backoff_policy == "exponential", trigger.name
        assert delivery.timeout > 0, trigger.name
        assert delivery.dead_letter is not None and topology.sinks[delivery.dead_letter] in dead_letter_topic


def test_ingest_sink_binding_points_at_the_raw_topic(topology):
    assert topology.sinks[topology.bindings["ingest-webhook"]] == "github.webhook.events"


def test_route_task_func_yaml_sinks_name_the_task_kafka_sinks(topology):
    func = yaml.safe_load((ROOT / "functions/route-task/func.yaml").read_text())
    envs = {e["name"]: e.get("value") for e in func["run"]["envs"]}
    assert topology.sinks[topology.sink_for_url(envs["CODEX_TASKS_SINK"])] == "github.issues.codex.tasks"
    assert topology.sinks[topology.sink_for_url(envs["CODEX_TASKS_JSON_SINK"])] == "github.codex.tasks"


def test_submitters_service_account_may_create_read_and_stop_workflows():
    accounts = {d["metadata"]["name"] for d in _docs("ServiceAccount")}
    for name in ("dispatch-planning", "promote-plan", "request-review"):
        func = yaml.safe_load((ROOT / "functions" / name / "func.yaml").read_text())
        assert func["deploy"]["serviceAccountName"] in accounts
    (role,) = [r for r in _docs("Role") if r["metadata"]["name"] == "codex-workflow-submitter"]
    rule = next(r for r in role["rules"] if "workflows" in r["resources"])
    assert "create" in rule["verbs"] and rule["apiGroups"] == ["argoproj.io"]
    # What the submitters also do to Workflows: read one (a 409, retry's outcome) and stop one (patch).
    assert {"get", "patch"} <= set(rule["verbs"])
    (binding,) = _docs("RoleBinding")
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == "argo-workflows"
    assert binding["subjects"][0] == {
        "kind": "ServiceAccount",
        "name": "codex-workflow-submitter",
        "namespace": "codex",
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.5S", 0.5), ("PT30S", 30), ("PT1M", 60), ("P1D", 86400), ("PT1H0.25S", 3600.2), ("PT0.05S", 0.0)],
)
def test_durations_are_read_as_knative_reads_them(text, seconds):
    """Knative keeps one decimal place of each field: PT0.25S runs as 0.2 s."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "30s", "PT-1S"])
def test_bad_durations_are_refused(text):
    with pytest.raises(TopologyError):
        parse_duration(text)


def test_backoff_follows_knative_formulas():
    exponential = Delivery(retry=5, backoff_policy="exponential", backoff_delay=0.5)
    linear = Delivery(retry=5, backoff_policy="linear", backoff_delay=0.5)
    assert [exponential.delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert [linear.delay(n) for n in range(1, 4)] == [0.5, 1.0, 1.5]
    assert Delivery().attempts == 1  # no retry field, no retry


@pytest.mark.parametrize(
    ("flt", "attributes", "matched"),
    [
        (Filter({"type": "a"}), {"type": "a"}, True),
        (Filter({"type": "a"}), {"type": "ab"}, False),
        (Filter({"type": ""}), {"type": "anything"}, True),
        (Filter({}, ({"prefix": {"type": "com.github."}},)), {"type": "com.github.push"}, True),
        (Filter({}, ({"prefix": {"type": "com.github."}},)), {"type": "codex.task.review"}, False),
        (Filter({}, ({"suffix": {"type": ".opened"}},)), {"type": "com.github.issues.opened"}, True),
        (Filter({}, ({"any": [{"exact": {"type": "x"}}, {"exact": {"type": "y"}}]},)), {"type": "y"}, True),
        (Filter({}, ({"all": [{"exact": {"type": "x"}}, {"exact": {"subject": "1"}}]},)), {"type": "x"}, False),
        (Filter({}, ({"not": {"exact": {"type": "x"}}},)), {"type": "x"}, False),
        (Filter({}, ({"exact": {"subject": "1"}},)), {"type": "x"}, False),  # absent attribute never matches
        (Filter({"type": "y"}, ({"exact": {"type": "x"}},)), {"type": "x"}, True),  # filters set: filter ignored
    ],
)
def test_filter_dialects(flt, attributes, matched):
    assert flt.matches(attributes) is matched


def test_what_the_router_cannot_honour_is_refused(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b, namespace: codex}\n---\n"
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, namespace: codex}\n"
        "spec:\n  broker: b\n  filters: [{cesql: \"type = 'x'\"}]\n"
        "  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: route-task}}\n"
    )
    with pytest.raises(TopologyError, match="CESQL"):
        load(tmp_path)
