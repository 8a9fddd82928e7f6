"""Argo Workflows: build ``Workflow`` objects and submit them, exactly once per name.

- :func:`workflow_name` is deterministic from (prefix, repository, issue, delivery id) and a
  valid Kubernetes name (DNS-1123 label, at most 63 characters): a retried create of the same
  delivery meets 409 AlreadyExists instead of starting a second run.
- :func:`build_workflow` makes an ``argoproj.io/v1alpha1`` Workflow that runs a
  WorkflowTemplate (``spec.workflowTemplateRef``) with ``spec.arguments.parameters``.
- :class:`WorkflowSubmitter` is what the effect functions ask: ``submit(workflow) ->
  Submitted(namespace, name, created, submitted_at)``. ``created`` is False when a Workflow of
  that name already existed (a duplicate, never an error); ``submitted_at`` is then the
  existing object's creation time.
- :class:`KubernetesSubmitter` talks to the API server with the ``kubernetes`` package
  (imported on first use: it costs ~500 ms); in-cluster service account or a kubeconfig.
  5xx, 429 and connection faults raise :class:`Unavailable` (retry); other refusals
  (403 forbidden, 422 invalid) raise :class:`PermanentFailure`.
- :class:`DryRunSubmitter` (embedded default) writes the exact object to
  ``<folder>/<namespace>/<name>.json`` (an existing file is a duplicate) and logs it.
- ``stop(namespace, name)`` stops a running Workflow the way ``argo stop`` does: a JSON merge
  patch setting ``spec.shutdown: Stop``, so its exit handlers still run (``Terminate`` would
  skip them). A Workflow that is gone is not an error (False). The dry-run submitter writes the
  same field into its file. The stop also sets the annotation ``codex.stop-reason`` (``cancelled by
  alice``, ``superseded by <workflow>``); the exit handler gets ``{{workflow.annotations.json}}``,
  which Argo builds from the object as it is when the exit handler's pod is made (and which, unlike
  ``{{workflow.annotations.<key>}}``, never fails a Workflow lacking the key), so the progress
  comment says why the run stopped.
- ``state(namespace, name)`` reads what the Workflow's controller wrote: ``status.phase`` and
  ``status.message``, with ``spec.shutdown`` and the stop reason (None when the Workflow is gone).
  In ``make run`` the local executor plays the controller and writes ``status`` into the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from codex_pipeline.errors import ConfigurationError, PermanentFailure, Unavailable
from codex_pipeline.shell import logs
from codex_pipeline.wire.runs import ANNOTATION_STOP_REASON as ANNOTATION_STOP_REASON
from codex_pipeline.wire.runs import SHUTDOWN_STOP as SHUTDOWN_STOP
from codex_pipeline.wire.runs import WorkflowState as WorkflowState
from codex_pipeline.wire.runs import state_of as state_of

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
API_VERSION = f"{GROUP}/{VERSION}"
MAX_NAME = 63
HASH_LENGTH = 10
LABEL_STAGE = "codex.stage"
LABEL_REPOSITORY = "codex.repository"
LABEL_ISSUE = "codex.issue"
LABEL_DELIVERY = "codex.delivery"
ANNOTATION_DELIVERY = "codex.delivery-id"  # the full delivery id (a label value is capped at 63)
ANNOTATION_TRACEPARENT = "codex.traceparent"  # W3C trace context current when the Workflow was created
# The same trace context as a workflow parameter: the templates put it in the step's TRACEPARENT.
PARAMETER_TRACEPARENT = "traceparent"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_log = logging.getLogger("codex_pipeline.argo")


@dataclass(frozen=True)
class Submitted:
    namespace: str
    name: str
    created: bool
    submitted_at: datetime


STOP_PATCH: dict[str, Any] = {"spec": {"shutdown": SHUTDOWN_STOP}}


def stop_patch(reason: str = "") -> dict[str, Any]:
    """The merge patch of a stop: ``spec.shutdown: Stop``, and the reason as an annotation when given."""
    if not reason:
        return STOP_PATCH
    return {"metadata": {"annotations": {ANNOTATION_STOP_REASON: reason}}, "spec": {"shutdown": SHUTDOWN_STOP}}


class WorkflowSubmitter(Protocol):
    def submit(self, workflow: dict[str, Any]) -> Submitted:
        """Create the Workflow; a Workflow of the same namespace/name already there is
        ``created=False``. Raises Unavailable (retry) or PermanentFailure (dead-letter)."""
        ...

    def stop(self, namespace: str, name: str, reason: str = "") -> bool:
        """Ask Argo to stop the Workflow (``spec.shutdown: Stop``, and ``reason`` as its
        ``codex.stop-reason`` annotation); False when it no longer exists.
        Raises Unavailable (retry) or PermanentFailure (dead-letter)."""
        ...

    def state(self, namespace: str, name: str) -> WorkflowState | None:
        """The Workflow's phase as its controller last wrote it; None when it no longer exists.
        Raises Unavailable (retry) or PermanentFailure (dead-letter)."""
        ...


# --- names and objects --------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def delivery_hash(delivery_id: str) -> str:
    return hashlib.sha256(delivery_id.encode()).hexdigest()[:HASH_LENGTH]


def workflow_name(prefix: str, repository: str, issue_number: int, delivery_id: str) -> str:
    """``<prefix>-<owner>-<repo>-<issue>-<hash of delivery>``, shortened in the repository part
    to at most 63 characters; always a valid DNS-1123 label, the same for the same delivery."""
    head = _slug(prefix) or "codex"
    tail = f"{int(issue_number)}-{delivery_hash(delivery_id)}"
    room = MAX_NAME - len(head) - len(tail) - 2
    repo = _slug(repository)[: max(room, 0)].strip("-")
    name = f"{head}-{repo}-{tail}" if repo else f"{head}-{tail}"
    return name[:MAX_NAME].strip("-")


_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def label_value(text: str) -> str:
    """A valid label value (<= 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both ends; '' allowed):
    ``/`` becomes ``.`` so ``owner/repo`` reads ``owner.repo``."""
    value = _LABEL_BAD.sub("-", text.replace("/", "."))[:MAX_NAME]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def workflow_labels(stage: str, repository: str, issue_number: int, delivery_id: str) -> dict[str, str]:
    return {
        LABEL_STAGE: label_value(stage),
        LABEL_REPOSITORY: label_value(repository),
        LABEL_ISSUE: str(int(issue_number)),
        LABEL_DELIVERY: label_value(delivery_id),
    }


def issue_mutex(repository: str, issue_number: int) -> str:
    """The Argo mutex of one issue's branch: ``codex-<owner>-<repo>-<issue>``.

    It is written as a literal into each Workflow's own ``spec.synchronization`` (merged over its
    WorkflowTemplate) rather than templated in the WorkflowTemplate, so the key never depends on
    the controller substituting parameters in lock names; runs of different issues never share it."""
    return f"codex-{_slug(repository) or 'repository'}-{int(issue_number)}"


def build_workflow(
    template: str,
    name: str,
    namespace: str,
    parameters: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    mutex: str | None = None,
) -> dict[str, Any]:
    """The Workflow object that runs ``template`` with ``parameters`` (values are strings), holding
    ``mutex`` (Argo 3.6+ ``synchronization.mutexes``) while it runs when one is given."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {key: label_value(value) for key, value in labels.items()},
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "workflowTemplateRef": {"name": template},
        "arguments": {"parameters": [{"name": key, "value": str(value)} for key, value in parameters.items()]},
    }
    if mutex:
        spec["synchronization"] = {"mutexes": [{"name": mutex}]}
    return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}


def _identity(workflow: Mapping[str, Any]) -> tuple[str, str]:
    metadata = workflow.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str) or not name or not namespace:
        raise ValueError("a Workflow to submit needs metadata.name and metadata.namespace")
    return namespace, name


def parse_time(text: str | None) -> datetime:
    """An RFC 3339 time from the API server (``2026-11-25T12:00:00Z``); now when missing."""
    if not text:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """``2026-11-25T12:00:00.123456Z``: UTC with a Z, as Kubernetes and the spec's reply show it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- dry run ------------------------------------------------------------------------------


class DryRunSubmitter:
    """Writes the exact object it would create to ``<folder>/<namespace>/<name>.json``.

    Creation is atomic (written aside, then hard-linked into place), so concurrent submits of
    one name produce one file and the others see a duplicate, like 409 from the API server.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_of(self, namespace: str, name: str) -> Path:
        return self.folder / namespace / f"{name}.json"

    def submit(self, workflow: dict[str, Any]) -> Submitted:
        namespace, name = _identity(workflow)
        target = self.path_of(namespace, name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                return self._existing(namespace, name, target)
            text = json.dumps(workflow, indent=2, sort_keys=True) + "\n"
            fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=target.parent)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.link(temporary, target)
            except FileExistsError:
                return self._existing(namespace, name, target)
            finally:
                os.unlink(temporary)
        except OSError as exc:
            raise Unavailable(f"dry-run submitter cannot write {target}: {exc.strerror}") from None
        submitted_at = datetime.fromtimestamp(target.stat().st_mtime, UTC)
        # ("name" is a LogRecord attribute: the workflow's name goes as "workflow".)
        logs.decision(
            _log,
            "dry-run workflow written",
            namespace=namespace,
            workflow=name,
            path=str(target),
            object=json.dumps(workflow, sort_keys=True, separators=(",", ":")),
        )
        return Submitted(namespace, name, True, submitted_at)

    def _existing(self, namespace: str, name: str, target: Path) -> Submitted:
        return Submitted(namespace, name, False, datetime.fromtimestamp(target.stat().st_mtime, UTC))

    def update(self, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> bool:
        """Apply ``change`` to the Workflow's file (read, change, replace atomically) under a lock
        shared with every process using this folder (the functions stop, ``dev``'s executor writes
        ``status``), so neither write is lost; False when the file is absent."""
        target = self.path_of(namespace, name)
        try:
            with _folder_lock(target.parent):
                try:
                    workflow = json.loads(target.read_text())
                except FileNotFoundError:
                    return False
                except ValueError as exc:
                    raise Unavailable(f"dry-run submitter cannot read {target}: {exc}") from None
                change(workflow)
                fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=target.parent)
                try:
                    with os.fdopen(fd, "w") as handle:
                        handle.write(json.dumps(workflow, indent=2, sort_keys=True) + "\n")
                    os.replace(temporary, target)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary)
                    raise
        except OSError as exc:
            raise Unavailable(f"dry-run submitter cannot update {target}: {exc.strerror or exc}") from None
        return True

    def stop(self, namespace: str, name: str, reason: str = "") -> bool:
        """Write ``spec.shutdown: Stop`` (and the reason) into the Workflow's file; False when absent."""
        patch = stop_patch(reason)

        def change(workflow: dict[str, Any]) -> None:
            workflow.setdefault("spec", {}).update(patch["spec"])
            if "metadata" in patch:
                workflow.setdefault("metadata", {}).setdefault("annotations", {}).update(
                    patch["metadata"]["annotations"]
                )

        stopped = self.update(namespace, name, change)
        if stopped:
            logs.decision(
                _log,
                "dry-run workflow stopped",
                namespace=namespace,
                workflow=name,
                path=str(self.path_of(namespace, name)),
                reason=reason or None,
            )
        return stopped

    def state(self, namespace: str, name: str) -> WorkflowState | None:
        """The ``status`` written into the file (by ``dev``'s executor); phase '' when none was."""
        target = self.path_of(namespace, name)
        try:
            workflow = json.loads(target.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise Unavailable(f"dry-run submitter cannot read {target}: {exc}") from None
        return state_of(workflow) if isinstance(workflow, dict) else WorkflowState("")


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<folder>/.lock`` (advisory; every writer of the folder takes it)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- Kubernetes ---------------------------------------------------------------------------


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").is_file()


class KubernetesSubmitter:
    """Creates Workflows through the Kubernetes API (``CustomObjectsApi``).

    Credentials: ``kubeconfig`` when given; else the in-cluster service account (token + CA);
    else ``$KUBECONFIG`` or ``~/.kube/config``. What is missing is a ConfigurationError at
    construction; the client itself (and the kubernetes package) loads on the first submit.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        context: str | None = None,
        timeout: float = 10.0,
        max_connections: int = 32,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.timeout = timeout
        self.max_connections = max_connections
        if kubeconfig is not None and not Path(kubeconfig).is_file():
            raise ConfigurationError(
                f"CODEX_KUBECONFIG={kubeconfig!r}: no such file; set it to a kubeconfig "
                "file, or unset it to use the in-cluster service account"
            )
        if kubeconfig is None and not _in_cluster():
            fallback = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
            if not Path(fallback.split(os.pathsep)[0]).is_file():
                raise ConfigurationError(
                    "CODEX_ARGO_SUBMITTER=kubernetes needs credentials: run in-cluster with a service account, "
                    "or set CODEX_KUBECONFIG (or KUBECONFIG) to a kubeconfig file"
                )
        self._lock = threading.Lock()
        self._api: Any = None

    def _client(self) -> Any:
        with self._lock:
            if self._api is None:
                from kubernetes import client, config

                configuration = client.Configuration()
                if self.kubeconfig is None and _in_cluster():
                    from kubernetes.config.incluster_config import InClusterConfigLoader

                    # The mounted token is re-read when it rotates (bound service account tokens).
                    InClusterConfigLoader(
                        token_filename=str(SERVICE_ACCOUNT_DIR / "token"),
                        cert_filename=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
                        try_refresh_token=True,
                    ).load_and_set(configuration)
                else:
                    config.load_kube_config(
                        config_file=self.kubeconfig, context=self.context, client_configuration=configuration
                    )
                configuration.connection_pool_maxsize = self.max_connections
                configuration.retries = 1
                self._api = client.CustomObjectsApi(client.ApiClient(configuration))
            return self._api

    def submit(self, workflow: dict[str, Any]) -> Submitted:
        namespace, name = _identity(workflow)
        api = self._client()
        from kubernetes.client.exceptions import ApiException

        try:
            created = api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, workflow, _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 409 and _reason(error) in ("AlreadyExists", None):
                return self._existing(api, namespace, name)
            raise _translate(error, f"create Workflow {namespace}/{name}") from None
        except Exception as error:  # urllib3 connection/timeout faults and the like
            raise Unavailable(
                f"Kubernetes API unreachable creating Workflow {namespace}/{name}: {type(error).__name__}"
            ) from None
        metadata = created.get("metadata") or {} if isinstance(created, dict) else {}
        return Submitted(namespace, name, True, parse_time(metadata.get("creationTimestamp")))

    def _existing(self, api: Any, namespace: str, name: str) -> Submitted:
        from kubernetes.client.exceptions import ApiException

        try:
            existing = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 404:  # deleted between the 409 and the read: the run did exist
                return Submitted(namespace, name, False, datetime.now(UTC))
            raise _translate(error, f"read Workflow {namespace}/{name}") from None
        except Exception as error:
            raise Unavailable(
                f"Kubernetes API unreachable reading Workflow {namespace}/{name}: {type(error).__name__}"
            ) from None
        metadata = existing.get("metadata") or {} if isinstance(existing, dict) else {}
        return Submitted(namespace, name, False, parse_time(metadata.get("creationTimestamp")))

    def stop(self, namespace: str, name: str, reason: str = "") -> bool:
        api = self._client()
        from kubernetes.client.exceptions import ApiException

        try:
            # A dict body goes as application/merge-patch+json (RFC 7386), which custom resources accept.
            api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, stop_patch(reason), _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise _translate(error, f"stop Workflow {namespace}/{name}") from None
        except Exception as error:
            raise Unavailable(
                f"Kubernetes API unreachable stopping Workflow {namespace}/{name}: {type(error).__name__}"
            ) from None
        return True

    def state(self, namespace: str, name: str) -> WorkflowState | None:
        api = self._client()
        from kubernetes.client.exceptions import ApiException

        try:
            found = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 404:  # deleted (the template's TTL): nothing to read
                return None
            raise _translate(error, f"read Workflow {namespace}/{name}") from None
        except Exception as error:
            raise Unavailable(
                f"Kubernetes API unreachable reading Workflow {namespace}/{name}: {type(error).__name__}"
            ) from None
        return state_of(found) if isinstance(found, dict) else WorkflowState("")


def _status_body(error: Any) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _reason(error: Any) -> str | None:
    reason = _status_body(error).get("reason")
    return reason if isinstance(reason, str) else None


def _translate(error: Any, what: str) -> Exception:
    status = int(error.status or 0)
    message = _status_body(error).get("message") or error.reason or "no message"
    text = f"Kubernetes API refused to {what}: {status} {message}"
    if status == 0 or status >= 500 or status in (408, 429):
        return Unavailable(text)
    return PermanentFailure(text)


def create_submitter(kind: str, *, dry_run_dir: str, kubeconfig: str | None = None) -> WorkflowSubmitter:
    """The submitter ``CODEX_ARGO_SUBMITTER`` names (``kubernetes`` or ``dry-run``)."""
    if kind == "kubernetes":
        return KubernetesSubmitter(kubeconfig)
    if kind == "dry-run":
        return DryRunSubmitter(dry_run_dir)
    raise ConfigurationError(f"CODEX_ARGO_SUBMITTER must be 'kubernetes' or 'dry-run', got {kind!r}")
