"""The metrics part of ``codex-pipeline dev``'s summary: what every function and step recorded.

Each process dev runs writes its OpenTelemetry metrics to ``<state>/metrics/`` (``CODEX_METRICS_DIR``,
:mod:`codex_pipeline.shell.metrics_file`); these lines add them up, so the summary shows the same numbers
a collector would get: deliveries by function and outcome, emit and submission times, GitHub
rate-limit waits, runs by stage and result, and Codex run times.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from codex_pipeline.shell import metrics
from codex_pipeline.shell.metrics_file import read_totals

OUTCOMES = ("accepted", "ignored", "duplicate", "4xx", "5xx")


def metric_lines(directory: Path) -> list[str]:
    totals = read_totals(directory)
    if not totals:
        return []
    by_name: dict[str, list[tuple[dict[str, Any], dict[str, float]]]] = defaultdict(list)
    for (name, attributes), value in totals.items():
        by_name[name].append((dict(attributes), value))
    lines = [f"  metrics        OpenTelemetry, from every function and step ({directory})"]
    lines += _deliveries(by_name[metrics.DELIVERIES])
    lines.append(_timed("emits", by_name[metrics.EMIT_DURATION], "ms", 1000.0))
    lines.append(_timed("submissions", by_name[metrics.SUBMISSION_DURATION], "ms", 1000.0))
    lines.append(_timed("rate limits", by_name[metrics.RATE_LIMIT_WAIT], "s", 1.0, noun="wait(s)"))
    runs = sorted(by_name[metrics.RUNS], key=lambda item: sorted(item[0].items()))
    lines.append(
        "    runs         "
        + (
            ", ".join(
                f"{a.get(metrics.ATTR_STAGE)} {a.get(metrics.ATTR_RESULT)} {int(v.get('value', 0))}" for a, v in runs
            )
            or "none ended"
        )
    )
    lines.append(_timed("codex", by_name[metrics.AGENT_DURATION], "s", 1.0, noun="run(s)", key=metrics.ATTR_RESULT))
    return lines


def _deliveries(points: list[tuple[dict[str, Any], dict[str, float]]]) -> list[str]:
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for attributes, value in points:
        outcome = str(attributes.get(metrics.ATTR_OUTCOME))
        reason = attributes.get(metrics.ATTR_REASON)
        counts[str(attributes.get(metrics.ATTR_FUNCTION))][f"{outcome} ({reason})" if reason else outcome] += value.get(
            "value", 0
        )
    lines = []
    for function in sorted(counts):
        order = {outcome: index for index, outcome in enumerate(OUTCOMES)}
        parts = sorted(counts[function].items(), key=lambda item: (order.get(item[0].split(" ")[0], 9), item[0]))
        lines.append(f"    deliveries   {function:<18} " + ", ".join(f"{label} {int(n)}" for label, n in parts))
    return lines or ["    deliveries   none answered"]


def _timed(
    label: str,
    points: list[tuple[dict[str, Any], dict[str, float]]],
    unit: str,
    scale: float,
    *,
    noun: str = "",
    key: str = metrics.ATTR_OUTCOME,
) -> str:
    count = sum(value.get("count", 0) for _, value in points)
    if not count:
        return f"    {label:<12} none"
    total = sum(value.get("sum", 0.0) for _, value in points)
    split: dict[str, float] = defaultdict(float)
    for attributes, value in points:
        if attributes.get(key):
            split[str(attributes[key])] += value.get("count", 0)
    detail = f" ({', '.join(f'{name} {int(n)}' for name, n in sorted(split.items()))})" if split else ""
    average = total / count * scale
    return f"    {label:<12} {int(count)}{' ' + noun if noun else ''}{detail}, {average:.1f} {unit} on average"
