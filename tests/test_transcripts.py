"""``codex-pipeline transcripts`` against moto's S3 server (a real HTTP endpoint) laid out as Argo stores artifacts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

CLI = str(Path(sys.executable).parent / "codex-pipeline")
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _tgz(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def s3() -> Iterator[tuple[str, Any]]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket="argo-artifacts")
    wf = "github-codex-implementation-ab12"
    client.put_object(
        Bucket="argo-artifacts",
        Key=f"{wf}/{wf}-codex-123/implementation-log.tgz",
        Body=_tgz(".codex-implementation.log", b"[agent]\nDone.\n"),
    )
    client.put_object(Bucket="argo-artifacts", Key=f"{wf}/{wf}-codex-123/main.log", Body=b"pod log\n")
    client.put_object(Bucket="argo-artifacts", Key=f"{wf}/{wf}-codex-456/.codex-review.log", Body=b"review pass")
    client.put_object(Bucket="argo-artifacts", Key="other-run/x/.codex-plan.log", Body=b"not ours\n")
    try:
        yield endpoint, client
    finally:
        server.stop()


def _cli(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CREDS, "CODEX_ARTIFACT_ENDPOINT": endpoint}
    return subprocess.run(
        [CLI, "transcripts", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_prints_the_runs_codex_logs_from_archives_and_plain_objects(s3: tuple[str, Any]) -> None:
    endpoint, _ = s3
    done = _cli("github-codex-implementation-ab12", endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    assert "===== .codex-implementation.log (s3://argo-artifacts/github-codex-implementation-ab12/" in done.stdout
    assert "[agent]\nDone.\n" in done.stdout and "review pass\n" in done.stdout
    assert "pod log" not in done.stdout and "not ours" not in done.stdout
    assert CREDS["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr


def test_saves_into_a_folder_per_pod(s3: tuple[str, Any], tmp_path: Path) -> None:
    endpoint, _ = s3
    done = _cli("github-codex-implementation-ab12", "--output", str(tmp_path), endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    saved = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert saved == [
        "github-codex-implementation-ab12-codex-123/.codex-implementation.log",
        "github-codex-implementation-ab12-codex-456/.codex-review.log",
    ]


def test_unknown_run_and_missing_bucket_fail_clearly(s3: tuple[str, Any]) -> None:
    endpoint, _ = s3
    missing = _cli("no-such-run", endpoint=endpoint)
    assert missing.returncode == 1 and "no .codex-* artifacts under s3://argo-artifacts/no-such-run/" in missing.stderr
    bucket = _cli("x", "--bucket", "nope", endpoint=endpoint)
    assert bucket.returncode == 1 and "cannot read s3://nope/x/" in bucket.stderr
