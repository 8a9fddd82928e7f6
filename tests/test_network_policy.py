"""The optional egress NetworkPolicy: off by default, renders as a kustomize Component, and lets the
runner pods reach only DNS, public HTTPS and what Argo's executor needs (evaluated here with the
NetworkPolicy rules of Kubernetes networking.k8s.io/v1: a packet is allowed when any rule's `to`
and `ports` both match)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = ROOT / "workflows" / "network-policy"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not on PATH")


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=120)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _policy() -> dict[str, Any]:
    policies: list[dict[str, Any]] = [
        d for d in yaml.safe_load_all((COMPONENT / "network-policy.yaml").read_text()) if d
    ]
    assert len(policies) == 1
    return policies[0]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
    return True


def _allowed(
    policy: dict[str, Any],
    *,
    port: int,
    protocol: str = "TCP",
    ip: str | None = None,
    namespace: dict[str, str] | None = None,
    pod: dict[str, str] | None = None,
) -> bool:
    for rule in policy["spec"]["egress"]:
        if not any(p.get("protocol", "TCP") == protocol and p["port"] == port for p in rule.get("ports") or []):
            continue
        for peer in rule.get("to") or []:
            if "ipBlock" in peer and ip is not None:
                block = peer["ipBlock"]
                address = ipaddress.ip_address(ip)
                if address in ipaddress.ip_network(block["cidr"]) and not any(
                    address in ipaddress.ip_network(e) for e in block.get("except") or []
                ):
                    return True
            elif pod is not None and "ipBlock" not in peer:
                same_namespace = "namespaceSelector" not in peer and namespace is None
                in_namespace = (
                    "namespaceSelector" in peer
                    and namespace is not None
                    and _selects(peer["namespaceSelector"], namespace)
                )
                if (same_namespace or in_namespace) and _selects(peer.get("podSelector") or {}, pod):
                    return True
    return False


@needs_kubectl
def test_it_is_off_by_default_and_renders_as_a_component(tmp_path: Path) -> None:
    assert not [d for d in _kustomize(ROOT / "workflows") if d["kind"] == "NetworkPolicy"]
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    overlay = tmp_path / "overlay"  # what the README tells an operator to write
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../workflows\ncomponents:\n  - ../workflows/network-policy\n"
    )
    policies = [d for d in _kustomize(overlay) if d["kind"] == "NetworkPolicy"]
    assert [p["metadata"]["namespace"] for p in policies] == ["argo-workflows"]


@pytest.mark.parametrize("template", ["facteur-dispatch", "github-codex-implementation", "github-codex-review"])
def test_it_selects_the_pods_of_every_runner_template(template: str) -> None:
    (document,) = [d for d in yaml.safe_load_all((ROOT / "workflows" / f"{template}.yaml").read_text()) if d]
    labels = {**document["spec"]["podMetadata"]["labels"], "workflows.argoproj.io/workflow": f"{template}-x"}
    assert _selects(_policy()["spec"]["podSelector"], labels)
    assert not _selects(_policy()["spec"]["podSelector"], {"app": "minio"})
    assert _policy()["spec"]["policyTypes"] == ["Egress"]


@pytest.mark.parametrize(
    ("where", "allowed"),
    [
        (
            {
                "port": 53,
                "protocol": "UDP",
                "namespace": {"kubernetes.io/metadata.name": "kube-system"},
                "pod": {"k8s-app": "kube-dns"},
            },
            True,
        ),
        ({"port": 443, "ip": "140.82.112.3"}, True),  # github.com
        ({"port": 443, "ip": "162.159.140.245"}, True),  # a public model API address
        ({"port": 9000, "pod": {"app": "minio"}}, True),  # the artifact repository, same namespace
        ({"port": 80, "ip": "140.82.112.3"}, False),  # no plain HTTP
        ({"port": 22, "ip": "140.82.112.3"}, False),  # no git over SSH, no other port
        ({"port": 80, "ip": "169.254.169.254"}, False),  # cloud metadata
        ({"port": 443, "ip": "169.254.169.254"}, False),
        ({"port": 5432, "ip": "10.12.0.7"}, False),  # an in-cluster database
        ({"port": 53, "protocol": "UDP", "ip": "8.8.8.8"}, False),  # DNS elsewhere (exfiltration by lookups)
        ({"port": 8080, "pod": {"app": "route-task"}}, False),
    ],
    ids=lambda v: str(v) if isinstance(v, bool) else "-".join(f"{k}={v}" for k, v in v.items()),
)
def test_egress(where: dict[str, Any], allowed: bool) -> None:
    assert _allowed(_policy(), **where) is allowed
