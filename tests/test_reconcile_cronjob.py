"""The reconcile CronJob in eventing/ runs the real verb, on schedule, with Secrets as files."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from codex_pipeline.cli import build_parser
from codex_pipeline.effects.github.deliveries import Hook
from codex_pipeline.shell.config import SETTINGS
from tests.conftest import ROOT


def documents() -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all((ROOT / "eventing" / "reconcile.yaml").read_text()))
    return {doc["kind"]: doc for doc in docs}


def test_the_cronjob_runs_reconcile_every_five_minutes_once_at_a_time() -> None:
    cron = documents()["CronJob"]
    assert cron["spec"]["schedule"] == "*/5 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.verb == "reconcile"
    runner = (ROOT / "workflows" / "runner" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["codex-pipeline"]' in runner
    assert container["image"].startswith("ghcr.io/proompteng/codex-pipeline-runner")


def test_credentials_arrive_as_files_and_every_variable_is_a_setting() -> None:
    cron = documents()["CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    known = {s.env for s in SETTINGS}
    for name in env:
        assert name.removesuffix("_FILE") in known, name
    assert "CODEX_GITHUB_TOKEN" not in env and "CODEX_DATABASE_URL" not in env  # never as values
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"]}
    for variable, secret, key in (
        ("CODEX_GITHUB_TOKEN_FILE", "codex-github", "token"),
        ("CODEX_DATABASE_URL_FILE", "codex-database", "url"),
    ):
        folder, _, file_name = env[variable]["value"].rpartition("/")
        assert secrets[mounts[folder]] == secret and file_name == key
    hook = env["CODEX_RECONCILE_HOOK"]["valueFrom"]["configMapKeyRef"]
    Hook.parse(documents()["ConfigMap"]["data"][hook["key"]])


def test_the_kustomization_builds_with_the_cronjob() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "eventing")], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    kinds = [doc["kind"] for doc in yaml.safe_load_all(built) if doc]
    assert "CronJob" in kinds and "ConfigMap" in kinds
