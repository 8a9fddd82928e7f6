"""The progress checklist's tracker: what Codex reports moves the plan's items (issue 18).

Each row feeds one run's reports in order and names the checklist it must end with; negative
rows show what must not move an item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from codex_pipeline.steps.tracker import Tracker, words

PLAN = ["Add `greet()` to app.py", "Cover greet with a unit test in test_app.py", "Document greet in README.md"]
PYTEST = "bash -lc 'python -m pytest -q'"


@dataclass
class Row:
    name: str
    reports: list[tuple[str, dict[str, Any]]]
    done: set[int]
    active: int | None
    milestones: list[bool] | None = None


ROWS = [
    Row("nothing reported yet: nothing started", [], set(), None),
    Row("an edit of a file an item names makes it current", [("file", {"files": ["app.py"]})], set(), 0, [True]),
    Row(
        "moving on to a later item checks off the one before",
        [("file", {"files": ["app.py"]}), ("file", {"files": ["app.py", "test_app.py"]})],
        {0},
        1,
        [True, True],
    ),
    Row(
        "a to-do entry checked off checks off the item it matches by words",
        [("todo", {"todo": [("Write greet in app.py", True), ("Unit test for greet", False)]})],
        {0},
        1,
        [True],
    ),
    Row(
        "a to-do list mirroring the plan in other words is taken in order",
        [("todo", {"todo": [("Scaffold", True), ("Verify", False), ("Explain", False)]})],
        {0},
        1,
        [True],
    ),
    Row(
        "a to-do list that matches nothing and differs in length moves nothing",
        [("todo", {"todo": [("Read the plan", True), ("Edit the code", False)]})],
        set(),
        None,
        [False],
    ),
    Row("an unrelated file moves nothing", [("file", {"files": ["setup.cfg"]})], set(), None, [False]),
    Row("a command naming no item is no milestone", [("command", {"commands": [("ls -la", 0)]})], set(), None, [False]),
    Row(
        "going back to an earlier item never unchecks a later one",
        [("file", {"files": ["test_app.py"]}), ("file", {"files": ["test_app.py", "app.py"]})],
        set(),
        0,
        [True, True],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_reports_move_the_checklist(row: Row) -> None:
    tracker = Tracker(list(PLAN))
    seen = [tracker.update(kind, **values) for kind, values in row.reports]
    assert (tracker.done, tracker.active) == (row.done, row.active)
    if row.milestones is not None:
        assert seen == row.milestones


def test_a_failing_test_run_is_a_blocker_until_a_later_run_passes() -> None:
    tracker = Tracker(list(PLAN))
    assert tracker.update("command", commands=[(PYTEST, 1)])  # a test result is a milestone
    assert tracker.blockers() == [f"the last test run failed: `{PYTEST}` (exit 1)"]
    status = tracker.status()
    assert f"**Tests run:** `{PYTEST}` failed (exit 1)" in status
    assert tracker.update("command", commands=[(PYTEST, 1), (PYTEST, 0)])
    assert tracker.blockers() == []
    assert f"**Tests run:** `{PYTEST}` failed (exit 1); `{PYTEST}` passed" in tracker.status()


def test_status_names_the_current_item_the_next_one_and_the_end() -> None:
    tracker = Tracker(list(PLAN))
    assert tracker.status()[:4] == [
        "**Current:** reading the repository and the plan",
        "**Tests run:** none reported by Codex",
        "**Blockers:** none",
        "**Next:** 1. Add `greet()` to app.py",
    ]
    tracker.update("file", files=["app.py"])
    assert tracker.status()[0] == "**Current:** 1. Add `greet()` to app.py"
    assert tracker.status()[3] == "**Next:** 2. Cover greet with a unit test in test_app.py"
    tracker.update("todo", todo=[("Write greet", True), ("Test greet", True), ("Document greet", True)])
    assert tracker.done == {0, 1, 2}
    assert tracker.status()[0] == "**Current:** every item is done; Codex is wrapping up"
    assert tracker.status()[3] == "**Next:** push the branch and open the draft pull request"


def test_words_keep_file_names_and_drop_filler() -> None:
    assert words("Add `greet()` to app.py") == {"greet", "app"}
    assert words("/workspace/lab/src/exporter/retry.py") >= {"retry", "exporter"}
    assert words("Run the tests") == set()
