"""Task CloudEvents as route-task emits them (binary mode, protobuf or JSON data), for tests
of the effect functions, and readers of what the dry-run submitter wrote."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from codex_pipeline.wire import tasks
from codex_pipeline.wire.events import TASK_TYPES, Event, encode_binary


def task(
    stage: str, number: int, *, repository: str = "acme/widgets", delivery: str | None = None, **fields: Any
) -> tasks.CodexTask:
    data: dict[str, Any] = {
        "stage": stage,
        "repository": repository,
        "issueNumber": number,
        "base": "main",
        "head": f"codex/issue-{number}-fix-it",
        "issueUrl": f"https://github.com/{repository}/issues/{number}",
        "issueTitle": "Fix it",
        "issueBody": "It is broken.",
        "sender": "alice",
        "deliveryId": delivery or str(uuid.uuid4()),
        "prompt": "Fix it",
    }
    data.update(fields)
    return tasks.from_json_dict(data)


def cloudevent(kind: str, codex_task: tasks.CodexTask, *, as_json: bool = False) -> tuple[dict[str, str], bytes]:
    """``kind`` planning/implementation/review/readiness; headers and body of the binary event."""
    event = Event(
        id=tasks.task_event_id(codex_task.delivery_id, kind),
        source="route-task",
        type=TASK_TYPES[kind],
        subject=str(codex_task.issue_number),
        datacontenttype="application/json" if as_json else "application/protobuf",
        dataschema=None if as_json else tasks.DATASCHEMA,
        data=tasks.to_json(codex_task) if as_json else tasks.to_protobuf(codex_task),
        extensions={
            "partitionkey": tasks.partition_key(codex_task.repository, int(codex_task.issue_number)),
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    )
    return encode_binary(event)


def written_workflows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.rglob("*.json"))]


def parameter(workflow: dict[str, Any], name: str) -> Any:
    """A base64-JSON parameter of a Workflow, decoded."""
    for item in workflow["spec"]["arguments"]["parameters"]:
        if item["name"] == name:
            return json.loads(base64.b64decode(item["value"]))
    raise KeyError(name)


def effect_env(database_url: str, workdir: Path, github_url: str, **extra: str) -> dict[str, str]:
    """Settings of an effect function under test: dry-run Workflows in ``workdir``, the fake GitHub."""
    return {
        "CODEX_DATABASE_URL": database_url,
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(workdir / "workflows"),
        "CODEX_GITHUB_API_URL": github_url,
        "CODEX_GITHUB_TOKEN": "test-token",
        "CODEX_GITHUB_MAX_WAIT_SECONDS": "0",
        "CODEX_WORKFLOW_NAMESPACE": "argo-workflows",
        **extra,
    }
