"""The local executor of `dev` (dev/executor.py): Workflows run as their WorkflowTemplate says, as
real subprocesses in a run folder (no fakes: the "container" is a small Python program)."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from codex_pipeline.dev.executor import Executor, Settings
from codex_pipeline.dev.view import View
from codex_pipeline.effects.argo import build_workflow
from tests.devrun import ROOT

# The "image": records what it was given (argv, env, cwd, files under /workspace) into REPORT.
PROGRAM = """
import json, os, sys, time, pathlib
report = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ), "files": {}, "at": time.time()}
for base in [p for p in sys.argv[1:] if os.path.isdir(p)]:
    for path in pathlib.Path(base).rglob("*"):
        if path.is_file():
            report["files"][str(path)] = path.read_text()
out = pathlib.Path(os.environ["REPORT"])
with out.open("a") as handle:
    handle.write(json.dumps(report) + "\\n")
time.sleep(float(os.environ.get("SLEEP", "0")))
for name in os.environ.get("WRITE", "").split(","):
    if name:
        pathlib.Path(name).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(name).write_text("written by the step")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def template(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "namespace": "argo-workflows"},
        "spec": spec,
    }


def container(env: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "image": "example/runner:1",
        "command": ["runner", "/workspace"],
        "workingDir": "/workspace/lab",
        "env": env or [],
        "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
        **extra,
    }


class Harness:
    def __init__(self, tmp_path: Path, templates: list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> None:
        self.tmp = tmp_path
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "all.yaml").write_text(yaml.safe_dump_all(templates))
        runner = tmp_path / "runner"
        runner.write_text(f"#!{sys.executable}\n{PROGRAM}")
        runner.chmod(0o755)
        self.report = tmp_path / "report.jsonl"
        env = {"PATH": "/usr/bin:/bin", "REPORT": str(self.report)}
        self.out = (tmp_path / "view.txt").open("w")
        self.executor = Executor(
            tmp_path / "workflows",
            tmp_path / "templates",
            tmp_path / "runs",
            Settings(env=env, secrets=secrets, commands={"runner": str(runner)}, codex="the test runner"),
            View(self.out),
            poll=0.05,
        )

    def workflow(
        self, template_name: str, name: str, parameters: dict[str, str], labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return build_workflow(template_name, name, "argo-workflows", parameters, labels or {"codex.issue": "42"})

    def submit(self, workflow: dict[str, Any]) -> None:
        """Write ``workflow`` aside and rename it into place, as the dry-run submitter does: a running
        executor reads each file once, and must never see half of one."""
        folder = self.tmp / "workflows" / "argo-workflows"
        name = workflow["metadata"]["name"]
        aside = folder / f".{name}.json"
        aside.write_text(json.dumps(workflow))
        aside.rename(folder / f"{name}.json")

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.report.read_text().splitlines()] if self.report.exists() else []

    def status(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.tmp / "runs" / name / "status.json").read_text())
        return loaded

    def view(self) -> str:
        self.out.flush()
        return (self.tmp / "view.txt").read_text()


WORKSPACE = [{"name": "workspace", "emptyDir": {}}]


def test_a_container_gets_parameters_raw_artifacts_secret_files_env_and_keeps_its_artifacts(tmp_path: Path) -> None:
    spec = {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "task"}, {"name": "model", "value": "m-1"}]},
        "volumes": [*WORKSPACE, {"name": "github", "secret": {"secretName": "github-token"}}],
        "templates": [
            {
                "name": "main",
                "inputs": {
                    "parameters": [{"name": "task", "value": "{{workflow.parameters.task}}"}],
                    "artifacts": [
                        {
                            "name": "task",
                            "path": "/workspace/in/task.b64",
                            "raw": {"data": "{{inputs.parameters.task}}"},
                        }
                    ],
                },
                "container": container(
                    env=[
                        {"name": "MODEL", "value": "{{workflow.parameters.model}}"},
                        {"name": "WORKDIR", "value": "/workspace/lab"},
                        {"name": "WRITE", "value": "/workspace/lab/out.md"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "github-token", "key": "token"}}},
                        {
                            "name": "DISCORD",
                            "valueFrom": {"secretKeyRef": {"name": "discord", "key": "t", "optional": True}},
                        },
                    ],
                    args=["--workflow-name", "{{workflow.name}}"],
                    volumeMounts=[
                        {"name": "workspace", "mountPath": "/workspace"},
                        {"name": "github", "mountPath": "/var/run/secrets/github", "readOnly": True},
                    ],
                ),
                "outputs": {
                    "artifacts": [
                        {"name": "out", "path": "/workspace/lab/out.md"},
                        {"name": "absent", "path": "/workspace/lab/none.log", "optional": True},
                    ]
                },
            }
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {"github-token": {"token": "tok-123"}})
    task = base64.b64encode(b'{"issueNumber": 42}').decode()
    assert harness.executor.run(harness.workflow("t", "run-1", {"task": task})) == "Succeeded"

    (report,) = harness.reports()
    run = tmp_path / "runs" / "run-1"
    workspace = Path(report["argv"][0])
    assert workspace.is_relative_to(run) and report["argv"][1:] == ["--workflow-name", "run-1"]
    assert report["cwd"] == str(workspace / "lab")
    assert report["env"]["MODEL"] == "m-1" and report["env"]["WORKDIR"] == str(workspace / "lab")
    assert report["env"]["TOKEN"] == "tok-123" and "DISCORD" not in report["env"]
    assert report["files"][str(workspace / "in" / "task.b64")] == task
    secret_file = next(p for p in (run / "nodes").rglob("token"))
    assert secret_file.read_text() == "tok-123" and secret_file.stat().st_mode & 0o777 == 0o600
    assert (run / "artifacts" / "out").read_text() == "written by the step"
    status = harness.status("run-1")
    assert status["phase"] == "Succeeded" and status["template"] == "t"
    assert [n["phase"] for n in status["nodes"]] == ["Succeeded"]
    assert "run-1 running here (t, the test runner)" in harness.view()
    assert "run-1 Succeeded" in harness.view()


def test_the_deadline_stops_a_run_and_the_exit_handler_still_runs_with_the_status(tmp_path: Path) -> None:
    spec = {
        "entrypoint": "main",
        "activeDeadlineSeconds": 1,
        "onExit": "finish",
        "volumes": WORKSPACE,
        "templates": [
            {"name": "main", "container": container(env=[{"name": "SLEEP", "value": "30"}])},
            {
                "name": "finish",
                "steps": [
                    [
                        {
                            "name": "report",
                            "template": "report",
                            "arguments": {"parameters": [{"name": "status", "value": "{{workflow.status}}"}]},
                        }
                    ]
                ],
            },
            {
                "name": "report",
                "inputs": {"parameters": [{"name": "status"}]},
                "container": container(
                    env=[
                        {"name": "STATUS", "value": "{{inputs.parameters.status}}"},
                        {"name": "FAILURES", "value": "{{workflow.failures}}"},
                    ]
                ),
            },
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {})
    started = time.monotonic()
    assert harness.executor.run(harness.workflow("t", "run-2", {})) == "Failed"
    assert time.monotonic() - started < 15
    _main, handler = harness.reports()
    assert handler["env"]["STATUS"] == "Failed"
    assert json.loads(handler["env"]["FAILURES"])[0]["message"] == "Step exceeded its deadline"
    nodes = harness.status("run-2")["nodes"]
    assert [(n["name"], n["phase"]) for n in nodes] == [("main", "Failed"), ("run-2.onExit.report", "Succeeded")]


@pytest.mark.parametrize(("policy", "attempts"), [("OnFailure", 3), (None, 3), ("Always", 3), ("OnError", 1)])
def test_retry_strategy_retries_failures_as_its_policy_says(tmp_path: Path, policy: str | None, attempts: int) -> None:
    strategy: dict[str, Any] = {"limit": 2}
    if policy:
        strategy["retryPolicy"] = policy
    spec = {
        "entrypoint": "main",
        "volumes": WORKSPACE,
        "templates": [
            {"name": "main", "retryStrategy": strategy, "container": container(env=[{"name": "EXIT", "value": "3"}])}
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {})
    assert harness.executor.run(harness.workflow("t", "run-3", {})) == "Failed"
    assert len(harness.reports()) == attempts
    (node,) = harness.status("run-3")["nodes"]
    assert (node["attempts"], node["exit_code"], node["message"]) == (attempts, 3, "Error (exit code 3)")


def test_runs_sharing_a_mutex_of_one_issue_never_overlap_and_other_issues_do_not_wait(tmp_path: Path) -> None:
    spec = {
        "entrypoint": "main",
        "volumes": WORKSPACE,
        "synchronization": {"mutexes": [{"name": "codex-issue-{{workflow.labels.codex.issue}}"}]},
        "templates": [
            {
                "name": "main",
                "container": container(
                    env=[{"name": "SLEEP", "value": "0.8"}, {"name": "RUN", "value": "{{workflow.name}}"}]
                ),
            }
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {})
    folder = tmp_path / "workflows" / "argo-workflows"
    folder.mkdir(parents=True)
    harness.executor.start()
    try:
        for name, issue in (("a-1", "42"), ("a-2", "42"), ("b-1", "7")):
            harness.submit(harness.workflow("t", name, {}, {"codex.issue": issue}))
        deadline = time.monotonic() + 20
        while len(harness.executor.results) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        harness.executor.stop()
    assert set(harness.executor.results.values()) == {"Succeeded"}
    started = {report["env"]["RUN"]: report["at"] for report in harness.reports()}
    assert abs(started["a-1"] - started["a-2"]) >= 0.75  # one held the issue's mutex for its 0.8 s
    assert abs(started["b-1"] - min(started["a-1"], started["a-2"])) < 0.75  # another issue did not wait
    assert "waits for mutex argo-workflows/codex-issue-42" in harness.view()
    assert "codex-issue-7" not in harness.view()


def test_a_workflow_runs_once_and_files_from_before_execution_are_left_alone(tmp_path: Path) -> None:
    spec = {"entrypoint": "main", "volumes": WORKSPACE, "templates": [{"name": "main", "container": container()}]}
    harness = Harness(tmp_path, [template("t", spec)], {})
    folder = tmp_path / "workflows" / "argo-workflows"
    folder.mkdir(parents=True)
    old = folder / "old.json"
    old.write_text(json.dumps(harness.workflow("t", "old", {})))
    past = time.time() - 3600
    import os

    os.utime(old, (past, past))
    harness.executor.start()
    harness.executor.stop()
    (folder / "new.json").write_text(json.dumps(harness.workflow("t", "new", {})))
    again = Executor(
        harness.executor.workflows,
        harness.executor.templates_dir,
        harness.executor.runs,
        harness.executor.settings,
        harness.executor.view,
    )
    assert again.scan() == ["new"]
    assert again.wait_idle(20)
    third = Executor(again.workflows, again.templates_dir, again.runs, again.settings, again.view)
    assert third.scan() == []  # new has its result; old was there before execution was enabled
    assert len(harness.reports()) == 1


def test_a_missing_template_is_an_error_result_not_a_crash(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [], {})
    assert harness.executor.run(harness.workflow("nowhere", "run-4", {})) == "Error"
    assert "WorkflowTemplate 'nowhere' is not in workflows/" in harness.status("run-4")["message"]


@pytest.mark.parametrize("name", ["facteur-dispatch", "github-codex-implementation", "github-codex-review"])
def test_the_repository_templates_run_their_step_with_the_task_and_github_credentials(
    tmp_path: Path, name: str
) -> None:
    """The real WorkflowTemplates in workflows/: the step program is started as `codex-pipeline step …`
    with the Workflow's name, and the task text and the GitHub token reach it (env or files)."""
    harness = Harness(tmp_path, [], {"github-token": {"token": "tok-456"}})
    harness.executor.templates_dir = ROOT / "workflows"
    harness.executor.settings.commands["codex-pipeline"] = harness.executor.settings.commands["runner"]
    task = json.dumps({"stage": "planning", "repository": "acme/widgets", "issueNumber": 42, "title": "T"})
    encoded = base64.b64encode(task.encode()).decode()
    parameters = {"payload": task} if name == "facteur-dispatch" else {"rawEvent": encoded, "eventBody": encoded}
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    workflow = harness.workflow(name, f"{name}-run", {**parameters, "traceparent": traceparent})
    for item in yaml.safe_load((ROOT / "workflows" / f"{name}.yaml").read_text())["spec"]["arguments"]["parameters"]:
        if "value" not in item and item["name"] not in parameters:
            workflow["spec"]["arguments"]["parameters"].append({"name": item["name"], "value": encoded})
    assert harness.executor.run(workflow) == "Succeeded", harness.status(f"{name}-run")
    report = harness.reports()[0]
    assert report["argv"][:2] == [
        "step",
        {"facteur-dispatch": "plan", "github-codex-implementation": "implement", "github-codex-review": "review"}[name],
    ]
    assert f"{name}-run" in report["argv"]
    carried = [*report["env"].values(), *_files_under(tmp_path / "runs").values()]
    assert any(task in value or encoded in value for value in carried)
    assert any("tok-456" in value for value in carried)
    # the trace the Workflow was submitted in reaches the step and its exit handler
    assert [r["env"]["TRACEPARENT"] for r in harness.reports()] == [traceparent, traceparent]


def _files_under(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.stat().st_size < 1e6}


def test_an_argument_naming_an_input_artifact_outside_the_mounts_finds_its_file(tmp_path: Path) -> None:
    spec = {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "task"}]},
        "volumes": WORKSPACE,
        "templates": [
            {
                "name": "main",
                "inputs": {
                    "artifacts": [
                        {
                            "name": "task",
                            "path": "/codex/inputs/task.b64",
                            "raw": {"data": "{{workflow.parameters.task}}"},
                        }
                    ]
                },
                "container": container(args=["--task-file", "/codex/inputs/task.b64"]),
            }
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {})
    assert harness.executor.run(harness.workflow("t", "run-5", {"task": "dGFzaw=="})) == "Succeeded"
    (report,) = harness.reports()
    path = Path(report["argv"][-1])
    assert path.is_relative_to(tmp_path / "runs" / "run-5") and path.read_text() == "dGFzaw=="


def test_a_semaphore_admits_as_many_runs_as_its_config_map_key_says(tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "codex-limits"}, "data": {"runs": "2"}}
    spec = {
        "entrypoint": "main",
        "volumes": WORKSPACE,
        "synchronization": {"semaphores": [{"configMapKeyRef": {"name": "codex-limits", "key": "runs"}}]},
        "templates": [
            {
                "name": "main",
                "container": container(
                    env=[{"name": "SLEEP", "value": "0.8"}, {"name": "RUN", "value": "{{workflow.name}}"}]
                ),
            }
        ],
    }
    harness = Harness(tmp_path, [template("t", spec), config_map], {})
    folder = tmp_path / "workflows" / "argo-workflows"
    folder.mkdir(parents=True)
    harness.executor.start()
    try:
        for name in ("s-1", "s-2", "s-3"):
            harness.submit(harness.workflow("t", name, {}))
        deadline = time.monotonic() + 20
        while len(harness.executor.results) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        harness.executor.stop()
    starts = sorted(report["at"] for report in harness.reports())
    assert starts[1] - starts[0] < 0.75  # two at once
    assert starts[2] - starts[0] >= 0.75  # the third waited for a slot
    assert "waits for semaphore codex-limits/runs" in harness.view()


def test_a_stopped_workflow_ends_its_step_skips_the_rest_and_still_runs_its_exit_handler(tmp_path: Path) -> None:
    """What the functions' supersede and cancel do to a run in `make run` (spec.shutdown: Stop in its file)."""
    from codex_pipeline.core.retry import outcome_of
    from codex_pipeline.effects.argo import ANNOTATION_STOP_REASON, DryRunSubmitter
    from codex_pipeline.effects.store import CANCELLED

    spec = {
        "entrypoint": "main",
        "onExit": "finish",
        "volumes": WORKSPACE,
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "long", "template": "long"}], [{"name": "after", "template": "after"}]],
            },
            {
                "name": "long",
                "container": container(env=[{"name": "SLEEP", "value": "60"}, {"name": "RUN", "value": "long"}]),
            },
            {"name": "after", "container": container(env=[{"name": "RUN", "value": "after"}])},
            {
                "name": "finish",
                "container": container(
                    env=[
                        {"name": "RUN", "value": "finish"},
                        {"name": "STATUS", "value": "{{workflow.status}}"},
                        {"name": "FAILURES", "value": "{{workflow.failures}}"},
                        {"name": "ANNOTATIONS", "value": "{{workflow.annotations.json}}"},
                    ]
                ),
            },
        ],
    }
    harness = Harness(tmp_path, [template("t", spec)], {})
    submitter = DryRunSubmitter(tmp_path / "workflows")
    workflow = build_workflow(
        "t", "run-stop", "argo-workflows", {}, {"codex.issue": "42"}, annotations={ANNOTATION_STOP_REASON: ""}
    )
    harness.executor.start()
    try:
        assert submitter.submit(workflow).created
        deadline = time.monotonic() + 20
        while not harness.reports() and time.monotonic() < deadline:  # the long step is running
            time.sleep(0.05)
        assert submitter.state("argo-workflows", "run-stop").phase == "Running"  # type: ignore[union-attr]
        stopped_at = time.monotonic()
        assert submitter.stop("argo-workflows", "run-stop", "superseded by run-newer")
        while "run-stop" not in harness.executor.results and time.monotonic() < deadline + 20:
            time.sleep(0.05)
    finally:
        harness.executor.stop()
    assert harness.executor.results["run-stop"] == "Failed"
    assert time.monotonic() - stopped_at < 10  # the 60 s step was ended, not waited for
    runs = [report["env"]["RUN"] for report in harness.reports()]
    assert runs == ["long", "finish"]  # the step after the stop never started; the exit handler ran
    handler = harness.reports()[-1]["env"]
    assert handler["STATUS"] == "Failed"
    assert json.loads(handler["ANNOTATIONS"])["codex.stop-reason"] == "superseded by run-newer"  # read again
    assert "Stopped with strategy 'Stop'" in json.loads(handler["FAILURES"])[0]["message"]
    assert harness.status("run-stop")["message"] == "Stopped with strategy 'Stop'"
    state = submitter.state("argo-workflows", "run-stop")
    assert state is not None and (state.phase, state.shutdown) == ("Failed", "Stop")
    assert outcome_of(state) == (CANCELLED, "superseded by run-newer")
    assert "run-stop stopped (spec.shutdown: Stop; superseded by run-newer)" in harness.view()
