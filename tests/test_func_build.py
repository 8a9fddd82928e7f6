"""Every function builds and serves the way ``func deploy`` (func 1.18+, func-python) builds it.

For each function folder on the tree: bundle it, copy the bundle to ``f/``, write func's
``service`` wrapper, install into a venv of its own (cloudevents 2.x), start
``python -m service.main`` and send real requests; the same requests go to the same function
under functions-framework (cloudevents 1.x) and both answers must agree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from codex_pipeline.cli.bundle import NOT_DEPLOYED
from codex_pipeline.wire import tasks
from codex_pipeline.wire.signatures import sign
from tests import funcbuild
from tests.broker_reply import assert_broker_acceptable
from tests.conftest import ROOT, start_function, stop_function
from tests.fakes.github import FakeGitHub
from tests.fakes.httpserver import Recorded, RecordingSink
from tests.fakes.kubernetes import FakeKubernetes
from tests.payloads import github as gh
from tests.task_events import cloudevent as task_cloudevent
from tests.task_events import task as task_of

SECRET = "func-build-secret"


@dataclass
class Probe:
    """One request and what it must get (under both runtimes)."""

    what: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    json_error: bool = False
    cloudevent: bool = False
    expect_sink: int = 0
    same_body: bool = True


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def github_delivery(event: str, payload: Mapping[str, object], secret: str | None) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.UUID(int=7)),
        "X-GitHub-Hook-ID": "42",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers, body


def probes(name: str) -> list[Probe]:
    found = []
    if name == "ingest-webhook":
        payload = {
            "action": "opened",
            "issue": {"number": 3, "title": "t"},
            "repository": {"full_name": "o/r", "html_url": "https://github.com/o/r"},
        }
        headers, body = github_delivery("issues", payload, SECRET)
        found.append(Probe("signed delivery", "POST", "/", headers, body, 202, expect_sink=1))
        headers, body = github_delivery("issues", payload, "wrong-secret")
        found.append(Probe("bad signature", "POST", "/", headers, body, 401, json_error=True))
    elif name == "route-task":
        # A readiness check needs no allow-list: one task, emitted to both sinks (one URL here).
        headers, body = gh.cloudevent("pull_request", gh.pull_request_event(), str(uuid.UUID(int=8)))
        found.append(Probe("readiness task", "POST", "/", headers, body, 202, cloudevent=True, expect_sink=2))
        headers, body = gh.cloudevent("push", gh.push(), str(uuid.UUID(int=9)))
        found.append(Probe("ignored delivery", "POST", "/", headers, body, 200, cloudevent=True))
    elif name == "dispatch-planning":
        # The spec's raw-protobuf replay, then the same task as a CloudEvent (a duplicate by then):
        # submittedAt is each runtime's own time, so only status and shape are compared.
        task = tasks.from_json_dict(
            {"stage": "planning", "repository": "o/r", "issueNumber": 3, "deliveryId": str(uuid.UUID(int=10))}
        )
        raw = tasks.to_protobuf(task)
        found.append(
            Probe(
                "planner replay",
                "POST",
                "/codex/tasks",
                {"Content-Type": "application/x-protobuf"},
                raw,
                202,
                same_body=False,
            )
        )
        found.append(
            Probe(
                "planning CloudEvent",
                "POST",
                "/",
                {
                    "ce-specversion": "1.0",
                    "ce-id": "d:planning",
                    "ce-source": "route-task",
                    "ce-type": "codex.task.planning",
                    "content-type": "application/protobuf",
                },
                raw,
                202,
                cloudevent=True,
                same_body=False,
            )
        )
    elif name == "promote-plan":
        # An approved plan that arrives with its body: submitted without asking GitHub.
        task = tasks.from_json_dict(
            {
                "stage": "implementation",
                "repository": "o/r",
                "issueNumber": 3,
                "deliveryId": str(uuid.UUID(int=11)),
                "planCommentBody": "<!-- codex:plan -->",
            }
        )
        found.append(
            Probe(
                "implementation CloudEvent",
                "POST",
                "/",
                {
                    "ce-specversion": "1.0",
                    "ce-id": "d:implementation",
                    "ce-source": "route-task",
                    "ce-type": "codex.task.implementation",
                    "content-type": "application/protobuf",
                },
                tasks.to_protobuf(task),
                202,
                cloudevent=True,
                same_body=False,
            )
        )
    elif name == "request-review":
        # GitHub is unreachable here (CODEX_GITHUB_API_URL port 9): a transient 503 under both runtimes.
        task = tasks.from_json_dict(
            {"stage": "review", "repository": "o/r", "issueNumber": 3, "deliveryId": str(uuid.UUID(int=12))}
        )
        found.append(
            Probe(
                "review CloudEvent, GitHub down",
                "POST",
                "/",
                {
                    "ce-specversion": "1.0",
                    "ce-id": "d:review",
                    "ce-source": "route-task",
                    "ce-type": "codex.task.review",
                    "content-type": "application/protobuf",
                },
                tasks.to_protobuf(task),
                503,
                json_error=True,
                cloudevent=True,
                same_body=False,
            )
        )
    if name != "ingest-webhook":
        # A request that is not a CloudEvent can never succeed: a JSON 4xx under both runtimes.
        found.append(
            Probe("not a CloudEvent", "POST", "/", {"Content-Type": "application/json"}, b"{}", 400, json_error=True)
        )
    return found


def environment(tmp: Path, sink: str) -> dict[str, str]:
    (tmp / "workflows").mkdir(parents=True, exist_ok=True)
    return {
        "CODEX_WEBHOOK_SECRET": SECRET,
        "K_SINK": sink,
        "CODEX_TASKS_SINK": sink,
        "CODEX_TASKS_JSON_SINK": sink,
        "CODEX_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp / "workflows"),
        "CODEX_GITHUB_TOKEN": "func-build-token",
        "CODEX_GITHUB_API_URL": "http://127.0.0.1:9",
        "CODEX_LOG_LEVEL": "INFO",
    }


def send(url: str, probe: Probe) -> Answer:
    reply = requests.request(probe.method, url + probe.path, headers=probe.headers, data=probe.body, timeout=10)
    return Answer(reply.status_code, reply.headers.get("content-type", ""), reply.content, dict(reply.headers))


def check(probe: Probe, answer: Answer, runtime: str) -> None:
    where = f"{runtime}: {probe.what}"
    assert answer.status == probe.status, f"{where}: {answer.status} {answer.body!r}"
    if probe.json_error:
        assert answer.content_type.startswith("application/json"), where
        assert "error" in json.loads(answer.body), f"{where}: {answer.body!r}"
    if probe.cloudevent and 200 <= answer.status < 300:
        assert_broker_acceptable(answer.status, answer.headers, answer.body)


def roundtrip(python: Path, cwd: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("ce_roundtrip.py"))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, object] = json.loads(done.stdout)
    return loaded


def same_cloudevents_behaviour(func_python: Path, tmp_path: Path) -> None:
    """codex_pipeline.wire.events encodes and decodes identically under cloudevents 1.12 and 2.x."""
    under_1 = roundtrip(Path(sys.executable), tmp_path)
    under_2 = roundtrip(func_python, tmp_path)
    assert str(under_1["cloudevents"]).startswith("1.12") and str(under_2["cloudevents"]).startswith("2.")
    assert under_1["result"] == under_2["result"]
    result = under_2["result"]
    assert isinstance(result, dict) and result["has_time"] and result["not_an_event"].startswith("BadRequest")


@pytest.mark.slow
@pytest.mark.parametrize("name", funcbuild.function_names())
def test_func_build_serves_like_functions_framework(name: str, tmp_path: Path) -> None:
    build = funcbuild.build_root(name, tmp_path / "func")
    assert sorted(p.name for p in (build / "f").iterdir()) == [
        ".funcignore",
        "codex_pipeline",
        "func.yaml",
        "function",
        "pyproject.toml",
    ]
    with funcbuild.func_venv(name, build) as python:
        versions = {}
        for dist in ("cloudevents", "func-python", "hypercorn"):
            out = subprocess.run(
                [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                capture_output=True,
                text=True,
                check=True,
            )
            versions[dist] = out.stdout.strip()
        assert versions["func-python"] == "0.8.1" and versions["cloudevents"].startswith("2."), versions
        if name == funcbuild.function_names()[0]:
            same_cloudevents_behaviour(python, tmp_path)
        # The function's library is the vendored copy inside the venv, not the repository's.
        where = subprocess.run(
            [str(python), "-c", "import codex_pipeline; print(codex_pipeline.__file__)"],
            cwd=build,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "site-packages" in where, where
        # Installed as func installs it, the function carries no tooling and no workflow step.
        absent = subprocess.run(
            [
                str(python),
                "-c",
                "import importlib.util as u; print(sorted(p for p in "
                f"{sorted(NOT_DEPLOYED)!r} if u.find_spec('codex_pipeline.' + p)))",
            ],
            cwd=build,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert absent == "[]", absent

        with RecordingSink() as func_sink, RecordingSink() as ff_sink:
            func = funcbuild.start(
                python, build, environment(tmp_path / "func-state", func_sink.url), tmp_path / "func.log"
            )
            ff = start_function(name, environment(tmp_path / "ff-state", ff_sink.url), tmp_path)
            try:
                for path in ("/health/liveness", "/health/readiness"):
                    assert requests.get(func.url + path, timeout=5).status_code == 200, func.output()
                # new() picked uvloop before func-python started its loop (shell/asgi.for_func_python)
                assert '"event_loop":"uvloop"' in func.output(), func.output()
                for probe in probes(name):
                    under_func = send(func.url, probe)
                    under_ff = send(ff.url, probe)
                    check(probe, under_func, "func-python")
                    check(probe, under_ff, "functions-framework")
                    if probe.same_body:
                        assert (under_func.status, under_func.body) == (under_ff.status, under_ff.body), probe.what
                    else:
                        assert under_func.status == under_ff.status, probe.what
                        assert json.loads(under_func.body).keys() == json.loads(under_ff.body).keys(), probe.what
                    if under_func.body:  # Flask labels an empty body text/html; hypercorn leaves it unlabelled
                        assert under_func.content_type.split(";")[0] == under_ff.content_type.split(";")[0]
                    if probe.expect_sink:
                        emitted = func_sink.wait_for(probe.expect_sink)
                        assert emitted[-1].headers.get("ce-id") or emitted[-1].headers.get("Ce-Id")
            finally:
                func.stop()
                stop_function(ff)


# --- the bundle carries what its func.yaml turns on (issue 13) --------------------------------

_TEMPLATE = re.compile(r"^\{\{\s*(secret|configMap):([^:}]+):([^}\s]+)\s*\}\}$")


def func_yaml_environment(name: str, values: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """run.envs of the function's func.yaml as func would set them: ``{{ secret:NAME:KEY }}`` and
    ``{{ configMap:NAME:KEY }}`` read from ``values`` (``NAME:KEY``), then the local edges overridden."""
    document = yaml.safe_load((ROOT / "functions" / name / "func.yaml").read_text())
    env: dict[str, str] = {}
    for item in document["run"]["envs"]:
        value = str(item.get("value", ""))
        template = _TEMPLATE.match(value)
        env[item["name"]] = values.get(f"{template.group(2)}:{template.group(3)}", "") if template else value
    return {**env, **overrides}


def submission_probe(name: str, github: FakeGitHub) -> tuple[dict[str, str], bytes] | None:
    """One CloudEvent that makes a submitting function create its Workflow (None for the others)."""
    number = uuid.uuid4().int % 90_000 + 100
    if name == "dispatch-planning":
        return task_cloudevent("planning", task_of("planning", number, repository="o/r"))
    if name == "promote-plan":
        return task_cloudevent(
            "implementation",
            task_of("implementation", number, repository="o/r", planCommentBody="<!-- codex:plan -->\n1. do it"),
        )
    if name == "request-review":
        github.add_pull("o/r", number, head=f"codex/issue-{number}-fix", head_sha=uuid.uuid4().hex + "0" * 8)
        github.add_thread("o/r", number, "please rename")  # work for a review run (a clean PR starts none)
        return task_cloudevent("review", task_of("review", number, repository="o/r", head="", base=""))
    return None


def exported(collector: RecordingSink, path: str, timeout: float = 15.0) -> list[Recorded]:
    """The OTLP requests to ``path`` the collector received, once there is one (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = received(collector, path)
        if found:
            return found
        time.sleep(0.05)
    return []


def received(collector: RecordingSink, path: str) -> list[Recorded]:
    """The OTLP requests to ``path`` the collector received so far."""
    return [r for r in list(collector.requests) if r.path == path]


def exported_metric_names(collector: RecordingSink, wanted: str, timeout: float = 15.0) -> set[str]:
    """The metric names exported so far, once ``wanted`` is among them (or the timeout).

    The periodic reader exports every 200 ms, so one export can land between two recordings of a
    delivery (request-review's submission duration, then its delivery count): keep reading.
    """
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    deadline = time.monotonic() + timeout
    names: set[str] = set()
    while time.monotonic() < deadline:
        names = set()
        for recorded in received(collector, "/v1/metrics"):
            request = ExportMetricsServiceRequest.FromString(recorded.body)
            names |= {
                metric.name
                for resource in request.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }
        if wanted in names:
            break
        time.sleep(0.05)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", funcbuild.function_names())
def test_bundle_runs_with_its_func_yaml_settings_and_submits_for_real(name: str, tmp_path: Path) -> None:
    """Built as func builds it and started with its func.yaml's settings (the kubernetes submitter
    against a local API server, tracing on): one real delivery succeeds and its spans are exported."""
    build = funcbuild.build_root(name, tmp_path / "func")
    document = yaml.safe_load((build / "f" / "func.yaml").read_text())
    settings = {e["name"]: e.get("value") for e in document["run"]["envs"]}
    deps = tomllib.loads((build / "f" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("opentelemetry-exporter-otlp-proto-http") for d in deps), deps
    assert any(d.startswith("kubernetes") for d in deps) == ("CODEX_ARGO_SUBMITTER" in settings), deps

    with (
        funcbuild.func_venv(name, build) as python,
        RecordingSink() as sink,
        RecordingSink() as collector,
        FakeKubernetes() as kubernetes,
        FakeGitHub() as github,
    ):
        github.add_repo("o/r")
        values = {"codex-github-webhook:secret": SECRET, "codex-github:token": "test-token"}
        overrides = {
            "K_SINK": sink.url,
            "CODEX_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "CODEX_KUBECONFIG": str(kubernetes.kubeconfig(tmp_path / "kubeconfig")),
            "CODEX_GITHUB_API_URL": github.url,
            "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        }
        if "CODEX_TASKS_SINK" in settings:
            overrides.update(CODEX_TASKS_SINK=sink.url, CODEX_TASKS_JSON_SINK=sink.url)
        env = func_yaml_environment(name, values, overrides)
        assert env.get("CODEX_ARGO_SUBMITTER", "kubernetes") == "kubernetes"  # as deployed, not a dry run
        func = funcbuild.start(python, build, env, tmp_path / "func.log")
        try:
            submission = submission_probe(name, github)
            if submission is not None:
                headers, body = submission
                answer = requests.post(func.url + "/", headers=headers, data=body, timeout=30)
                assert answer.status_code == 202, f"{answer.status_code} {answer.text}\n{func.output()}"
                (create,) = kubernetes.creates()
                workflow = json.loads(create.body)
                assert workflow["kind"] == "Workflow" and workflow["spec"]["workflowTemplateRef"]["name"]
                assert (workflow["metadata"]["namespace"], workflow["metadata"]["name"]) in kubernetes.workflows
            else:
                probe = probes(name)[0]
                answer = requests.request(
                    probe.method, func.url + probe.path, headers=probe.headers, data=probe.body, timeout=30
                )
                assert answer.status_code == probe.status, f"{answer.status_code} {answer.text}\n{func.output()}"
                sink.wait_for(probe.expect_sink)
            traces = exported(collector, "/v1/traces")
            assert traces, func.output()
            names = exported_metric_names(collector, "codex.deliveries")
            assert "codex.deliveries" in names, (names, func.output())
            headers_seen = {key.lower(): value for key, value in traces[0].headers.items()}
            assert headers_seen["content-type"] == "application/x-protobuf" and traces[0].body, func.output()
        finally:
            func.stop()
