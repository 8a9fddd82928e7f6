"""Issue text travels from a planning task to the step's prompt without Argo ever reading it.

Argo substitutes a parameter's value into the template and then substitutes the result again, so
``{{workflow.name}}`` or ``{{=sprig.fail('x')}}`` typed in an issue would be expanded or
evaluated if it reached a template in plain form; and one environment string is capped at
128 KiB by Linux. The task therefore travels base64-encoded (no ``{{`` survives base64) as the
data of a raw input artifact, which Argo's executor writes to a file the step reads.

Driven for real: dispatch-planning (functions-framework, dry-run submitter) submits the
Workflow for a 300 KiB issue body; the WorkflowTemplate from ``workflows/`` is then resolved as
Argo resolves it (global parameters substituted, the result substituted again, every remaining
``{{…}}`` an error, as an unknown variable or a failing expression is in Argo); the raw artifact
is written to its file and the template's own command runs ``codex-pipeline step plan --dry-run``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from codex_pipeline import schemas
from codex_pipeline.wire import tasks
from tests.conftest import RunningFunction, start_function, stop_function

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "argo-workflows"
INJECTIONS = "{{workflow.name}} {{=sprig.fail('x')}} {{inputs.parameters.payload}} {{workflow.parameters.image}}"


def hostile_body(size: int = 300 * 1024) -> str:
    """About ``size`` bytes of UTF-8: Argo expressions, non-ASCII, backticks and quotes, repeated."""
    unit = f"Étape ✓ 日本語 `code` \"quoted\" 'single' $HOME ; rm -rf / {INJECTIONS}\n"
    return (unit * (size // len(unit.encode()) + 1))[:size]


@pytest.fixture(scope="module")
def dispatch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningFunction, Path]]:
    tmp = tmp_path_factory.mktemp("transport")
    env = {
        "CODEX_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp / "workflows"),
        "CODEX_LOG_LEVEL": "INFO",
    }
    running = start_function("dispatch-planning", env, tmp)
    yield running, tmp
    stop_function(running)


def submit(dispatch: tuple[RunningFunction, Path], body: str) -> dict[str, Any]:
    running, tmp = dispatch
    task = tasks.from_json_dict(
        {
            "stage": "planning",
            "prompt": body,
            "repository": "proompteng/lab",
            "base": "main",
            "issueNumber": 77,
            "issueUrl": "https://github.com/proompteng/lab/issues/77",
            "issueTitle": "Hostile {{workflow.uid}}",
            "issueBody": body,
            "deliveryId": f"transport-{uuid.uuid4().hex[:8]}",
        }
    )
    answer = requests.post(
        f"{running.url}/codex/tasks",
        data=tasks.to_protobuf(task),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    name = answer.json()["name"]
    workflow: dict[str, Any] = json.loads((tmp / "workflows" / NAMESPACE / f"{name}.json").read_text())
    return workflow


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)


def argo_resolve(text: str, parameters: dict[str, str], workflow_name: str) -> str:
    """Argo's substitution of global variables, applied twice as Argo does; anything left is an error."""

    def one_pass(value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression == "workflow.name":
                return workflow_name
            if expression.startswith("workflow.parameters.") and expression[20:] in parameters:
                return parameters[expression[20:]]
            raise AssertionError(f"Argo would fail on or evaluate {{{{{match.group(1)}}}}}")

        return _EXPRESSION.sub(replace, value)

    return one_pass(one_pass(text))


def planning_template() -> dict[str, Any]:
    template: dict[str, Any] = yaml.safe_load((ROOT / "workflows" / "facteur-dispatch.yaml").read_text())
    return template


def test_300_kib_issue_reaches_the_prompt_byte_for_byte_and_argo_never_sees_its_braces(
    dispatch: tuple[RunningFunction, Path], tmp_path: Path
) -> None:
    body = hostile_body()
    workflow = submit(dispatch, body)
    assert schemas.validate(workflow) == []
    text = json.dumps(workflow, ensure_ascii=False)
    assert "{{" not in text and "sprig" not in text and "日本語" not in text  # nothing of the issue in plain form
    (parameter,) = workflow["spec"]["arguments"]["parameters"]
    assert parameter["name"] == "payload"
    assert json.loads(base64.b64decode(parameter["value"]))["issueBody"] == body

    template = planning_template()
    defaults = {p["name"]: str(p["value"]) for p in template["spec"]["arguments"]["parameters"] if "value" in p}
    parameters = {**defaults, parameter["name"]: parameter["value"]}
    (step,) = [t for t in template["spec"]["templates"] if t["name"] == template["spec"]["entrypoint"]]
    container = step["container"]
    # No task data in the environment: every env value resolves without the payload.
    for env in container.get("env") or []:
        if "value" in env:
            assert "payload" not in env["value"], env
    files: dict[str, Path] = {}
    for artifact in step["inputs"]["artifacts"]:
        files[artifact["path"]] = tmp_path / Path(artifact["path"]).name
        data = argo_resolve(artifact["raw"]["data"], parameters, workflow["metadata"]["name"])
        files[artifact["path"]].write_text(data)
    command = [argo_resolve(word, parameters, workflow["metadata"]["name"]) for word in container["command"]]
    command = [str(files.get(word, word)) for word in command]
    assert command[:3] == ["codex-pipeline", "step", "plan"] and any(str(p) in command for p in files.values())
    env = {key: value for key, value in os.environ.items() if key not in ("PAYLOAD", "EVENT_BODY", "RAW_EVENT")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from codex_pipeline.cli import main; sys.exit(main(sys.argv[1:]))",
            *command[1:],
            "--dry-run",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    prompt = done.stdout.decode("utf-8")
    assert f"```text\n{body}\n```" in prompt  # fenced as data, every byte as typed
    assert workflow["metadata"]["name"] in prompt


def test_the_payload_stays_far_below_the_environment_cap_because_it_is_not_in_the_environment() -> None:
    """The largest allowed body as base64 would not fit one environment string (128 KiB)."""
    body = hostile_body(256 * 1024)
    encoded = base64.b64encode(json.dumps({"issueBody": body}).encode()).decode()
    assert len(encoded) > 128 * 1024
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "WorkflowTemplate":
                continue
            for template in doc["spec"]["templates"]:
                for env in (template.get("container") or {}).get("env") or []:
                    assert not re.search(r"parameters\.(payload|eventBody|rawEvent)", str(env.get("value"))), (
                        path.name,
                        env,
                    )
