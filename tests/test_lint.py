"""codex-pipeline lint on a planted tree: clean passes, each planted defect is named with file:line."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from codex_pipeline.cli import main
from codex_pipeline.lint import lint

ROOT = Path(__file__).resolve().parent.parent

TOPIC = """\
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: github.webhook.events
  labels:
    strimzi.io/cluster: kafka
spec:
  partitions: 3
  replicas: 1
"""
TRIGGER = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: route-task
spec:
  broker: github
  filter:
    attributes:
      type: com.github.issues.opened
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: route-task
  delivery:
    retry: 5
    backoffPolicy: exponential
"""
SINKBINDING = """\
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata:
  name: ingest-webhook
spec:
  subject:
    apiVersion: serving.knative.dev/v1
    kind: Service
    name: ingest-webhook
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1alpha1
      kind: KafkaSink
      name: github-webhook-events
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: kafka-broker-config
data:
  bootstrap.servers: kafka:9092
"""
TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: facteur-dispatch
spec:
  entrypoint: main
  arguments:
    parameters:
      - name: stage
  templates:
    - name: main
      steps:
        - - name: run
            template: step
            arguments:
              parameters:
                - name: s
                  value: "{{workflow.parameters.stage}}"
    - name: step
      inputs:
        parameters:
          - name: s
      container:
        image: ghcr.io/proompteng/codex:1
        command: [codex-pipeline, lint]
        args: ["{{inputs.parameters.s}}"]
        env:
          - name: CODEX_WEBHOOK_SECRET_FILE
            value: /run/secrets/webhook/secret
        volumeMounts:
          - name: webhook
            mountPath: /run/secrets/webhook
  volumes:
    - name: webhook
      secret:
        secretName: codex-github-webhook
        defaultMode: 0400
        items:
          - key: secret
            path: secret
"""


BROKER = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: github
"""


def tree(tmp_path: Path) -> Path:
    (tmp_path / "eventing").mkdir()
    (tmp_path / "workflows").mkdir()
    (tmp_path / "eventing" / "topics.yaml").write_text(TOPIC + "---\n" + CONFIGMAP + "---\n" + BROKER)
    (tmp_path / "eventing" / "triggers.yaml").write_text(TRIGGER)
    (tmp_path / "eventing" / "bindings.yaml").write_text(SINKBINDING)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "eventing" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - topics.yaml\n"
        "  - triggers.yaml\n  - bindings.yaml\n")
    (tmp_path / "workflows" / "facteur-dispatch.yaml").write_text(TEMPLATE)
    func = tmp_path / "functions" / "ingest-webhook"
    shutil.copytree(ROOT / "functions" / "ingest-webhook", func,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def messages(root: Path) -> list[str]:
    return [str(f) for f in lint(root) if not f.skip]


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_clean_tree_has_no_findings(tmp_path: Path) -> None:
    assert messages(tree(tmp_path)) == []


def test_repository_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--root", str(ROOT)]) == 0, capsys.readouterr().out


def test_misspelled_field(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "eventing" / "triggers.yaml", "backoffPolicy", "backofPolicy")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith("eventing/triggers.yaml:17: Trigger: spec/delivery")
    assert "backofPolicy" in found[0]


def test_wrong_api_version(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "eventing" / "triggers.yaml", "eventing.knative.dev/v1", "eventing.knative.dev/v1beta1")
    assert messages(root) == ["eventing/triggers.yaml:1: Trigger: apiVersion: Trigger is eventing.knative.dev/v1, "
                              "not 'eventing.knative.dev/v1beta1'"]


def test_second_document_line_is_in_the_file(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "eventing" / "topics.yaml", "\ndata:", "\ndta:")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith("eventing/topics.yaml:15: ConfigMap")


def test_unknown_kind(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "eventing" / "extra.yaml").write_text("apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n")
    assert messages(root) == ["eventing/extra.yaml:1: unknown kind example.com/v1/Gadget: no schema"]


def test_dangling_parameter(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", "{{inputs.parameters.s}}", "{{inputs.parameters.stage}}")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith("workflows/facteur-dispatch.yaml:26: template 'step': "
                                                   "{{inputs.parameters.stage}} does not resolve")


def test_dangling_workflow_parameter_and_template(tmp_path: Path) -> None:
    root = tree(tmp_path)
    path = root / "workflows" / "facteur-dispatch.yaml"
    replace(path, "{{workflow.parameters.stage}}", "{{workflow.parameters.stag}}")
    replace(path, "template: step", "template: stpe")
    found = messages(root)
    assert [f.split(": ", 1)[0] for f in found] == ["workflows/facteur-dispatch.yaml:18",
                                                    "workflows/facteur-dispatch.yaml:14"]
    assert "stag}} does not resolve" in found[0] and "unknown template 'stpe'" in found[1]


def test_template_command_that_does_not_exist(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", "[codex-pipeline, lint]", "[codex-pipeline, plann]")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith("workflows/facteur-dispatch.yaml:25: runs `codex-pipeline plann`")


def test_func_yaml_misspelled_and_subscriptions(tmp_path: Path) -> None:
    root = tree(tmp_path)
    path = root / "functions" / "ingest-webhook" / "func.yaml"
    replace(path, "healthEndpoints:", "healthEndpoint:")
    text = path.read_text()
    path.write_text(text + "  subscriptions:\n    - source: github\n")
    found = messages(root)
    assert len(found) == 2
    assert "healthEndpoint" in found[0] and found[0].startswith("functions/ingest-webhook/func.yaml:")
    assert "deploy.subscriptions" in found[1]


def test_kustomize_failure_is_reported(tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH: `kubectl kustomize` cannot run")
    root = tree(tmp_path)
    replace(root / "eventing" / "kustomization.yaml", "triggers.yaml", "missing.yaml")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith("eventing/kustomization.yaml:1: `kubectl kustomize eventing/` fails")


def test_function_folder_without_func_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path)
    (root / "functions" / "route-task" / "function").mkdir(parents=True)
    declare(monkeypatch, "route-task", HANDLES=frozenset({"com.github.issues.opened"}))  # not the real module
    assert messages(root) == ["functions/route-task:0: function folder has no func.yaml"]


def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree(tmp_path)
    assert main(["lint", "--root", str(root)]) == 0
    replace(root / "workflows" / "facteur-dispatch.yaml", "[codex-pipeline, lint]", "[codex-pipeline, plann]")
    assert main(["lint", "--root", str(root)]) == 1
    assert "1 problem(s)" in capsys.readouterr().out


def test_trigger_for_a_type_its_subscriber_does_not_handle(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "eventing" / "triggers.yaml", "name: route-task\n", "name: ingest-webhook\n")
    replace(root / "eventing" / "triggers.yaml", "name: route-task", "name: ingest-webhook")
    found = messages(root)
    assert found == ["eventing/triggers.yaml:9: Trigger 'ingest-webhook' sends type 'com.github.issues.opened' "
                     "to ingest-webhook, which handles only nothing"]


def test_secret_missing_from_readme(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", "key: secret", "key: passphrase")
    found = messages(root)
    assert len(found) == 1
    assert found[0].startswith("workflows/facteur-dispatch.yaml:35: WorkflowTemplate 'facteur-dispatch' uses "
                               "secret 'codex-github-webhook' key 'passphrase'")


def test_a_secret_set_as_an_environment_variable(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", "          - name: CODEX_WEBHOOK_SECRET_FILE\n"
            "            value: /run/secrets/webhook/secret\n",
            "          - name: CODEX_WEBHOOK_SECRET\n            valueFrom:\n              secretKeyRef:\n"
            "                name: codex-github-webhook\n                key: secret\n")
    found = messages(root)
    assert len(found) == 1 and found[0].startswith(
        "workflows/facteur-dispatch.yaml:28: template 'step' sets 'CODEX_WEBHOOK_SECRET' from secret "
        "'codex-github-webhook': secrets reach the step as files"), found


def test_a_secret_loaded_whole_into_the_environment(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", "        volumeMounts:\n",
            "        envFrom:\n          - secretRef:\n              name: codex-github-webhook\n"
            "        volumeMounts:\n")
    assert messages(root) == ["workflows/facteur-dispatch.yaml:31: template 'step' loads secret "
                              "'codex-github-webhook' into its environment: mount it as a Secret volume instead"]


@pytest.mark.parametrize(("old", "new", "shown"), [("        defaultMode: 0400\n", "", "unset (0644)"),
                                                   ("defaultMode: 0400", "defaultMode: 0444", "0444")])
def test_a_secret_volume_others_can_read(tmp_path: Path, old: str, new: str, shown: str) -> None:
    root = tree(tmp_path)
    replace(root / "workflows" / "facteur-dispatch.yaml", old, new)
    assert messages(root) == [f"workflows/facteur-dispatch.yaml:35: Secret volume 'webhook': defaultMode is {shown}; "
                              "set 0400 (256) so only the step's user can read the files"]


def test_env_read_but_not_in_func_yaml(tmp_path: Path) -> None:
    root = tree(tmp_path)
    path = root / "functions" / "ingest-webhook" / "func.yaml"
    replace(path, "    - name: CODEX_SINK_ATTEMPTS\n      value: \"3\"\n", "")
    found = messages(root)
    assert found == ["functions/ingest-webhook/func.yaml:11: ingest-webhook reads CODEX_SINK_ATTEMPTS but "
                     "func.yaml run.envs does not set it"]


def test_function_without_sinkbinding(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / "eventing" / "bindings.yaml").write_text(CONFIGMAP.replace("kafka-broker-config", "other"))
    assert messages(root) == ["functions/ingest-webhook:0: ingest-webhook emits to K_SINK but no SinkBinding in "
                              "eventing/ has it as subject"]


def declare(monkeypatch: pytest.MonkeyPatch, name: str, **constants: object) -> None:
    """The function module's declared constants (what lint asks the code)."""
    module = types.ModuleType(f"codex_pipeline.functions.{name.replace('-', '_')}")
    for key, value in constants.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, module.__name__, module)


def plant_function(root: Path, monkeypatch: pytest.MonkeyPatch, name: str, **constants: object) -> None:
    folder = root / "functions" / name
    shutil.copytree(root / "functions" / "ingest-webhook", folder)
    replace(folder / "func.yaml", "name: ingest-webhook", f"name: {name}")
    declare(monkeypatch, name, **constants)


def test_submitter_parameters_against_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path)
    plant_function(root, monkeypatch, "route-task", HANDLES=frozenset({"com.github.issues.opened"}),
                   TEMPLATE="facteur-dispatch", PARAMETERS=frozenset({"stage", "issue"}))
    assert messages(root) == ["workflows/facteur-dispatch.yaml:8: route-task sets parameter 'issue', which "
                              "WorkflowTemplate 'facteur-dispatch' does not declare"]
    declare(monkeypatch, "route-task", TEMPLATE="facteur-dispatch", PARAMETERS=frozenset())
    assert messages(root) == ["workflows/facteur-dispatch.yaml:8: WorkflowTemplate 'facteur-dispatch' requires "
                              "parameter 'stage', which route-task does not set"]
    declare(monkeypatch, "route-task", TEMPLATE="facteur-planning", PARAMETERS=frozenset({"stage"}))
    assert messages(root) == ["functions/route-task:0: route-task submits WorkflowTemplate 'facteur-planning', "
                              "which workflows/ lacks"]


def test_emitted_type_without_trigger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path)
    plant_function(root, monkeypatch, "route-task", HANDLES=frozenset({"com.github.issues.opened"}),
                   EMITS=frozenset({"codex.task.planning"}))
    assert messages(root) == ["functions/route-task:0: route-task emits 'codex.task.planning' but no Trigger "
                              "filters on that type"]


def test_eventing_the_local_router_cannot_honour(tmp_path: Path) -> None:
    root = tree(tmp_path)
    replace(root / "eventing" / "triggers.yaml", "  broker: github\n", "  broker: gitlab\n")
    assert messages(root) == ["eventing:0: `codex-pipeline dev` cannot route eventing/: triggers.yaml: "
                              "Trigger route-task: Broker gitlab is not declared"]
