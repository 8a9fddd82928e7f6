"""A fake Kubernetes API server for Argo Workflows, over real HTTP.

It answers the two calls the submitter makes as the real API server does:

- ``POST /apis/argoproj.io/v1alpha1/namespaces/<ns>/workflows``: 201 with the stored object
  (uid, resourceVersion, creationTimestamp, generation added), or 409 with a ``Status`` whose
  reason is ``AlreadyExists``;
- ``GET …/workflows/<name>``: 200 with the object, or 404 ``NotFound``;
- ``PATCH …/workflows/<name>`` with ``application/merge-patch+json`` (RFC 7386, what the
  client sends for a dict body and ``argo stop`` uses for ``spec.shutdown``): 200 with the patched
  object (resourceVersion and generation bumped), 404 when absent; a strategic merge patch is 415
  ``UnsupportedMediaType``, as for every custom resource (Kubernetes 1.31 API server behaviour).

A request without the expected bearer token gets 401 ``Unauthorized``. ``refuse`` scripts
failures (403 Forbidden with the RBAC message, 500 InternalError, 422 Invalid) for the next
requests. ``kubeconfig(path)`` writes a kubeconfig pointing at this server.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.httpserver import Answer, FakeServer, Recorded

TOKEN = "fake-service-account-token"
_COLLECTION = re.compile(r"^/apis/argoproj\.io/v1alpha1/namespaces/([^/]+)/workflows/?$")
_ITEM = re.compile(r"^/apis/argoproj\.io/v1alpha1/namespaces/([^/]+)/workflows/([^/?]+)$")
_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def status_body(code: int, message: str, *, name: str | None = None, reason: str | None = None) -> bytes:
    """A ``meta.k8s.io/v1`` Status as the API server writes it for a failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }
    if name is not None:
        body["details"] = {"name": name, "group": "argoproj.io", "kind": "workflows"}
    return json.dumps(body).encode()


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1, its own CA: what an API server's serving cert
    and the service account's ca.crt are to the client."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


class FakeKubernetes(FakeServer):
    def __init__(self, token: str = TOKEN, *, tls_dir: Path | None = None) -> None:
        super().__init__()
        self.ca_file: Path | None = None
        # The API server answers headers and body without Nagle's wait for the client's delayed ACK.
        self._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        if tls_dir is not None:  # serve HTTPS like the in-cluster endpoint; ca_file is the CA to trust
            import ssl

            certificate, key = self_signed_certificate()
            self.ca_file = tls_dir / "ca.crt"
            self.ca_file.write_bytes(certificate)
            (tls_dir / "server.key").write_bytes(key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_file, tls_dir / "server.key")
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.token = token
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.refusals: list[int] = []
        self.method_refusals: dict[str, list[int]] = {}
        self._state = threading.Lock()
        self._version = 1000

    def refuse(self, *codes: int, method: str | None = None) -> None:
        """Answer the next requests (of ``method`` only, when given) with these statuses (one each),
        before any real work."""
        with self._state:
            if method is None:
                self.refusals.extend(codes)
            else:
                self.method_refusals.setdefault(method.upper(), []).extend(codes)

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    def creates(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def patches(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "PATCH"]

    def kubeconfig(self, path: Path, *, namespace: str = "argo-workflows") -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "submitter", "user": {"token": self.token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "submitter", "namespace": namespace}}
                    ],
                }
            )
        )
        return path

    def answer(self, recorded: Recorded) -> Answer:
        json_headers = {"content-type": "application/json"}
        scheme, _, presented = recorded.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or presented != self.token:  # the scheme is case-insensitive
            return 401, json_headers, status_body(401, "Unauthorized")
        with self._state:
            refused = self.refusals.pop(0) if self.refusals else None
            waiting = self.method_refusals.get(recorded.method.upper())
            if refused is None and waiting:
                refused = waiting.pop(0)
        path = recorded.path.split("?", 1)[0]
        if refused is not None:
            matched = _COLLECTION.match(path) or _ITEM.match(path)
            ns = matched.group(1) if matched else "default"
            message = {
                403: f'workflows.argoproj.io is forbidden: User "system:serviceaccount:codex:codex-workflow-'
                f'submitter" cannot create resource "workflows" in API group "argoproj.io" in the '
                f'namespace "{ns}"',
                500: "Internal error occurred: etcdserver: request timed out",
                422: 'Workflow.argoproj.io "x" is invalid: spec.workflowTemplateRef: Required value',
            }.get(refused, "refused")
            return refused, json_headers, status_body(refused, message)
        collection = _COLLECTION.match(path)
        if collection and recorded.method == "POST":
            return self._create(collection.group(1), recorded.body)
        item = _ITEM.match(path)
        if item and recorded.method == "GET":
            with self._state:
                stored = self.workflows.get((item.group(1), item.group(2)))
            if stored is None:
                return (
                    404,
                    json_headers,
                    status_body(404, f'workflows.argoproj.io "{item.group(2)}" not found', name=item.group(2)),
                )
            return 200, json_headers, json.dumps(stored).encode()
        if item and recorded.method == "PATCH":
            return self._patch(item.group(1), item.group(2), recorded)
        return 404, json_headers, status_body(404, "the server could not find the requested resource")

    def _patch(self, namespace: str, name: str, recorded: Recorded) -> Answer:
        json_headers = {"content-type": "application/json"}
        media = recorded.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/merge-patch+json":
            return (
                415,
                json_headers,
                status_body(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml "
                    f"(got {media or 'none'})",
                ),
            )
        try:
            patch = json.loads(recorded.body)
        except ValueError:
            return (
                400,
                json_headers,
                status_body(400, "the body of the request was in an unknown format", reason="BadRequest"),
            )
        with self._state:
            stored = self.workflows.get((namespace, name))
            if stored is None:
                return 404, json_headers, status_body(404, f'workflows.argoproj.io "{name}" not found', name=name)
            patched = _merge_patch(stored, patch)
            self._version += 1
            patched["metadata"]["resourceVersion"] = str(self._version)
            patched["metadata"]["generation"] = int(stored["metadata"].get("generation", 1)) + (
                patched.get("spec") != stored.get("spec")
            )
            self.workflows[(namespace, name)] = patched
        return 200, json_headers, json.dumps(patched).encode()

    def _create(self, namespace: str, raw: bytes) -> Answer:
        json_headers = {"content-type": "application/json"}
        try:
            body = json.loads(raw)
        except ValueError:
            return (
                400,
                json_headers,
                status_body(400, "the body of the request was in an unknown format", reason="BadRequest"),
            )
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        if not name:
            return 422, json_headers, status_body(422, "metadata.name: Required value")
        if metadata.get("namespace", namespace) != namespace:
            return (
                400,
                json_headers,
                status_body(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                    reason="BadRequest",
                ),
            )
        with self._state:
            if (namespace, name) in self.workflows:
                return 409, json_headers, status_body(409, f'workflows.argoproj.io "{name}" already exists', name=name)
            self._version += 1
            stored = json.loads(raw)
            stored["metadata"] = {
                **metadata,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self._version),
                "generation": 1,
                "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self.workflows[(namespace, name)] = stored
        return 201, json_headers, json.dumps(stored).encode()


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged
