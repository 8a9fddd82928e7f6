"""The deployment as committed holds what README "Deployment" promises (beyond what lint checks)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def templates() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        found.extend(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "WorkflowTemplate")
    return found


def test_the_runner_image_is_pinned_to_the_release() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {p["value"] for t in templates() for p in t["spec"]["arguments"]["parameters"] if p["name"] == "image"}
    assert images == {f"ghcr.io/proompteng/codex-pipeline-runner:{version}"}
    assert f"codex-pipeline-runner:{version} ." in (ROOT / "workflows" / "runner" / "Dockerfile").read_text()
    jobs = [d for d in yaml.safe_load_all((ROOT / "eventing" / "reconcile.yaml").read_text()) if d["kind"] == "CronJob"]
    pod = jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"]} == {f"ghcr.io/proompteng/codex-pipeline-runner:{version}"}
    # the image's default user is root: a non-root pod must name the image's own `codex` uid
    assert pod["securityContext"]["runAsUser"] == 1000


def test_one_pod_gc_policy_that_keeps_failed_pods_and_one_artifact_repository() -> None:
    assert {t["spec"]["podGC"]["strategy"] for t in templates()} == {"OnPodSuccess"}
    assert {tuple(sorted(t["spec"]["artifactRepositoryRef"].items())) for t in templates()} == {
        (("configMap", "codex-artifact-repository"), ("key", "codex"))
    }


def test_only_ingest_webhook_is_public() -> None:
    public = set()
    for path in sorted((ROOT / "functions").glob("*/func.yaml")):
        deploy = yaml.safe_load(path.read_text())["deploy"]
        labels = {item["key"]: item.get("value") for item in deploy.get("labels", [])}
        if labels.get("networking.knative.dev/visibility") != "cluster-local":
            public.add(path.parent.name)
    assert public == {"ingest-webhook"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH: `kubectl kustomize` cannot run")
@pytest.mark.parametrize("folder", ["eventing", "workflows"])
def test_namespaces_come_first_in_each_kustomization(folder: str) -> None:
    built = subprocess.run(["kubectl", "kustomize", str(ROOT / folder)], capture_output=True, text=True, check=True)
    documents = [d for d in yaml.safe_load_all(built.stdout) if d]
    kinds = [d["kind"] for d in documents]
    namespaces = {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"}
    assert kinds[: len(namespaces)] == ["Namespace"] * len(namespaces)
    used = {d["metadata"].get("namespace") for d in documents} - {None}
    assert used <= namespaces, used - namespaces


def test_branch_templates_hand_the_branch_prefix_to_the_step() -> None:
    """CODEX_BRANCH_PREFIX is the functions' setting; the step reads it from the Workflow's parameter."""
    for template in templates():
        if template["metadata"]["name"] == "facteur-dispatch":
            continue  # planning pushes no branch
        defaults = {p["name"]: p.get("value") for p in template["spec"]["arguments"]["parameters"]}
        assert defaults["branchPrefix"] == "codex/"
        envs = [
            e
            for t in template["spec"]["templates"]
            for e in (t.get("container") or {}).get("env") or []
            if e["name"] == "CODEX_BRANCH_PREFIX"
        ]
        assert envs == [{"name": "CODEX_BRANCH_PREFIX", "value": "{{workflow.parameters.branchPrefix}}"}]
