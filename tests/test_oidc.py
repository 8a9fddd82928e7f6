"""Sender identity (Knative Eventing ``authentication-oidc``) on the functions a broker calls.

route-task runs under both runtimes with ``CODEX_OIDC_AUDIENCE`` set, against a real JWKS server
on loopback and real RS256 service-account tokens (tests/fakes/jwks.py): only a token signed by
the issuer's key, for the audience, from the issuer, unexpired and from an allowed sender gets
through; a key rotated in is fetched; a JWKS that cannot be fetched is a transient 503; health
probes need no token. dispatch-planning shows the same check guards the effect functions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from codex_pipeline.effects.oidc import REFETCH_SECONDS
from tests.conftest import start_function, stop_function
from tests.fakes.httpserver import RecordingSink
from tests.fakes.jwks import JwksServer, SigningKey
from tests.payloads import github
from tests.runtimes import RUNTIMES, Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("oidc")]

AUDIENCE = "serving.knative.dev/service/codex/route-task"
SENDER = "system:serviceaccount:codex:route-task-oidc-eventing.knative.dev-trigger"
KEY = SigningKey()


@pytest.fixture(scope="module")
def issuer() -> Iterator[JwksServer]:
    with JwksServer(KEY) as server:
        yield server


def oidc_env(issuer: JwksServer, audience: str = AUDIENCE) -> dict[str, str]:
    return {
        "CODEX_OIDC_AUDIENCE": audience,
        "CODEX_OIDC_ISSUER": "https://kubernetes.default.svc.cluster.local",
        "CODEX_OIDC_JWKS_URL": issuer.jwks_url,
        "CODEX_OIDC_SUBJECTS": SENDER,
    }


@pytest.fixture(scope="module", params=RUNTIMES)
def route_task(
    request: pytest.FixtureRequest, issuer: JwksServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, RecordingSink]]:
    with RecordingSink() as sink:
        env = {
            **oidc_env(issuer),
            "CODEX_TASKS_SINK": sink.url,
            "CODEX_TASKS_JSON_SINK": sink.url,
            "CODEX_TRIGGER_LOGINS": "octocat",
        }
        with serve("route-task", request.param, env, tmp_path_factory.mktemp("oidc")) as served:
            yield served, sink


def deliver(url: str, token: str | None, *, opened: bool = False) -> requests.Response:
    payload = github.issues_opened(sender="octocat") if opened else github.push()
    headers, body = github.cloudevent("issues" if opened else "push", payload, str(uuid.uuid4()))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(url + "/", data=body, headers=headers, timeout=10)


def test_a_valid_sender_token_gets_through(route_task: tuple[Served, RecordingSink]) -> None:
    served, sink = route_task
    sink.requests.clear()
    answer = deliver(served.url, KEY.token(AUDIENCE), opened=True)
    assert answer.status_code == 202, answer.text
    assert len(sink.wait_for(2)) == 2  # the planning task on both topics


@pytest.mark.parametrize(
    ("case", "token", "status", "fragment"),
    [
        ("no token", None, 401, "missing OIDC sender token"),
        ("not a JWT", "not-a-jwt", 401, "refused"),
        ("another audience", KEY.token("serving.knative.dev/service/codex/dispatch-planning"), 401, "audience"),
        ("another issuer", KEY.token(AUDIENCE, issuer="https://evil.example"), 401, "issuer"),
        ("expired", KEY.token(AUDIENCE, lifetime=-600), 401, "expired"),
        ("unknown signing key", SigningKey().token(AUDIENCE), 401, "refused"),
        ("another sender", KEY.token(AUDIENCE, account="default"), 403, "not in CODEX_OIDC_SUBJECTS"),
        ("no exp", KEY.token(AUDIENCE, exp=None), 401, "refused"),
    ],
)
def test_bad_sender_tokens_are_refused_and_nothing_is_emitted(
    route_task: tuple[Served, RecordingSink], case: str, token: str | None, status: int, fragment: str
) -> None:
    served, sink = route_task
    sink.requests.clear()
    answer = deliver(served.url, token, opened=True)
    assert answer.status_code == status, f"{case}: {answer.text}"
    assert fragment.lower() in answer.json()["message"].lower(), answer.json()
    time.sleep(0.1)
    assert sink.requests == []


def test_an_hmac_token_signed_with_the_public_key_is_refused(route_task: tuple[Served, RecordingSink]) -> None:
    """The classic algorithm confusion: HS256 keyed with the RSA public key (as text)."""
    served, _ = route_task
    public = KEY.jwk()["n"]
    forged = jwt.encode(
        {
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": SENDER,
            "aud": [AUDIENCE],
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
        },
        public,
        algorithm="HS256",
        headers={"kid": KEY.kid},
    )
    assert deliver(served.url, forged).status_code == 401


def test_health_probes_need_no_token(route_task: tuple[Served, RecordingSink]) -> None:
    served, _ = route_task
    for path in ("/health/liveness", "/health/readiness"):
        assert requests.get(served.url + path, timeout=5).status_code == 200


def test_rotated_keys_are_fetched_and_an_unreachable_issuer_is_503(
    route_task: tuple[Served, RecordingSink], issuer: JwksServer
) -> None:
    served, _ = route_task
    rotated = SigningKey()
    issuer.keys.append(rotated)
    try:
        time.sleep(REFETCH_SECONDS + 0.1)  # past the refetch interval an earlier unknown key id started
        assert deliver(served.url, rotated.token(AUDIENCE)).status_code == 200  # push: routed, ignored
        newer = SigningKey()
        issuer.keys.append(newer)
        issuer.down = True
        time.sleep(REFETCH_SECONDS + 0.1)
        answer = deliver(served.url, newer.token(AUDIENCE))
        assert answer.status_code == 503, answer.text
        assert "JWKS" in answer.json()["message"]
        assert deliver(served.url, KEY.token(AUDIENCE)).status_code == 200  # cached keys still verify
    finally:
        issuer.down = False
        issuer.keys[:] = [KEY]


def test_the_effect_functions_check_it_too(issuer: JwksServer, tmp_path: Path) -> None:
    audience = "serving.knative.dev/service/codex/dispatch-planning"
    env = {
        **oidc_env(issuer, audience),
        "CODEX_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp_path / "workflows"),
    }
    running = start_function("dispatch-planning", env, tmp_path)
    try:
        from codex_pipeline.wire import tasks

        task = tasks.from_json_dict(
            {"stage": "planning", "repository": "acme/widgets", "issueNumber": 3, "deliveryId": str(uuid.uuid4())}
        )
        headers = {"Content-Type": "application/x-protobuf"}
        body = tasks.to_protobuf(task)
        refused = requests.post(running.url + "/", data=body, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert not (tmp_path / "workflows").exists() or not any((tmp_path / "workflows").rglob("*.json"))
        headers["Authorization"] = f"Bearer {KEY.token(audience)}"
        assert requests.post(running.url + "/", data=body, headers=headers, timeout=10).status_code == 202
    finally:
        stop_function(running)
