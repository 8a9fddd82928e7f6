"""Mentions of the bot in a comment, and the ``codex.command`` request route-task emits for them.

Parsing (pure): a command is the bot's mention followed by a command word, anywhere in a line a
human wrote as prose (``Please @tuslagch review this change.``); never inside fenced or indented
code, inline code spans, quotes or HTML comments (:func:`codex_pipeline.core.routing.command_lines`
gives the prose lines).

Wire shape: a CloudEvent of type :data:`COMMAND_TYPE` with JSON data (:class:`CommandRequest`).
It is not a ``CodexTask``: it starts no Workflow and carries no prompt; it asks an effect
function (request-review, which holds the GitHub client and the store) to answer a comment,
exactly once per delivery. route-task stays pure and only emits it, on ``CODEX_TASKS_SINK``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codex_pipeline.errors import BadRequest
from codex_pipeline.wire.http import json_object

COMMAND_TYPE = "codex.command"
REPLY = "reply"  # post ``reply`` (a mention the bot did not understand, or a refused command)
CANCEL = "cancel"  # stop the active runs of the issue (👀 on the comment), or reply that none runs
RETRY = "retry"  # re-run the last failed or cancelled stage (👀), or reply why there is none
ACK = "ack"  # a command accepted as a task (review, execute plan, replan): 👀 on the comment
KINDS = frozenset({REPLY, CANCEL, RETRY, ACK})
# Command words after the mention, longest first so "execute plan" wins over a shorter word.
WORDS = ("execute plan", "review", "replan", "cancel", "retry")
_INLINE_CODE = re.compile(r"(`+).+?\1")
_CLAUSE_END = re.compile(r"[.!?;]\s|[.!?;]$")


@dataclass(frozen=True, slots=True)
class Mention:
    """One mention of the bot: the command word ('' when not understood) and what follows it."""

    command: str
    rest: str


def _mention_pattern(mention: str) -> re.Pattern[str]:
    # Not part of a longer login or an e-mail address (a@tuslagch.dev), not a path or URL piece.
    return re.compile(r"(?<![\w@./-])" + re.escape(mention.lower()) + r"(?![\w-])")


def mentions(lines: Iterable[str], mention: str) -> list[Mention]:
    """Every mention of ``mention`` in lower-cased prose ``lines``, in order."""
    if not mention:
        return []
    pattern = _mention_pattern(mention)
    found = []
    for line in lines:
        prose = _INLINE_CODE.sub(" ", line)
        for match in pattern.finditer(prose):
            after = prose[match.end() :].lstrip(" ,:")
            clause = _CLAUSE_END.split(after, maxsplit=1)[0].strip()
            command = next((word for word in WORDS if clause == word or clause.startswith(word + " ")), "")
            found.append(Mention(command, clause[len(command) :].strip() if command else clause))
    return found


def help_text(mention: str, trigger: str) -> str:
    """The one short reply to a mention the bot does not understand (it never echoes the comment)."""
    return (
        f"I did not understand that. What I answer to:\n\n"
        f"- `{mention} review` on a pull request: a Codex pass over its review threads, failing checks "
        "and conflicts;\n"
        f"- `{trigger}` (or `{mention} {trigger}`) on an issue: implement its latest plan;\n"
        f"- `{mention} replan` on an issue: plan it again (planning runs once per issue otherwise);\n"
        f"- `{mention} cancel` on an issue or pull request: stop its running Codex runs;\n"
        f"- `{mention} retry` on an issue or pull request: run its last failed or cancelled stage again.\n\n"
        "Commands count only outside code, quotes and HTML comments, and only from allowed authors."
    )


@dataclass(frozen=True)
class CommandRequest:
    """What the effect function needs to act on a comment once: where, which, and the reply text."""

    kind: str
    repository: str
    number: int
    delivery_id: str
    comment_id: int
    author: str
    reply: str
    reason: str
    pull_request: bool = False  # ``number`` is a PR: the issue is the one its branch names

    NOTHING_TO_CANCEL = "Nothing to cancel: no Codex run of this issue is active."

    @property
    def once_key(self) -> str:
        """One answer per delivery and kind (the store's claim key)."""
        return f"command:{self.kind}:{self.delivery_id}"

    @property
    def event_id(self) -> str:
        return f"{self.delivery_id}:command"

    @property
    def partition_key(self) -> str:
        return f"{self.repository}#{self.number}"

    def to_json(self) -> bytes:
        data = {
            "kind": self.kind,
            "repository": self.repository,
            "number": self.number,
            "deliveryId": self.delivery_id,
            "commentId": self.comment_id,
            "author": self.author,
            "reply": self.reply,
            "reason": self.reason,
            "pullRequest": self.pull_request,
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CommandRequest:
        data: dict[str, Any] = json_object(raw, "command request")
        kind, repository, delivery = data.get("kind"), data.get("repository"), data.get("deliveryId")
        number, comment = data.get("number"), data.get("commentId", 0)
        if kind not in KINDS:
            raise BadRequest(f"command kind must be one of {', '.join(sorted(KINDS))}, got {kind!r}")
        if not isinstance(repository, str) or repository.count("/") != 1:
            raise BadRequest("command request needs repository as owner/name")
        if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
            raise BadRequest("command request needs a positive issue or pull request number")
        if not isinstance(delivery, str) or not delivery:
            raise BadRequest("command request needs deliveryId")
        if not isinstance(comment, int) or isinstance(comment, bool) or comment < 0:
            raise BadRequest("command request commentId must be a number")
        texts = {key: data.get(key, "") for key in ("author", "reply", "reason")}
        if not all(isinstance(value, str) for value in texts.values()):
            raise BadRequest("command request author, reply and reason must be text")
        pull_request = data.get("pullRequest", False)
        if not isinstance(pull_request, bool):
            raise BadRequest("command request pullRequest must be true or false")
        return cls(
            kind, repository, number, delivery, comment, texts["author"], texts["reply"], texts["reason"], pull_request
        )
