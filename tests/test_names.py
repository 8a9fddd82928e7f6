"""One home for the names the router, the steps and request-review share (codex_pipeline.core.names)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_pipeline.core.names import check_prefix, head_branch, issue_of_branch, mention_of, slug
from codex_pipeline.core.policy import Policy
from codex_pipeline.core.routing import route
from codex_pipeline.steps.git import issue_branch
from codex_pipeline.steps.implement import branch_for
from tests.payloads import github

TITLES = [
    "Add retry to the widget exporter",
    "Café crème brûlée",  # the title the two old copies disagreed on
    "Добавить повтор экспорта",
    "Ελληνικά γράμματα",
    "עברית מימין לשמאל",
    "العربية من اليمين",
    "हिन्दी शीर्षक",
    "日本語のタイトル",
    "修复 exporter 的重试",
    "한국어 제목 fix",
    "ไทย title",
    "🚀 Ship the 🐛 fix 🔥",
    "👩\u200d💻 dev",
    "\uff26\uff35\uff2c\uff2c width \uff54itle",
    "zero\u200bwidth\u202eoverride",
    "x" * 300,
    "",
]


@pytest.mark.parametrize("title", TITLES)
@pytest.mark.parametrize("prefix", ["codex/", "bots/codex/"])
def test_router_and_step_build_the_same_branch(title: str, prefix: str) -> None:
    policy = Policy(trigger_logins=frozenset({"alice"}), branch_prefix=prefix)
    payload = github.issues_opened(7, sender="alice", title=title)
    [routed] = route("com.github.issues.opened", payload, "d", policy).tasks
    assert routed.task.head == issue_branch(7, title, prefix) == branch_for("", 7, title, prefix)
    assert branch_for(routed.task.head, 7, "another title", prefix) == routed.task.head
    assert issue_of_branch(routed.task.head, prefix) == 7


def test_the_title_both_copies_once_disagreed_on() -> None:
    assert head_branch(7, "Café crème brûlée") == "codex/issue-7-cafe-creme-brulee"


@given(st.text(max_size=400), st.integers(min_value=1, max_value=2**40))
def test_branches_are_safe_for_any_title(title: str, number: int) -> None:
    branch = head_branch(number, title)
    value = slug(title)
    assert branch == f"codex/issue-{number}-{value}"
    assert 1 <= len(value) <= 48 and value.strip("-") == value
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") and "--" not in value
    assert issue_of_branch(branch) == number


@pytest.mark.parametrize(
    ("branch", "issue"),
    [
        ("codex/issue-9-fix", 9),
        ("codex/issue-9", 9),
        ("codex/issue-9x", None),
        ("codex/hotfix", None),
        ("feature/issue-9-fix", None),
        ("codex/issue-0-x", None),
        ("codex/issue--1", None),
    ],
)
def test_issue_of_branch(branch: str, issue: int | None) -> None:
    assert issue_of_branch(branch) == issue


@pytest.mark.parametrize("prefix", ["codex/", "bots/codex/", "a.b_c-d/"])
def test_good_prefixes(prefix: str) -> None:
    assert check_prefix(f" {prefix} ") == prefix


@pytest.mark.parametrize("prefix", ["codex", "", "/", "../x/", "a..b/", ".hidden/", "x.lock/", "a b/", "a//"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="branch prefix"):
        check_prefix(prefix)


def test_mention_of() -> None:
    assert mention_of("bot") == "@bot" and mention_of(" @bot ") == "@bot" and mention_of("") == "@tuslagch"
