"""The one trust policy: who may trigger what.

Every function asks this module and none re-implements it, so that a rule changes in one
place. Each answer is a :class:`Decision` that is truthy when allowed and always carries a
reason, because an ignored delivery must say in the log why it was ignored.

Rules (from the settings ``CODEX_TRIGGER_LOGINS``, ``CODEX_TRIGGER_LABEL``,
``CODEX_PLANNER_LOGIN``, ``CODEX_BOT_MENTION``):

- planning and ``execute plan`` need a login in the trigger allow-list (empty = nobody);
- only a comment by the planner's own login that carries the plan marker is a plan: a marker
  from anyone else must never promote an issue (it would let anyone start an implementation);
  with ``CODEX_REQUIRE_APPROVAL`` even the planner's plan waits for an allowed ``execute plan``;
- a review request needs author_association OWNER, MEMBER or COLLABORATOR;
- comments by the pipeline's own logins (planner, mentioned bot) never trigger anything
  except the planner's plan, so the bot cannot loop on itself;
- a Discord ``/plan`` request needs the interaction's user id in ``CODEX_DISCORD_ALLOWED_USERS``
  or one of the member's role ids in ``CODEX_DISCORD_ALLOWED_ROLES`` (both empty = nobody). Ids
  are Discord snowflakes, never names: names can be changed by their owner.

Logins compare exactly as GitHub defines them: ASCII letters, digits and hyphens (a GitHub App's
bot login ends in ``[bot]``), case-insensitive in ASCII only. Anything else (U+212A KELVIN SIGN
for ``k``, full-width letters, surrounding spaces) is not a login and is refused with a reason,
never folded into one: Unicode case folding would turn ``\u212aelly`` into ``kelly``.
Repository names are checked with a full match of ``owner/name`` (no trailing newline, no ``..``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from codex_pipeline.core.names import (
    DEFAULT_BOT_MENTION,
    DEFAULT_BRANCH_PREFIX,
    DEFAULT_IMPLEMENTATION_TRIGGER,
    holds_plan_marker,
)

if TYPE_CHECKING:
    from codex_pipeline.shell.config import Settings

TRUSTED_ASSOCIATIONS: frozenset[str] = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


class _Comment(Protocol):
    @property
    def author(self) -> str: ...

    @property
    def body(self) -> str: ...


C = TypeVar("C", bound=_Comment)


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and why (the why goes to the decision log)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")
_REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def login_problem(value: object) -> str | None:
    """Why ``value`` is not a GitHub login (None when it is one)."""
    if not isinstance(value, str) or not value:
        return "no login"
    if not _LOGIN.fullmatch(value):
        return f"{value[:60]!r} is not a GitHub login (ASCII letters, digits and hyphens, compared exactly)"
    return None


def _login(value: object) -> str:
    """The comparison key of a GitHub login: ASCII lower case; '' for anything that is not a login."""
    return value.lower() if isinstance(value, str) and _LOGIN.fullmatch(value) else ""


def repository_problem(value: object) -> str | None:
    """Why ``value`` is not a GitHub ``owner/name`` (None when it is one)."""
    if not isinstance(value, str) or not value:
        return "no repository"
    owner, slash, name = value.partition("/")
    if not slash or not _OWNER.fullmatch(owner) or not _REPOSITORY_NAME.fullmatch(name) or name in (".", ".."):
        return f"{value[:120]!r} is not a GitHub repository (owner/name)"
    return None


def _snowflake(value: object) -> str:
    """A Discord id as text ('' for anything that is not one)."""
    text = value.strip() if isinstance(value, str) else ""
    return text if text.isdigit() and text.isascii() else ""


@dataclass(frozen=True)
class Policy:
    """The routing configuration as trust rules; build it once per process."""

    trigger_logins: frozenset[str] = frozenset()
    trigger_label: str | None = None
    planner_login: str | None = None
    bot_mention: str = DEFAULT_BOT_MENTION
    discord_users: frozenset[str] = frozenset()
    discord_roles: frozenset[str] = frozenset()
    implementation_trigger: str = DEFAULT_IMPLEMENTATION_TRIGGER
    branch_prefix: str = DEFAULT_BRANCH_PREFIX
    require_approval: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger_logins", frozenset(_login(x) for x in self.trigger_logins if _login(x)))
        object.__setattr__(self, "planner_login", _login(self.planner_login) or None)
        mention = (self.bot_mention or "").strip()
        if mention and not mention.startswith("@"):
            mention = "@" + mention
        object.__setattr__(self, "bot_mention", mention)
        trigger = " ".join(self.implementation_trigger.split()).lower()
        object.__setattr__(self, "implementation_trigger", trigger or DEFAULT_IMPLEMENTATION_TRIGGER)
        for name in ("discord_users", "discord_roles"):
            object.__setattr__(self, name, frozenset(_snowflake(x) for x in getattr(self, name) if _snowflake(x)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            trigger_logins=settings.trigger_logins,
            trigger_label=settings.trigger_label,
            planner_login=settings.planner_login,
            bot_mention=settings.bot_mention,
            discord_users=settings.discord_allowed_users,
            discord_roles=settings.discord_allowed_roles,
            implementation_trigger=settings.implementation_trigger,
            branch_prefix=settings.branch_prefix,
            require_approval=settings.require_approval,
        )

    @property
    def bot_login(self) -> str | None:
        """The login behind ``CODEX_BOT_MENTION`` (``@tuslagch`` -> ``tuslagch``)."""
        return _login(self.bot_mention.lstrip("@")) or None

    def is_own_login(self, login: object) -> bool:
        """A login the pipeline itself writes as (planner or mentioned bot)."""
        name = _login(login)
        return bool(name) and name in (self.planner_login, self.bot_login)

    def _trigger(self, login: object, what: str) -> Decision:
        name = _login(login)
        if not name:
            problem = login_problem(login)
            if problem == "no login":
                return Decision(False, f"{what}: no sender login in the payload")
            return Decision(False, f"{what}: sender {problem}")
        if not self.trigger_logins:
            return Decision(False, f"{what}: CODEX_TRIGGER_LOGINS is empty, so nobody may trigger runs")
        if name in (self.planner_login, self.bot_login):
            return Decision(False, f"{what}: {name} is the pipeline's own login and never triggers runs")
        if name not in self.trigger_logins:
            return Decision(False, f"{what}: {name} is not in CODEX_TRIGGER_LOGINS")
        return Decision(True, f"{what}: {name} is in CODEX_TRIGGER_LOGINS")

    def may_open_planning(self, sender: object) -> Decision:
        """``issues.opened`` by ``sender`` starts planning."""
        return self._trigger(sender, "planning")

    def may_label_planning(self, label: object, sender: object) -> Decision:
        """``issues.labeled`` with ``label`` by ``sender`` starts planning."""
        if not self.trigger_label:
            return Decision(False, "labeled: CODEX_TRIGGER_LABEL is unset, so labels never start planning")
        name = label.strip() if isinstance(label, str) else ""
        if name.casefold() != self.trigger_label.strip().casefold():
            return Decision(False, f"labeled: label {name!r} is not the trigger label {self.trigger_label!r}")
        return self._trigger(sender, "labeled")

    def may_execute_plan(self, login: object) -> Decision:
        """An ``execute plan`` comment (``CODEX_IMPLEMENTATION_TRIGGER``) by ``login`` promotes the issue."""
        return self._trigger(login, "execute plan")

    def is_planner_plan(self, author: object, body: object) -> Decision:
        """Whether a comment is the planner's plan: marker present AND author is the planner."""
        if not isinstance(body, str) or not holds_plan_marker(body):
            return Decision(False, "plan: the comment carries no plan marker")
        name = _login(author)
        if not name:
            return Decision(False, f"plan: marker from {login_problem(author)}, so not the planner")
        if not self.planner_login:
            return Decision(
                False,
                f"plan: marker from {name or 'unknown'} but CODEX_PLANNER_LOGIN is unset, "
                "so no comment is trusted as a plan",
            )
        if name != self.planner_login:
            return Decision(
                False,
                f"plan: marker from {name or 'unknown'}, who is not the planner "
                f"({self.planner_login}); only the planner's plan promotes an issue",
            )
        return Decision(True, f"plan: marker from the planner {name}")

    def latest_plan(self, comments: Sequence[C]) -> C | None:
        """The newest comment (of comments in posting order) that :meth:`is_planner_plan` accepts."""
        for comment in reversed(comments):
            if self.is_planner_plan(comment.author, comment.body):
                return comment
        return None

    def may_request_review(self, association: object, login: object = None) -> Decision:
        """``@bot review`` on a PR by a commenter with this author_association."""
        if self.is_own_login(login):
            return Decision(False, f"review: {_login(login)} is the pipeline's own login")
        value = association.strip().upper() if isinstance(association, str) else ""
        if value not in TRUSTED_ASSOCIATIONS:
            return Decision(
                False, f"review: author_association {value or 'missing'} is not OWNER, MEMBER or COLLABORATOR"
            )
        return Decision(True, f"review: author_association {value}")

    def may_command(self, association: object, login: object) -> Decision:
        """A mention of the bot by ``login`` may be answered (a reply, or a run command)."""
        name = _login(login)
        if self.is_own_login(name):
            return Decision(False, f"command: {name} is the pipeline's own login")
        value = association.strip().upper() if isinstance(association, str) else ""
        if value in TRUSTED_ASSOCIATIONS:
            return Decision(True, f"command: author_association {value}")
        if name and name in self.trigger_logins:
            return Decision(True, f"command: {name} is in CODEX_TRIGGER_LOGINS")
        return Decision(
            False, f"command: {name or 'unknown'} is neither OWNER, MEMBER or COLLABORATOR nor in CODEX_TRIGGER_LOGINS"
        )

    def may_request_discord_plan(self, user_id: object, role_ids: object = ()) -> Decision:
        """A Discord ``/plan`` (command or modal submission) by ``user_id`` with these member roles."""
        user = _snowflake(user_id)
        if not user:
            return Decision(False, "discord plan: the interaction names no user id")
        if not self.discord_users and not self.discord_roles:
            return Decision(
                False,
                "discord plan: CODEX_DISCORD_ALLOWED_USERS and CODEX_DISCORD_ALLOWED_ROLES "
                "are empty, so nobody may request plans",
            )
        if user in self.discord_users:
            return Decision(True, f"discord plan: user {user} is in CODEX_DISCORD_ALLOWED_USERS")
        roles = [_snowflake(r) for r in role_ids] if isinstance(role_ids, list | tuple | frozenset | set) else []
        matched = sorted(r for r in roles if r and r in self.discord_roles)
        if matched:
            return Decision(True, f"discord plan: user {user} has role {matched[0]} in CODEX_DISCORD_ALLOWED_ROLES")
        return Decision(
            False,
            f"discord plan: user {user} is not in CODEX_DISCORD_ALLOWED_USERS and has no role "
            "in CODEX_DISCORD_ALLOWED_ROLES",
        )
