"""The trust policy: who may trigger what, and the reason given either way."""

from __future__ import annotations

import pytest

from codex_pipeline.core.names import PLAN_MARKER
from codex_pipeline.core.policy import Decision, Policy
from codex_pipeline.shell.config import load_settings

POLICY = Policy(
    trigger_logins=frozenset({"Gregkonush", "alice"}),
    trigger_label="codex",
    planner_login="Codex-Planner",
    bot_mention="@tuslagch",
)


@pytest.mark.parametrize(
    ("sender", "allowed", "reason"),
    [
        ("gregkonush", True, "is in CODEX_TRIGGER_LOGINS"),
        ("GREGKONUSH", True, "is in CODEX_TRIGGER_LOGINS"),
        ("mallory", False, "mallory is not in CODEX_TRIGGER_LOGINS"),
        ("", False, "no sender login"),
        (None, False, "no sender login"),
        (17, False, "no sender login"),
        ("codex-planner", False, "pipeline's own login"),
        ("tuslagch", False, "pipeline's own login"),
    ],
)
def test_may_open_planning(sender: object, allowed: bool, reason: str) -> None:
    decision = POLICY.may_open_planning(sender)
    assert bool(decision) is allowed
    assert reason in decision.reason


def test_empty_allow_list_means_nobody_and_says_so() -> None:
    decision = Policy().may_open_planning("gregkonush")
    assert decision == Decision(False, "planning: CODEX_TRIGGER_LOGINS is empty, so nobody may trigger runs")


@pytest.mark.parametrize(
    ("policy", "label", "sender", "allowed", "reason"),
    [
        (POLICY, "codex", "alice", True, "alice is in"),
        (POLICY, "Codex", "alice", True, "alice is in"),
        (POLICY, "bug", "alice", False, "is not the trigger label"),
        (POLICY, "codex", "mallory", False, "mallory is not in"),
        (POLICY, None, "alice", False, "is not the trigger label"),
        (Policy(trigger_logins=frozenset({"alice"})), "codex", "alice", False, "CODEX_TRIGGER_LABEL is unset"),
    ],
)
def test_may_label_planning(policy: Policy, label: object, sender: str, allowed: bool, reason: str) -> None:
    decision = policy.may_label_planning(label, sender)
    assert bool(decision) is allowed
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("author", "body", "allowed", "reason"),
    [
        ("codex-planner", f"{PLAN_MARKER}\n## Objective", True, "from the planner"),
        ("CODEX-PLANNER", f"intro\n{PLAN_MARKER}", True, "from the planner"),
        ("alice", f"{PLAN_MARKER}\n## Objective", False, "alice, who is not the planner"),
        ("mallory", PLAN_MARKER, False, "not the planner"),
        ("codex-planner", "## Objective without marker", False, "no plan marker"),
        ("codex-planner", None, False, "no plan marker"),
    ],
)
def test_is_planner_plan(author: str, body: object, allowed: bool, reason: str) -> None:
    decision = POLICY.is_planner_plan(author, body)
    assert bool(decision) is allowed
    assert reason in decision.reason


def test_without_planner_login_no_marker_is_trusted() -> None:
    decision = Policy(trigger_logins=frozenset({"alice"})).is_planner_plan("alice", PLAN_MARKER)
    assert not decision
    assert "CODEX_PLANNER_LOGIN is unset" in decision.reason


@pytest.mark.parametrize(
    ("association", "login", "allowed"),
    [
        ("OWNER", "a", True),
        ("MEMBER", "a", True),
        ("COLLABORATOR", "a", True),
        ("member", "a", True),
        ("CONTRIBUTOR", "a", False),
        ("FIRST_TIME_CONTRIBUTOR", "a", False),
        ("NONE", "a", False),
        ("MANNEQUIN", "a", False),
        (None, "a", False),
        ("OWNER", "tuslagch", False),
    ],
)
def test_may_request_review(association: object, login: str, allowed: bool) -> None:
    assert bool(POLICY.may_request_review(association, login)) is allowed


def test_execute_plan_needs_the_allow_list() -> None:
    assert POLICY.may_execute_plan("alice")
    assert not POLICY.may_execute_plan("mallory")


def test_built_from_settings() -> None:
    settings = load_settings(
        {
            "CODEX_TRIGGER_LOGINS": "Alice, bob",
            "CODEX_TRIGGER_LABEL": "codex",
            "CODEX_PLANNER_LOGIN": "Planner",
            "CODEX_BOT_MENTION": "reviewbot",
        }
    )
    policy = Policy.from_settings(settings)
    assert policy.trigger_logins == {"alice", "bob"}
    assert policy.planner_login == "planner"
    assert policy.bot_mention == "@reviewbot"
    assert policy.bot_login == "reviewbot"
    assert policy.is_own_login("Planner") and policy.is_own_login("REVIEWBOT") and not policy.is_own_login("bob")


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("\u212aelly", "is not a GitHub login"),  # KELVIN SIGN: Unicode lower-cases it to 'k'
        ("alice ", "is not a GitHub login"),  # trailing space
        (" alice", "is not a GitHub login"),
        ("\uff41lice", "is not a GitHub login"),  # full-width a
        ("alice\n", "is not a GitHub login"),
        ("al\u0131ce", "is not a GitHub login"),  # dotless i
    ],
)
def test_look_alike_logins_are_refused_with_a_reason(sender: str, reason: str) -> None:
    policy = Policy(trigger_logins=frozenset({"kelly", "alice"}), planner_login="codex-planner")
    decision = policy.may_open_planning(sender)
    assert not decision and reason in decision.reason
    assert not policy.may_execute_plan(sender)
    assert not policy.is_planner_plan("codex-planner ", PLAN_MARKER)
    assert not policy.is_planner_plan("codex-p\u0142anner", PLAN_MARKER)


def test_logins_compare_ascii_case_insensitively_including_app_bots() -> None:
    policy = Policy(trigger_logins=frozenset({"Kelly"}), planner_login="Codex-Planner[bot]")
    assert policy.may_open_planning("KELLY")
    assert policy.is_planner_plan("codex-planner[bot]", PLAN_MARKER)


@pytest.mark.parametrize("value", ["\u212aelly", "al ice", "-", "a" * 40])
def test_configured_logins_must_be_github_logins(value: str) -> None:
    from codex_pipeline.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CODEX_TRIGGER_LOGINS"):
        load_settings({"CODEX_TRIGGER_LOGINS": f"alice,{value}x" if value == "-" else f"alice,{value}"})
    with pytest.raises(ConfigurationError, match="CODEX_PLANNER_LOGIN"):
        load_settings({"CODEX_PLANNER_LOGIN": value + ("x" if value == "-" else "")})


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("acme/widgets", True),
        ("acme/widgets.js", True),
        ("Acme-Org/.github", True),
        ("acme/widgets\n", False),
        ("../..", False),
        ("acme/..", False),
        ("acme/.", False),
        ("acme/widgets/extra", False),
        ("acme", False),
        ("/widgets", False),
        ("acme/wid gets", False),
        ("acme/widgets%2F..", False),
        ("\u212acme/widgets", False),
        ("", False),
    ],
)
def test_repository_names_are_validated_with_a_full_match(name: str, valid: bool) -> None:
    from codex_pipeline.core.policy import repository_problem

    problem = repository_problem(name)
    assert (problem is None) is valid, problem
    if not valid:
        assert problem is not None
        assert "is not a GitHub repository" in problem or problem == "no repository"
