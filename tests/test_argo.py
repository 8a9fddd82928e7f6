"""Workflow names, labels and objects; KubernetesSubmitter against a fake API server over HTTP;
DryRunSubmitter on a real folder."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_pipeline import schemas
from codex_pipeline.effects.argo import (
    DryRunSubmitter,
    KubernetesSubmitter,
    build_workflow,
    create_submitter,
    label_value,
    workflow_labels,
    workflow_name,
)
from codex_pipeline.errors import ConfigurationError, PermanentFailure, Unavailable
from tests.conftest import free_port
from tests.fakes.kubernetes import TOKEN, FakeKubernetes

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAMESPACE = "argo-workflows"


@pytest.mark.parametrize(
    ("prefix", "repository", "issue", "delivery", "starts"),
    [
        ("codex-planning", "proompteng/lab", 1636, "manual-planning-test", "codex-planning-proompteng-lab-1636-"),
        ("codex-planning", "Owner_Name/Repo.With.Dots", 7, "d", "codex-planning-owner-name-repo-with-dots-7-"),
        ("github-codex-implementation", "o/" + "r" * 90, 123456789, "d", "github-codex-implementation-o-rrrr"),
        ("codex-planning", "---/---", 1, "d", "codex-planning-1-"),
    ],
)
def test_workflow_names_are_valid_kubernetes_names(
    prefix: str, repository: str, issue: int, delivery: str, starts: str
) -> None:
    name = workflow_name(prefix, repository, issue, delivery)
    assert name.startswith(starts)
    assert len(name) <= 63
    assert DNS_1123_LABEL.match(name), name
    assert name.endswith(f"-{issue}-" + name.rsplit("-", 1)[1])


def test_workflow_names_are_deterministic_per_delivery() -> None:
    one = workflow_name("codex-planning", "proompteng/lab", 1, "delivery-a")
    assert one == workflow_name("codex-planning", "proompteng/lab", 1, "delivery-a")
    assert one != workflow_name("codex-planning", "proompteng/lab", 1, "delivery-b")


@given(st.text(max_size=80), st.text(max_size=120), st.integers(min_value=0, max_value=2**62))
def test_any_input_gives_a_valid_name(repository: str, delivery: str, issue: int) -> None:
    name = workflow_name("codex-planning", repository, issue, delivery)
    assert len(name) <= 63 and DNS_1123_LABEL.match(name), name


@given(st.text(max_size=200))
def test_any_text_gives_a_valid_label_value(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value


def test_labels_name_stage_repository_issue_and_delivery() -> None:
    assert workflow_labels("planning", "proompteng/lab", 1636, "72d4f0c0-1a2b-11ef-9c7a-0e6b1c2f3a4d") == {
        "codex.stage": "planning",
        "codex.repository": "proompteng.lab",
        "codex.issue": "1636",
        "codex.delivery": "72d4f0c0-1a2b-11ef-9c7a-0e6b1c2f3a4d",
    }


def planning_workflow(name: str = "codex-planning-proompteng-lab-1-abc") -> dict[str, object]:
    return build_workflow(
        "facteur-dispatch",
        name,
        NAMESPACE,
        {"payload": '{"stage":"planning"}'},
        workflow_labels("planning", "proompteng/lab", 1, "d-1"),
    )


def test_built_workflow_is_a_valid_argo_workflow_running_the_template() -> None:
    workflow = planning_workflow()
    assert schemas.validate(workflow) == []
    assert workflow["spec"] == {
        "workflowTemplateRef": {"name": "facteur-dispatch"},
        "arguments": {"parameters": [{"name": "payload", "value": '{"stage":"planning"}'}]},
    }


# --- KubernetesSubmitter over real HTTP -------------------------------------------------------


@pytest.fixture
def kube(tmp_path: Path):
    with FakeKubernetes() as server:
        server.kubeconfig(tmp_path / "kubeconfig")
        yield server


def submitter_for(kube: FakeKubernetes, tmp_path: Path) -> KubernetesSubmitter:
    return KubernetesSubmitter(str(tmp_path / "kubeconfig"), timeout=3)


def test_create_posts_the_workflow_with_the_bearer_token(kube: FakeKubernetes, tmp_path: Path) -> None:
    submitted = submitter_for(kube, tmp_path).submit(planning_workflow())
    assert submitted.created is True
    assert (submitted.namespace, submitted.name) == (NAMESPACE, "codex-planning-proompteng-lab-1-abc")
    assert abs((submitted.submitted_at - datetime.now(UTC)).total_seconds()) < 5
    (request,) = kube.requests
    assert request.method == "POST"
    assert request.path == f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = json.loads(request.body)
    assert body == planning_workflow()
    assert schemas.validate(body) == []


def test_already_exists_is_a_duplicate_with_the_original_creation_time(kube: FakeKubernetes, tmp_path: Path) -> None:
    submitter = submitter_for(kube, tmp_path)
    first = submitter.submit(planning_workflow())
    kube.workflows[(NAMESPACE, first.name)]["metadata"]["creationTimestamp"] = "2026-11-25T10:00:00Z"
    again = submitter.submit(planning_workflow())
    assert again.created is False
    assert again.submitted_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert [r.method for r in kube.requests] == ["POST", "POST", "GET"]
    assert kube.requests[2].path.endswith(f"/workflows/{first.name}")
    assert len(kube.workflows) == 1


def test_forbidden_is_permanent(kube: FakeKubernetes, tmp_path: Path) -> None:
    kube.refuse(403)
    with pytest.raises(PermanentFailure, match="forbidden"):
        submitter_for(kube, tmp_path).submit(planning_workflow())
    assert kube.workflows == {}


def test_server_error_is_transient(kube: FakeKubernetes, tmp_path: Path) -> None:
    kube.refuse(500)
    with pytest.raises(Unavailable, match="500"):
        submitter_for(kube, tmp_path).submit(planning_workflow())
    assert kube.workflows == {}


def test_a_wrong_token_is_permanent_and_never_echoed(kube: FakeKubernetes, tmp_path: Path) -> None:
    kube.token = "another-token"
    with pytest.raises(PermanentFailure) as caught:
        submitter_for(kube, tmp_path).submit(planning_workflow())
    assert TOKEN not in caught.value.message and "401" in caught.value.message


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "kubeconfig").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    with pytest.raises(Unavailable, match="unreachable"):
        KubernetesSubmitter(str(tmp_path / "kubeconfig"), timeout=1).submit(planning_workflow())


def test_concurrent_creates_of_one_name_make_one_workflow(kube: FakeKubernetes, tmp_path: Path) -> None:
    submitter = submitter_for(kube, tmp_path)
    results = []
    barrier = threading.Barrier(20)

    def race() -> None:
        barrier.wait()
        results.append(submitter.submit(planning_workflow()))

    threads = [threading.Thread(target=race) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.created for r in results) == [False] * 19 + [True]
    assert len(kube.workflows) == 1
    assert len({r.submitted_at for r in results}) == 1


def test_missing_credentials_are_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="CODEX_KUBECONFIG"):
        KubernetesSubmitter()
    with pytest.raises(ConfigurationError, match="no such file; set it to a kubeconfig file"):
        KubernetesSubmitter(str(tmp_path / "absent"))


def test_in_cluster_service_account_token_and_ca_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_pipeline.effects import argo

    account = tmp_path / "serviceaccount"
    account.mkdir()
    with FakeKubernetes(tls_dir=account) as kube:
        (account / "token").write_text(TOKEN)
        monkeypatch.setattr(argo, "SERVICE_ACCOUNT_DIR", account)
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube.port))
        assert KubernetesSubmitter(timeout=3).submit(planning_workflow()).created is True
        assert kube.requests[0].headers["authorization"].lower() == f"bearer {TOKEN}".lower()


# --- DryRunSubmitter ----------------------------------------------------------------------


def test_dry_run_writes_the_exact_object_once(tmp_path: Path) -> None:
    submitter = DryRunSubmitter(tmp_path / "workflows")
    first = submitter.submit(planning_workflow())
    written = tmp_path / "workflows" / NAMESPACE / f"{first.name}.json"
    assert first.created is True
    assert json.loads(written.read_text()) == planning_workflow()
    again = submitter.submit(planning_workflow())
    assert again.created is False and again.submitted_at == first.submitted_at
    assert [p.name for p in written.parent.iterdir()] == [written.name]


def test_dry_run_concurrent_submits_write_one_file(tmp_path: Path) -> None:
    submitter = DryRunSubmitter(tmp_path)
    results = []
    barrier = threading.Barrier(16)

    def race() -> None:
        barrier.wait()
        results.append(submitter.submit(planning_workflow()).created)

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]
    assert len(list((tmp_path / NAMESPACE).iterdir())) == 1


def test_create_submitter_by_name(tmp_path: Path) -> None:
    assert isinstance(create_submitter("dry-run", dry_run_dir=str(tmp_path)), DryRunSubmitter)
    with pytest.raises(ConfigurationError):
        create_submitter("argo-cli", dry_run_dir=str(tmp_path))


# --- stopping a run (spec.shutdown: Stop) --------------------------------------------------


def test_stop_patches_spec_shutdown_stop_as_a_merge_patch(kube: FakeKubernetes, tmp_path: Path) -> None:
    submitter = submitter_for(kube, tmp_path)
    first = submitter.submit(planning_workflow())
    assert submitter.stop(NAMESPACE, first.name) is True
    (patch,) = kube.patches()
    assert patch.path == f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{first.name}"
    assert patch.headers["content-type"] == "application/merge-patch+json"
    assert json.loads(patch.body) == {"spec": {"shutdown": "Stop"}}
    stored = kube.workflows[(NAMESPACE, first.name)]
    assert stored["spec"]["shutdown"] == "Stop"
    assert stored["spec"]["workflowTemplateRef"] == {"name": "facteur-dispatch"}
    assert stored["metadata"]["generation"] == 2 and schemas.validate(stored) == []
    assert submitter.stop(NAMESPACE, first.name) is True  # stopping twice is harmless


def test_stopping_a_workflow_that_is_gone_is_false(kube: FakeKubernetes, tmp_path: Path) -> None:
    assert submitter_for(kube, tmp_path).stop(NAMESPACE, "codex-gone-1-abc") is False


@pytest.mark.parametrize(("code", "error"), [(500, Unavailable), (403, PermanentFailure)])
def test_stop_failures_are_transient_or_permanent(
    kube: FakeKubernetes, tmp_path: Path, code: int, error: type[Exception]
) -> None:
    submitter = submitter_for(kube, tmp_path)
    name = submitter.submit(planning_workflow()).name
    kube.refuse(code)
    with pytest.raises(error, match=f"stop Workflow {NAMESPACE}/{name}"):
        submitter.stop(NAMESPACE, name)


def test_the_fake_api_refuses_a_strategic_merge_patch_like_the_real_one(kube: FakeKubernetes, tmp_path: Path) -> None:
    import requests

    name = submitter_for(kube, tmp_path).submit(planning_workflow()).name
    answer = requests.patch(
        f"{kube.url}/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}",
        data=b'{"spec":{"shutdown":"Stop"}}',
        timeout=5,
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/strategic-merge-patch+json"},
    )
    assert answer.status_code == 415 and answer.json()["reason"] == "UnsupportedMediaType"
    assert "shutdown" not in kube.workflows[(NAMESPACE, name)]["spec"]


def test_dry_run_stop_marks_the_file_stopped(tmp_path: Path) -> None:
    submitter = DryRunSubmitter(tmp_path / "workflows")
    first = submitter.submit(planning_workflow())
    assert submitter.stop(NAMESPACE, first.name) is True
    written = json.loads((tmp_path / "workflows" / NAMESPACE / f"{first.name}.json").read_text())
    expected = planning_workflow()
    expected["spec"] = {**json.loads(json.dumps(expected["spec"])), "shutdown": "Stop"}
    assert written == expected
    assert submitter.stop(NAMESPACE, "absent") is False
    assert submitter.submit(planning_workflow()).created is False  # still the same run
