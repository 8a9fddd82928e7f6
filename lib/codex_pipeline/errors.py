"""Errors that know how the broker should treat them.

Knative retries 5xx (and 404/408/409/429) and dead-letters other 4xx, so the status of an
error is a promise about the event: 4xx means "this input can never succeed", 5xx means
"try again later". Every handler raises one of these; the runtime adapters turn them into
JSON error bodies. Messages must never contain secrets: they are sent to callers.
"""

from __future__ import annotations

from collections.abc import Mapping


class PipelineError(Exception):
    """Base of every error a function answers with; carries status and extra headers."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def transient(self) -> bool:
        """Whether the broker should retry the event that caused this error."""
        return self.status >= 500 or self.status in (404, 408, 409, 429)

    def body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "status": self.status}


class BadRequest(PipelineError):
    """Input that can never succeed: malformed, missing fields, wrong shape."""

    status = 400
    code = "bad_request"


class Unauthorized(PipelineError):
    status = 401
    code = "unauthorized"


class Forbidden(PipelineError):
    status = 403
    code = "forbidden"


class MethodNotAllowed(PipelineError):
    status = 405
    code = "method_not_allowed"


class Conflict(PipelineError):
    """The request contradicts what was already recorded for the same key (409: a broker retries it,
    and the retry meets the settled state)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(PipelineError):
    status = 413
    code = "payload_too_large"


class PermanentFailure(PipelineError):
    """An outside system refused for good (e.g. GitHub 404 on a repository): dead-letter it."""

    status = 422
    code = "permanent_failure"


class Unavailable(PipelineError):
    """A transient fault (sink, database, Kubernetes or GitHub API down): retry later."""

    status = 503
    code = "unavailable"


class MisconfiguredCredentials(Unavailable):
    """Our deployment's credentials cannot make a call the event needs (e.g. a GitHub App without
    an installation id asked for a repository-less call).

    The event itself is fine, so it is answered 503 and retried once the setting is fixed, never
    dead-lettered; the message names the setting to fix."""

    code = "misconfigured_credentials"


class ConfigurationError(Exception):
    """A setting is missing or wrong; raised at start-up, naming the setting, its value and the fix.

    Whoever reports it prints ``str(error)``: one line (whitespace in wrapped messages, e.g. a YAML
    parser's, is folded), and exits with :data:`CONFIGURATION_EXIT`, never with a traceback.
    """

    def __str__(self) -> str:
        return " ".join(super().__str__().split())


# The exit status of every process stopped by a ConfigurationError (argparse's for a usage error).
CONFIGURATION_EXIT = 2
