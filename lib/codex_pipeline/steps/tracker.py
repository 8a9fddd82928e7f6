"""Where Codex is in the plan: the checklist of the progress comment, advanced while Codex works.

Codex reports three things as it works (``codex exec --json``): its own to-do list, the files it
edits and the commands it runs. None of them names the plan's items, so each is matched against
the item texts by their words (file names included: an edit to ``app.py`` belongs to "Add
``greet()`` to app.py"):

- a to-do entry that Codex checks off checks off the plan item it matches; when Codex's list has
  as many entries as the plan and matches none by words, entries are taken in order;
- an edit or a command that matches an item makes it the current one; moving on to a later item
  checks off the one before (Codex left it);
- test commands (pytest, ``npm test``, ``make test``, …) and their exit codes are the tests run;
  a failing last run is a blocker until a later run passes.

:meth:`Tracker.update` says whether a change is a milestone (an item checked off or started, a
test result, a blocker): the step edits the comment at once for those and at most every 30 s for
the rest. Pure: no I/O, table-tested in ``tests/test_progress_tracker.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from codex_pipeline.core.untrusted import clean
from codex_pipeline.effects.checks import is_test_command, tests_line

_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    (
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "into",
        "onto",
        "then",
        "when",
        "what",
        "which",
        "will",
        "its",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "all",
        "any",
        "each",
        "per",
        "via",
        "use",
        "using",
        "add",
        "adds",
        "added",
        "make",
        "makes",
        "run",
        "runs",
        "new",
        "file",
        "files",
        "code",
        "step",
        "steps",
        "test",
        "tests",
    )
)
MATCH = 0.5  # share of the shorter text's words two texts must have in common to match


def words(text: str) -> set[str]:
    """Significant words of ``text``; a path's parts count, with and without their suffix."""
    found: set[str] = set()
    for token in _WORD.findall(text.lower()):
        if len(token) >= 3 and token not in _STOP:
            found.add(token)
    for path in re.findall(r"[\w./-]+\.\w+", text.lower()):
        stem = PurePosixPath(path).stem
        if len(stem) >= 3:
            found.add(stem)
    return found


def overlap(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _short(text: str, limit: int = 120) -> str:
    return " ".join(clean(text).split())[:limit]


@dataclass
class Tracker:
    """The checklist state and the status block; fed what Codex reports, in order."""

    items: list[str]
    done: set[int] = field(default_factory=set)
    active: int | None = None
    tests: list[tuple[str, int | None]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    todo: list[tuple[str, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    after_last: str = "push the branch and open the draft pull request"
    _item_words: list[set[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._item_words = [words(item) for item in self.items]

    def best_item(self, text: str, taken: frozenset[int] = frozenset()) -> int | None:
        """The plan item ``text`` matches best (ties: the first not yet done), or None; items in
        ``taken`` (matched by an earlier entry of the same to-do list) are left to that entry."""
        found = words(text)
        scored = [(overlap(found, item), -index) for index, item in enumerate(self._item_words) if index not in taken]
        best = max(scored, default=(0.0, 0))
        if best[0] < MATCH:
            return None
        candidates = [-neg for score, neg in scored if score == best[0]]
        return next((i for i in candidates if i not in self.done), candidates[0])

    def _start(self, index: int) -> None:
        if self.active is not None and index > self.active:
            self.done.add(self.active)  # Codex moved on to a later item
        if index not in self.done:
            self.active = index

    def _todo(self, todo: Sequence[tuple[str, bool]]) -> None:
        matched: list[int | None] = []
        for text, _ in todo:
            matched.append(self.best_item(text, frozenset(m for m in matched if m is not None)))
        if all(m is None for m in matched) and len(todo) == len(self.items):
            matched = list(range(len(todo)))  # Codex's list mirrors the plan in other words
        for (_, finished), index in zip(todo, matched, strict=True):
            if index is not None and finished:
                self.done.add(index)
        pending = [
            index
            for (_, finished), index in zip(todo, matched, strict=True)
            if index is not None and not finished and index not in self.done
        ]
        if self.active in self.done or self.active is None:
            self.active = pending[0] if pending else None

    def update(
        self,
        kind: str,
        *,
        todo: Sequence[tuple[str, bool]] = (),
        files: Sequence[str] = (),
        commands: Sequence[tuple[str, int | None]] = (),
    ) -> bool:
        """Take what Codex reported so far (``kind``: todo, file or command); True at a milestone."""
        before = (frozenset(self.done), self.active, len(self.tests), tuple(self.blockers()))
        if kind == "todo":
            self.todo = [(text, finished) for text, finished in todo]
            self._todo(self.todo)
        elif kind == "file":
            new = [path for path in files if path not in self.changed]
            self.changed += new
            for path in new:
                index = self.best_item(path)
                if index is not None:
                    self._start(index)
        elif kind == "command" and commands:
            command, code = commands[-1]
            if is_test_command(command):
                self.tests.append((command, code))
            index = self.best_item(command)
            if index is not None:
                self._start(index)
        after = (frozenset(self.done), self.active, len(self.tests), tuple(self.blockers()))
        return after != before

    def blockers(self) -> list[str]:
        found = [f"Codex: {_short(error)}" for error in self.errors[-2:]]
        if self.tests and self.tests[-1][1] not in (0, None):
            command, code = self.tests[-1]
            found.append(f"the last test run failed: `{_short(command, 80)}` (exit {code})")
        return found

    def next_action(self) -> str:
        start = self.active + 1 if self.active is not None else 0
        upcoming = [i for i in range(start, len(self.items)) if i not in self.done]
        return f"{upcoming[0] + 1}. {_short(self.items[upcoming[0]])}" if upcoming else self.after_last

    def status(self) -> list[str]:
        """The status block: current item, tests run and their result, blockers, next action."""
        if self.active is not None:
            current = f"{self.active + 1}. {_short(self.items[self.active])}"
        elif self.items and len(self.done) == len(self.items):
            current = "every item is done; Codex is wrapping up"
        else:
            current = "reading the repository and the plan" if not self.done else "between items"
        lines = [
            f"**Current:** {current}",
            f"**Tests run:** {tests_line(self.tests)}",
            f"**Blockers:** {'; '.join(self.blockers()) or 'none'}",
            f"**Next:** {self.next_action()}",
        ]
        if self.todo:
            finished = sum(1 for _, done in self.todo if done)
            lines.append(
                f"Codex's own to-do list: {finished} of {len(self.todo)} done"
                + (f"; now: {_short(next(t for t, d in self.todo if not d), 80)}" if finished < len(self.todo) else "")
            )
        if self.changed:
            lines.append(f"Files changed so far: {len(self.changed)}")
        return lines
