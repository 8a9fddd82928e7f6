"""The live view of ``codex-pipeline dev``: one readable line per step of each delivery, and a
summary at the end. Lines are keyed by the GitHub delivery id (task ids are ``<delivery>:<stage>``),
so the path of one webhook reads top to bottom: received -> routed -> submitted / ignored /
dead-lettered."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import TextIO


def delivery_of(event_id: str) -> str:
    return event_id.split(":", 1)[0]


class View:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.counts: Counter[str] = Counter()
        self.workflows: list[tuple[str, bool]] = []  # (namespace/name, duplicate) as reported
        self.runs: list[tuple[str, str, float]] = []  # (workflow, phase, seconds) of local runs
        self._lock = threading.Lock()

    def line(self, step: str, event_id: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.counts[step] += 1
            # The whole delivery id: it is what `replay --delivery` takes to redeliver it.
            self.out.write(f"{stamp} {delivery_of(event_id):<36} {step:<12} {text}\n")
            self.out.flush()

    def note(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def submitted(self, event_id: str, function: str, workflow: str, duplicate: bool) -> None:
        with self._lock:
            self.workflows.append((workflow, duplicate))
        self.line(
            "duplicate" if duplicate else "submitted",
            event_id,
            f"{function} -> Workflow {workflow}" + (" (already submitted: not created again)" if duplicate else ""),
        )

    def run_finished(self, event_id: str, workflow: str, phase: str, seconds: float, message: str = "") -> None:
        with self._lock:
            self.runs.append((workflow, phase, seconds))
        step = "run-ok" if phase == "Succeeded" else "run-failed"
        self.line(step, event_id, f"{workflow} {phase} after {seconds:.1f}s" + (f": {message}" if message else ""))

    def summary(self, pending: int, metrics: list[str] | None = None) -> str:
        """The counts of this run; ``metrics``: the lines of :mod:`codex_pipeline.dev.metricsview`."""
        c = self.counts
        created: dict[str, int] = {}  # workflow -> duplicate deliveries that named it again
        for name, duplicate in self.workflows:
            created.setdefault(name, 0)
            created[name] += duplicate
        first_seen = {name for name, duplicate in self.workflows if not duplicate}
        lines = [
            "",
            "codex-pipeline dev summary",
            f"  received       {c['received']} webhook delivery(ies)",
            f"  routed         {c['routed']} task(s)",
            f"  submitted      {len(first_seen)} workflow(s)"
            + (f"; {c['duplicate']} duplicate delivery(ies) created nothing new" if c["duplicate"] else ""),
            f"  handled        {c['done']} without a new Workflow (readiness checks, replies; shown above)",
            f"  ignored        {c['ignored']}",
            f"  retried        {c['retry']} time(s)",
            f"  dead-lettered  {c['dead-letter']}",
            f"  pending        {pending} (delivered when dev starts again)",
        ]
        for name, again in created.items():
            note = "" if not again else f"   (+{again} duplicate delivery(ies))"
            if name not in first_seen:
                note = "   (submitted before this run; named again by a duplicate)"
            lines.append(f"    {name}{note}")
        if self.runs:
            failed = sum(1 for _, phase, _ in self.runs if phase != "Succeeded")
            lines.append(f"  ran here       {len(self.runs)} workflow(s), {failed} not succeeded")
            lines.extend(f"    {name:<60} {phase:<10} {seconds:6.1f}s" for name, phase, seconds in self.runs)
        lines.extend(metrics or ())
        return "\n".join(lines)
