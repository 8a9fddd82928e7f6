"""What a GitHub delivery means: a pure function of (event, payload, delivery id, policy).

:func:`route` is the brain of the pipeline and has no I/O, no clock and no state, so it is
table-tested and property-tested, and a routing bug is fixed by replaying raw events through a
corrected version. It never raises on any JSON value: every field is read through typed getters
and anything unexpected becomes an ignore reason. Who may trigger what is asked from
:mod:`codex_pipeline.core.policy`; text that reaches a prompt goes through :mod:`codex_pipeline.core.untrusted`.

Rules (one small function each, looked up by ``(event, action)`` in :data:`RULES`):

- ``issues.opened`` by an allowed sender -> planning, unless the body already holds the plan
  marker (dispatch-planning also skips an issue that already has the planner's plan comment);
- ``issues.labeled`` with ``CODEX_TRIGGER_LABEL`` by an allowed sender -> planning (same skip);
- ``issue_comment.created`` on an issue, with the plan marker, by the planner -> implementation
  carrying the plan comment and its SHA-256 (``plan_sha256``: ``step implement`` refuses a plan
  edited since), unless ``CODEX_REQUIRE_APPROVAL`` makes it wait for ``execute plan``;
- the ``CODEX_IMPLEMENTATION_TRIGGER`` phrase (``execute plan``) on a line of its own, or
  ``@<bot> execute plan`` anywhere in a line, by an allowed login -> implementation without the
  plan (promote-plan fetches the latest one and pins the task to it);
- ``issue_comment.created`` on a PR with ``@<bot> review`` anywhere in a line, by
  OWNER/MEMBER/COLLABORATOR -> review (head/base empty: the payload lacks them, request-review
  fetches the PR);
- ``@<bot> replan`` on an issue by an allowed login -> planning with ``replan`` set (planning is
  otherwise once per issue; dispatch-planning enforces that);
- ``@<bot> cancel`` on an issue or PR by an author the policy answers -> a ``codex.command``
  cancel request (request-review stops the issue's active runs and reacts 👀, or replies that
  nothing runs); by anyone else -> one reply saying it was not allowed;
- ``@<bot> retry`` on an issue or PR, same authors -> a ``codex.command`` retry request
  (request-review re-runs the issue's last failed or cancelled stage and reacts 👀, or replies
  why nothing is retried); by anyone else -> one reply saying it was not allowed;
- every accepted command that becomes a task (``review``, ``execute plan``, ``replan``) also
  emits a ``codex.command`` ack: request-review reacts 👀 on the comment once per delivery;
- a mention of the bot it does not understand, by an author the policy answers
  (:meth:`Policy.may_command`) -> a ``codex.command`` reply request listing the commands,
  posted once per delivery by request-review; by anyone else -> ignored with the reason;
- PR activity (``pull_request`` synchronize/ready_for_review/reopened, ``check_suite`` and
  ``check_run`` completed, ``pull_request_review`` submitted, ``pull_request_review_thread``
  resolved) on a same-repository ``CODEX_BRANCH_PREFIX`` head branch -> readiness check (stage
  UNSPECIFIED, CloudEvent type ``codex.pr.readiness``);
- everything else is ignored with a reason. Commands count only in text a human wrote as prose:
  not inside code fences, indented code, inline code, quotes or HTML comments.

Review and readiness tasks carry the issue the branch names (``codex/issue-9-…`` -> 9) as
``issue_number``, so all runs of one issue share its partition, and the pull request number in
``pull_request_number``. A review comment's payload has no head branch: the issue is then read
from the ``Closes #<n>`` line our own implementation step writes into the PRs it opens (only for
PRs opened by the pipeline's login); request-review checks it against the branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from codex_pipeline.core import commands, prompts, untrusted
from codex_pipeline.core.commands import CommandRequest
from codex_pipeline.core.names import head_branch as _head_branch
from codex_pipeline.core.names import holds_plan_marker, issue_of_branch, plan_digest
from codex_pipeline.core.names import slug as slug  # re-exported: the router's slug is the steps' slug
from codex_pipeline.core.policy import Policy, repository_problem
from codex_pipeline.wire.events import TASK_TYPES
from codex_pipeline.wire.jsonfields import obj, text
from codex_pipeline.wire.pb import codex_task_pb2 as pb
from codex_pipeline.wire.tasks import partition_key, set_timestamp, task_event_id

TYPE_PREFIX = "com.github."
READINESS_PR_ACTIONS = ("synchronize", "ready_for_review", "reopened")
_MAX_INT64 = 2**63 - 1
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CLOSES = re.compile(r"^(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?) #([1-9][0-9]{0,17})\b")
_TRAILING = " .!"


@dataclass(frozen=True, slots=True)
class RoutedTask:
    """One task to emit: ``kind`` is planning, implementation, review or readiness."""

    kind: str
    task: pb.CodexTask
    event_id: str

    @property
    def type(self) -> str:
        return TASK_TYPES[self.kind]

    @property
    def partition_key(self) -> str:
        return partition_key(self.task.repository, self.task.issue_number)


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Tasks and command requests to emit (none when ignored) and the reason, for the decision log.

    An ignored result also carries ``code``: one word from a short fixed list (``no-rule``,
    ``not-allowed``, ``own-login``, ...) that a metric can count by, where the reason is free text."""

    tasks: tuple[RoutedTask, ...]
    reason: str
    commands: tuple[CommandRequest, ...] = ()
    code: str = ""

    @property
    def ignored(self) -> bool:
        return not self.tasks and not self.commands


def _ignore(reason: str, code: str) -> RouteResult:
    return RouteResult((), reason, code=code)


# ---------------------------------------------------------------- typed getters (never raise)


def _int(value: Any, key: str) -> int:
    found = value.get(key) if isinstance(value, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and 0 < found <= _MAX_INT64:
        return found
    return 0


def _list(value: Any, key: str) -> list[Any]:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, list) else []


def _text(value: str) -> str:
    """A string protobuf accepts: lone surrogates (valid in JSON escapes) become U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in value)
    return value


def _timestamp(*candidates: str) -> datetime | None:
    for raw in candidates:
        if raw and len(raw) <= 40:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                continue
            if parsed.tzinfo is not None:
                return parsed
    return None


# ---------------------------------------------------------------- names and text


def head_branch(issue_number: int, title: str, prefix: str | None = None) -> str:
    """The branch of new work for an issue (:func:`codex_pipeline.core.names.head_branch`)."""
    return _head_branch(issue_number, title, prefix) if prefix else _head_branch(issue_number, title)


def command_lines(body: str) -> Iterator[str]:
    """The lines of a comment a human wrote as text, trimmed and lower-cased.

    Skipped: fenced code blocks (``` or ~~~), indented code (4+ spaces or a tab), quotes
    (``>``) and HTML comments; invisible characters are removed first (untrusted.clean), so a
    command shown as an example or hidden from readers never counts.
    """
    fence = ""
    for line in untrusted.clean(body).split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if fence:
            closing = stripped.rstrip()
            if indent < 4 and closing.startswith(fence) and not closing.strip(fence[0]):
                fence = ""
            continue
        opening = _FENCE_OPEN.match(line)
        if opening:
            fence = opening.group(1)
            continue
        if indent >= 4 or stripped.startswith("\t") or stripped.startswith(">"):
            continue
        normalised = " ".join(stripped.split()).lower()
        if normalised:
            yield normalised


def has_execute_plan(body: str, trigger: str = "execute plan", mention: str = "") -> bool:
    """The trigger phrase on a line of its own (trailing '.'/'!' allowed), or after the mention."""
    lines = list(command_lines(body))
    if any(line.rstrip(_TRAILING) == trigger for line in lines):
        return True
    return any(
        m.command == "execute plan" or (m.command == "" and m.rest.startswith(trigger))
        for m in commands.mentions(lines, mention)
    )


def review_request(body: str, mention: str) -> str | None:
    """The text after ``@<bot> review`` anywhere in a prose line, '' when none; None without a request."""
    for found in commands.mentions(command_lines(body), mention):
        if found.command == "review":
            return found.rest
    return None


def unknown_mention(body: str, mention: str, trigger: str) -> bool:
    """The bot is mentioned in prose, but with nothing it understands."""
    found = commands.mentions(command_lines(body), mention)
    return bool(found) and not any(m.command or m.rest.startswith(trigger) for m in found)


# ---------------------------------------------------------------- building tasks


@dataclass(frozen=True, slots=True)
class _Delivery:
    event: str
    action: str
    payload: dict[str, Any]
    delivery_id: str
    policy: Policy
    received_at: datetime | None
    # ``owner/name`` when the payload names a valid one, else '': read once, every rule asks for it
    repository: str

    @property
    def repository_url(self) -> str:
        url = text(obj(self.payload, "repository"), "html_url")
        return url or f"https://github.com/{self.repository}"

    @property
    def default_branch(self) -> str:
        return text(obj(self.payload, "repository"), "default_branch")

    @property
    def sender(self) -> str:
        return text(obj(self.payload, "sender"), "login")

    def task(self, stage: pb.CodexTaskStage, *, at: str = "", **fields: Any) -> pb.CodexTask:
        kept: dict[str, Any] = {
            name: _text(value) if isinstance(value, str) else value
            for name, value in fields.items()
            if value is not None and value != ""
        }
        # one constructor call: protobuf sets every field in C, where a setattr each is a Python call each
        task = pb.CodexTask(stage=stage, repository=self.repository, delivery_id=_text(self.delivery_id), **kept)
        for issued in (_timestamp(at), self.received_at):
            # the first that a Timestamp can hold: one may fall outside its range once in UTC
            if issued is not None and set_timestamp(task.issued_at, issued):
                break
        return task

    def one(self, kind: str, task: pb.CodexTask, reason: str) -> RouteResult:
        return RouteResult((RoutedTask(kind, task, task_event_id(self.delivery_id, kind)),), reason)

    def branch(self, number: int, title: str) -> str:
        return head_branch(number, title, self.policy.branch_prefix)

    def reply(
        self, number: int, comment: dict[str, Any], author: str, reason: str, text_: str | None = None
    ) -> RouteResult:
        """Answer a comment once (the command list by default): one reply request, posted by request-review."""
        request = CommandRequest(
            commands.REPLY,
            self.repository,
            number,
            _text(self.delivery_id),
            _int(comment, "id"),
            _text(author),
            text_ or commands.help_text(self.policy.bot_mention, self.policy.implementation_trigger),
            reason,
        )
        return RouteResult((), reason, (request,))

    def cancel(
        self,
        number: int,
        comment: dict[str, Any],
        author: str,
        reason: str,
        *,
        pull_request: bool,
        kind: str = commands.CANCEL,
    ) -> RouteResult:
        """A cancel (or retry) request; its default reply is the one for nothing to cancel."""
        reply = CommandRequest.NOTHING_TO_CANCEL if kind == commands.CANCEL else ""
        request = CommandRequest(
            kind,
            self.repository,
            number,
            _text(self.delivery_id),
            _int(comment, "id"),
            _text(author),
            reply,
            reason,
            pull_request,
        )
        return RouteResult((), reason, (request,))

    def acknowledged(self, routed: RouteResult, number: int, comment: dict[str, Any], author: str) -> RouteResult:
        """``routed`` (a command that became a task) with a 👀 on its comment, once per delivery."""
        if not routed.tasks:
            return routed
        ack = CommandRequest(
            commands.ACK,
            self.repository,
            number,
            _text(self.delivery_id),
            _int(comment, "id"),
            _text(author),
            "",
            routed.reason,
        )
        return RouteResult(routed.tasks, routed.reason, (*routed.commands, ack))


def _issue_target(d: _Delivery) -> tuple[dict[str, Any], int, str | None]:
    """The issue, its number, and why it cannot be worked on (None when it can)."""
    issue = obj(d.payload, "issue")
    number = _int(issue, "number")
    if not d.repository:
        named = text(obj(d.payload, "repository"), "full_name")
        return issue, number, f"payload names no valid repository: {repository_problem(named)}"
    if not number:
        return issue, number, "payload names no issue number"
    if text(issue, "state") == "closed":
        return issue, number, f"issue #{number} is closed"
    return issue, number, None


def _implementation_task(
    d: _Delivery,
    issue: dict[str, Any],
    number: int,
    comment: dict[str, Any],
    author: str,
    prompt_for: Callable[[str, str], str],
    **plan: Any,
) -> pb.CodexTask:
    """The implementation task a comment promotes (the planner's plan, or an allowed ``execute
    plan``): ``prompt_for(branch, title)`` writes its prompt, ``plan`` adds the approved plan's fields."""
    title = text(issue, "title")
    branch = d.branch(number, title)
    return d.task(
        pb.CODEX_TASK_STAGE_IMPLEMENTATION,
        at=text(comment, "created_at"),
        prompt=prompt_for(branch, title),
        base=d.default_branch,
        head=branch,
        issue_number=number,
        issue_url=text(issue, "html_url"),
        issue_title=title,
        issue_body=text(issue, "body"),
        sender=author,
        **plan,
    )


def _planning(
    d: _Delivery,
    issue: dict[str, Any],
    number: int,
    reason: str,
    *,
    replan: bool = False,
    at: str = "",
    sender: str = "",
) -> RouteResult:
    if holds_plan_marker(text(issue, "body")) and not replan:
        return _ignore(
            f"planning: issue #{number} already holds a plan (its body carries the plan marker)", "already-planned"
        )
    title = text(issue, "title")
    prompt = prompts.issue_planning_prompt(d.repository, number, title, text(issue, "body"))
    task = d.task(
        pb.CODEX_TASK_STAGE_PLANNING,
        at=at or text(issue, "updated_at") or text(issue, "created_at"),
        prompt=prompt,
        base=d.default_branch,
        head=d.branch(number, title),
        issue_number=number,
        issue_url=text(issue, "html_url"),
        issue_title=title,
        issue_body=text(issue, "body"),
        sender=sender or d.sender,
        replan=True if replan else None,
    )
    return d.one("planning", task, reason)


# ---------------------------------------------------------------- rules


def _issue_opened(d: _Delivery) -> RouteResult:
    issue, number, problem = _issue_target(d)
    if problem:
        return _ignore(f"issues.opened: {problem}", "malformed")
    allowed = d.policy.may_open_planning(d.sender)
    if not allowed:
        return _ignore(allowed.reason, "not-allowed")
    return _planning(d, issue, number, allowed.reason)


def _issue_labeled(d: _Delivery) -> RouteResult:
    issue, number, problem = _issue_target(d)
    if problem:
        return _ignore(f"issues.labeled: {problem}", "malformed")
    allowed = d.policy.may_label_planning(text(obj(d.payload, "label"), "name"), d.sender)
    if not allowed:
        return _ignore(allowed.reason, "not-allowed")
    return _planning(d, issue, number, allowed.reason)


def _issue_comment(d: _Delivery) -> RouteResult:
    issue, number, problem = _issue_target(d)
    on_pr = "pull_request" in issue
    if problem:
        return _ignore(f"issue_comment: {problem}", "malformed")
    comment = obj(d.payload, "comment")
    author = text(obj(comment, "user"), "login")
    body = text(comment, "body")
    if on_pr:
        return _pr_comment(d, issue, number, comment, author, body)

    plan = d.policy.is_planner_plan(author, body)
    if plan and d.policy.require_approval:
        return _ignore(
            f"{plan.reason}; CODEX_REQUIRE_APPROVAL is on, so it waits for an allowed login's "
            f"`{d.policy.implementation_trigger}`",
            "awaiting-approval",
        )
    if plan:
        task = _implementation_task(
            d,
            issue,
            number,
            comment,
            author,
            lambda branch, title: prompts.approved_plan_prompt(
                d.repository, number, branch, title, text(issue, "body"), body
            ),
            plan_comment_id=_int(comment, "id") or None,
            plan_comment_url=text(comment, "html_url"),
            plan_comment_body=body,
            plan_sha256=plan_digest(_text(body)),
        )
        return d.one("implementation", task, plan.reason)
    if d.policy.is_own_login(author):
        return _ignore(
            f"issue_comment: comment by the pipeline's own login {author.lower()} (only the planner's plan promotes)",
            "own-login",
        )
    mention, trigger = d.policy.bot_mention, d.policy.implementation_trigger
    if has_execute_plan(body, trigger, mention):
        allowed = d.policy.may_execute_plan(author)
        if not allowed:
            return _ignore(allowed.reason, "not-allowed")
        task = _implementation_task(
            d,
            issue,
            number,
            comment,
            author,
            lambda branch, title: prompts.execute_plan_prompt(
                d.repository, number, branch, title, text(issue, "body"), author
            ),
        )
        return d.acknowledged(d.one("implementation", task, allowed.reason), number, comment, author)
    if holds_plan_marker(body):
        return _ignore(plan.reason, "not-planner")
    said = {m.command for m in commands.mentions(command_lines(body), mention)}
    if "cancel" in said:
        return _cancel(d, number, comment, author, pull_request=False)
    if "retry" in said:
        return _cancel(d, number, comment, author, pull_request=False, kind=commands.RETRY)
    if "replan" in said:
        allowed = d.policy.may_open_planning(author)
        if not allowed:
            return _ignore(f"replan: {allowed.reason}", "not-allowed")
        planned = _planning(
            d, issue, number, f"replan: {allowed.reason}", replan=True, at=text(comment, "created_at"), sender=author
        )
        return d.acknowledged(planned, number, comment, author)
    if review_request(body, mention) is not None:
        return _ignore(
            f"issue_comment: {mention} review on issue #{number}, which is not a pull request", "wrong-target"
        )
    if unknown_mention(body, mention, trigger):
        return _unknown(d, number, comment, author)
    return _ignore("issue_comment: no command on the issue", "no-command")


def _cancel(
    d: _Delivery,
    number: int,
    comment: dict[str, Any],
    author: str,
    *,
    pull_request: bool,
    pull: int = 0,
    kind: str = commands.CANCEL,
) -> RouteResult:
    """``@<bot> cancel`` (or ``retry``): request-review stops the issue's active runs (or re-runs its
    last failed or cancelled stage); a refused one gets one reply why."""
    allowed = d.policy.may_command(text(comment, "author_association"), author)
    if not allowed:
        if d.policy.is_own_login(author):
            return _ignore(f"{kind}: {allowed.reason}", "not-allowed")
        done, verb = ("cancelled", "cancel") if kind == commands.CANCEL else ("retried", "retry")
        return d.reply(
            pull or number,
            comment,
            author,
            f"{kind} refused: {allowed.reason}",
            f"Not {done}: {_text(author) or 'this author'} may not {verb} Codex runs here "
            "(OWNER, MEMBER or COLLABORATOR, or an allowed login, may).",
        )
    return d.cancel(pull or number, comment, author, f"{kind}: {allowed.reason}", pull_request=pull_request, kind=kind)


def _unknown(d: _Delivery, number: int, comment: dict[str, Any], author: str) -> RouteResult:
    """A mention without a command: the commands listed once to an answered author, else a logged reason."""
    allowed = d.policy.may_command(text(comment, "author_association"), author)
    if not allowed:
        return _ignore(
            f"issue_comment: {d.policy.bot_mention} mentioned without a known command; no reply: {allowed.reason}",
            "not-allowed",
        )
    return d.reply(
        number,
        comment,
        author,
        f"issue_comment: {d.policy.bot_mention} mentioned without a known "
        f"command on #{number}; replying with the commands ({allowed.reason})",
    )


def _pr_comment(
    d: _Delivery, issue: dict[str, Any], number: int, comment: dict[str, Any], author: str, body: str
) -> RouteResult:
    if d.policy.is_own_login(author):
        return _ignore(f"issue_comment: comment by the pipeline's own login {author.lower()}", "own-login")
    mention, trigger = d.policy.bot_mention, d.policy.implementation_trigger
    said = {m.command for m in commands.mentions(command_lines(body), mention)}
    if "cancel" in said or "retry" in said:
        return _cancel(
            d,
            _issue_of_pull(d, issue) or number,
            comment,
            author,
            pull_request=True,
            pull=number,
            kind=commands.CANCEL if "cancel" in said else commands.RETRY,
        )
    extra = review_request(body, mention)
    if extra is None:
        if holds_plan_marker(body) or has_execute_plan(body, trigger, mention):
            return _ignore(
                f"issue_comment: plan command on pull request #{number}; plans are approved on issues", "wrong-target"
            )
        if unknown_mention(body, mention, trigger):
            return _unknown(d, number, comment, author)
        return _ignore("issue_comment: no review request on the pull request", "no-command")
    allowed = d.policy.may_request_review(text(comment, "author_association"), author)
    if not allowed:
        return _ignore(allowed.reason, "not-allowed")
    pr_url = text(obj(issue, "pull_request"), "html_url") or text(issue, "html_url")
    prompt = prompts.review_request_prompt(d.repository, number, author, body, text(issue, "title"))
    task = d.task(
        pb.CODEX_TASK_STAGE_REVIEW,
        at=text(comment, "created_at"),
        prompt=prompt,
        issue_number=_issue_of_pull(d, issue) or number,
        pull_request_number=number,
        issue_url=pr_url,
        issue_title=text(issue, "title"),
        issue_body=text(issue, "body"),
        sender=author,
    )
    return d.acknowledged(d.one("review", task, allowed.reason), number, comment, author)


def _issue_of_pull(d: _Delivery, pull: dict[str, Any]) -> int:
    """The issue a PR of ours closes, from the first line of its body (``Closes #9``); 0 when unknown.

    Only for PRs the pipeline's own login opened: the line is what ``step implement`` writes."""
    if not d.policy.is_own_login(text(obj(pull, "user"), "login")):
        return 0
    lines = untrusted.clean(text(pull, "body")).strip().split("\n", 1)
    match = _CLOSES.match(lines[0].strip().lower()) if lines else None
    number = int(match.group(1)) if match else 0
    return number if 0 < number <= _MAX_INT64 else 0


def _readiness(d: _Delivery, prs: list[tuple[int, str, str, str, str]], at: str, what: str) -> RouteResult:
    """Readiness tasks for (number, head, base, url, title) of codex/ PRs, one per PR."""
    if not d.repository:
        return _ignore(f"{what}: payload names no repository", "malformed")
    if not prs:
        return _ignore(
            f"{what}: no same-repository pull request on a {d.policy.branch_prefix} branch", "not-codex-branch"
        )
    routed = []
    for number, head, base, url, title in prs:
        task = d.task(
            pb.CODEX_TASK_STAGE_UNSPECIFIED,
            at=at,
            prompt=prompts.readiness_prompt(d.repository, number),
            base=base,
            head=head,
            issue_number=issue_of_branch(head, d.policy.branch_prefix) or number,
            pull_request_number=number,
            issue_url=url or f"{d.repository_url}/pull/{number}",
            issue_title=title,
            sender=d.sender,
        )
        event_id = task_event_id(d.delivery_id, "readiness")
        routed.append(RoutedTask("readiness", task, event_id if len(prs) == 1 else f"{event_id}#{number}"))
    numbers = ", ".join(f"#{p[0]}" for p in prs)
    return RouteResult(tuple(routed), f"{what}: readiness check of {numbers}")


def _pr_activity(d: _Delivery) -> RouteResult:
    what = f"{d.event}.{d.action}"
    pr = obj(d.payload, "pull_request")
    number = _int(pr, "number")
    head, base = obj(pr, "head"), obj(pr, "base")
    ref = text(head, "ref")
    if not number:
        return _ignore(f"{what}: payload names no pull request", "malformed")
    if not ref.startswith(d.policy.branch_prefix):
        return _ignore(
            f"{what}: head branch {ref!r} of #{number} is not a {d.policy.branch_prefix} branch", "not-codex-branch"
        )
    if not _same_repository(d, obj(head, "repo")):
        return _ignore(f"{what}: #{number} comes from a fork", "fork")
    if text(pr, "state") == "closed":
        return _ignore(f"{what}: pull request #{number} is closed", "closed")
    at = (text(obj(d.payload, "review"), "submitted_at") if d.event == "pull_request_review" else "") or text(
        pr, "updated_at"
    )
    return _readiness(d, [(number, ref, text(base, "ref"), text(pr, "html_url"), text(pr, "title"))], at, what)


def _same_repository(d: _Delivery, head_repo: dict[str, Any]) -> bool:
    repo = obj(d.payload, "repository")
    repo_id = _int(repo, "id")
    if repo_id and _int(head_repo, "id"):
        return _int(head_repo, "id") == repo_id
    name = text(head_repo, "full_name")
    return bool(name) and name == text(repo, "full_name")


def _suite_prs(d: _Delivery, suite: dict[str, Any], prs: list[Any]) -> list[tuple[int, str, str, str, str]]:
    branch = text(suite, "head_branch")
    found = []
    for pr in prs:
        head = obj(pr, "head")
        number = _int(pr, "number")
        ref = text(head, "ref") or branch
        if number and ref.startswith(d.policy.branch_prefix) and _same_repository(d, obj(head, "repo")):
            found.append((number, ref, text(obj(pr, "base"), "ref"), "", ""))
    return found


def _check_suite(d: _Delivery) -> RouteResult:
    suite = obj(d.payload, "check_suite")
    branch = text(suite, "head_branch")
    if not branch.startswith(d.policy.branch_prefix):
        return _ignore(
            f"check_suite.completed: head branch {branch!r} is not a {d.policy.branch_prefix} branch",
            "not-codex-branch",
        )
    return _readiness(
        d, _suite_prs(d, suite, _list(suite, "pull_requests")), text(suite, "updated_at"), "check_suite.completed"
    )


def _check_run(d: _Delivery) -> RouteResult:
    run = obj(d.payload, "check_run")
    suite = obj(run, "check_suite")
    branch = text(suite, "head_branch")
    if not branch.startswith(d.policy.branch_prefix):
        return _ignore(
            f"check_run.completed: head branch {branch!r} is not a {d.policy.branch_prefix} branch", "not-codex-branch"
        )
    prs = _list(run, "pull_requests") or _list(suite, "pull_requests")
    return _readiness(d, _suite_prs(d, suite, prs), text(run, "completed_at"), "check_run.completed")


Rule = Callable[[_Delivery], RouteResult]
RULES: dict[tuple[str, str], Rule] = {
    ("issues", "opened"): _issue_opened,
    ("issues", "labeled"): _issue_labeled,
    ("issue_comment", "created"): _issue_comment,
    **{("pull_request", action): _pr_activity for action in READINESS_PR_ACTIONS},
    ("check_suite", "completed"): _check_suite,
    ("check_run", "completed"): _check_run,
    ("pull_request_review", "submitted"): _pr_activity,
    ("pull_request_review_thread", "resolved"): _pr_activity,
}
# The raw CloudEvent types route-task consumes (its Trigger filters on these).
ROUTED_TYPES: frozenset[str] = frozenset(f"{TYPE_PREFIX}{event}.{action}" for event, action in RULES)


def split_type(event_type: str) -> tuple[str, str]:
    """``com.github.issues.opened`` -> (``issues``, ``opened``); a bare event name is accepted too."""
    name = event_type.removeprefix(TYPE_PREFIX)
    event, _, action = name.partition(".")
    return event, action


def route(
    event_type: str, payload: Any, delivery_id: str, policy: Policy, *, received_at: datetime | None = None
) -> RouteResult:
    """Decide what one delivery means. Pure; never raises; ignored deliveries say why.

    ``event_type`` is the raw CloudEvent type (``com.github.<event>.<action>``) or the bare
    GitHub event name; the action is read from the payload. ``received_at`` (timezone-aware)
    stands in for ``issued_at`` when the payload carries no timestamp.
    """
    if not isinstance(event_type, str) or not isinstance(delivery_id, str):
        return _ignore("event type or delivery id is not text", "malformed")
    event, type_action = split_type(event_type)
    if not isinstance(payload, dict):
        return _ignore(f"{event or event_type!r}: payload is not a JSON object", "malformed")
    action = payload.get("action") if isinstance(payload.get("action"), str) else ""
    if type_action and action and type_action != action:
        return _ignore(f"{event}: type says {type_action!r} but the payload's action is {action!r}", "malformed")
    action = action or type_action
    rule = RULES.get((event, action))
    if rule is None:
        if event == "issue_comment" and action in ("edited", "deleted"):
            return _ignore(
                f"issue_comment.{action}: edited and deleted comments never trigger anything", "edited-or-deleted"
            )
        return _ignore(f"{event}.{action}: no routing rule" if action else f"{event}: no routing rule", "no-rule")
    if received_at is not None and received_at.tzinfo is None:
        received_at = None
    name = text(obj(payload, "repository"), "full_name")
    repository = name if repository_problem(name) is None else ""
    return rule(_Delivery(event, action, payload, delivery_id, policy, received_at, repository))
