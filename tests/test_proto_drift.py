"""The committed generated code must be exactly what protoc makes of the .proto today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.generate(tmp_path)
    for name, content in generated.items():
        committed = (ROOT / "lib" / "codex_pipeline" / "wire" / "pb" / name).read_bytes()
        assert committed == content, f"{name} drifted from the .proto: run `make proto` and commit"


def test_wire_numbers_are_the_existing_systems() -> None:
    from codex_pipeline.wire.pb import codex_task_pb2 as pb

    fields = {f.name: f.number for f in pb.CodexTask.DESCRIPTOR.fields}
    assert fields == {
        "stage": 1,
        "prompt": 2,
        "repository": 3,
        "base": 4,
        "head": 5,
        "issue_number": 6,
        "issue_url": 7,
        "issue_title": 8,
        "issue_body": 9,
        "sender": 10,
        "issued_at": 11,
        "plan_comment_id": 12,
        "plan_comment_url": 13,
        "plan_comment_body": 14,
        "delivery_id": 15,
        "review_context": 16,
        # ours, numbered after the existing ones: the PR of a review/readiness task, the approved
        # plan's SHA-256, a replan request.
        "pull_request_number": 17,
        "plan_sha256": 18,
        "replan": 19,
    }
    assert pb.CodexTask.DESCRIPTOR.full_name == "proompteng.froussard.v1.CodexTask"
    assert dict(pb.CodexTaskStage.items()) == {
        "CODEX_TASK_STAGE_UNSPECIFIED": 0,
        "CODEX_TASK_STAGE_PLANNING": 1,
        "CODEX_TASK_STAGE_IMPLEMENTATION": 2,
        "CODEX_TASK_STAGE_REVIEW": 3,
    }
