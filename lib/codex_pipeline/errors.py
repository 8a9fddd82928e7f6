"""Every error the pipeline raises on purpose, in one tree under :class:`CodexPipelineError`.

Three branches, one per way an error ends:

- :class:`PipelineError` is answered over HTTP. Knative retries 5xx (and 404/408/409/429) and
  dead-letters other 4xx, so the status is a promise about the event: 4xx means "this input can
  never succeed", 5xx means "try again later". Every handler raises one of these; the runtime
  adapters turn them into JSON error bodies. Messages never contain secrets: callers see them.
- :class:`StartupError` stops a process before it serves or runs: a setting or credential is
  missing or wrong. One line (setting, value, fix) and exit status :data:`CONFIGURATION_EXIT`.
- :class:`StepError` ends a workflow step or a CLI verb: its input can never succeed (exit 2)
  or the run failed (exit 1, which Argo may retry). The CLI prints one line and exits with
  :attr:`StepError.exit_status`; a step also writes it into its progress comment.
"""

from __future__ import annotations

from collections.abc import Mapping

# The exit status of every process stopped by a StartupError (argparse's for a usage error).
CONFIGURATION_EXIT = 2


class CodexPipelineError(Exception):
    """The root: everything below is an error this package means to raise, with a message fit to show."""

    def __str__(self) -> str:
        return " ".join(super().__str__().split())  # one line, whatever a wrapped message held


class PipelineError(CodexPipelineError):
    """Base of every error a function answers with; carries status and extra headers."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return self.message

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


class DiscordError(Unavailable):
    """Discord refused or could not be reached. A function answers it 503 (the broker retries);
    the steps' Discord mirror is best effort and only logs it."""

    code = "discord_unavailable"


# ---------------------------------------------------------------- start-up branch


class StartupError(CodexPipelineError):
    """The process cannot start, or a verb cannot run, as configured. Never a traceback: whoever
    reports it prints ``str(error)`` (one line; whitespace in wrapped messages, e.g. a YAML
    parser's, is folded) and exits with :attr:`exit_status`."""

    exit_status = CONFIGURATION_EXIT


class ConfigurationError(StartupError):
    """A setting or credential is missing or wrong, named with its value (a secret's shape only) and the fix."""


# ---------------------------------------------------------------- step branch


class StepError(CodexPipelineError):
    """A workflow step or a CLI verb cannot finish; the message is shown on stderr and, for a
    step, in the progress comment. Exit 1: the run failed and Argo may retry the step."""

    exit_status = 1


class StepInputError(StepError):
    """The step's input can never succeed (no task, not base64 or JSON, fields missing): exit 2,
    so a retry is pointless and the template's author sees why."""

    exit_status = 2


class StepFailed(StepError):
    """The step cannot finish (Codex failed, the branch is gone, nothing changed)."""


class GitError(StepError):
    """A git command failed; the message names the command and git's own words (token redacted)."""
