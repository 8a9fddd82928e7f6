"""CPU of one delivery inside ingest-webhook and route-task, piece by piece (issue 14's profile).

The profile of route-task under func-python named four costs of our own; each was replaced,
and each replacement is timed here beside what it replaced (the old way is written out below
with the library calls it made), on the bench's 12 KB ``issues.opened``:

- reading a binary-mode CloudEvent: the cloudevents SDK's ``from_http`` vs ``events._decode_binary``;
- cleaning untrusted text: one Unicode regex over the body vs the ASCII bytes path of ``untrusted.clean``;
- the fence length: a regex ``findall`` over the body vs substring tests in ``untrusted.fence_for``;
- the task's JSON: ``json_format.MessageToDict`` vs ``tasks.to_json_dict``;
- one decision log line at INFO (to a file): the logging module's defaults vs ``logs.configure``'s
  (no caller frame, thread or process lookups, none of which the JSON line shows);
- reading the delivery's JSON and writing the task's: json vs msgspec (``http.parse_json``,
  ``tasks.to_json``, both held to json's verdicts and bytes by tests);
- the plan-marker test and ``untrusted.clean``'s CR and comment tests: a substring test that steps
  through the body nearly a character at a time vs a one-character test first.

Then each function's whole decode -> decide -> encode (no network), as the library is now.
Timings are CPU (``time.process_time``), median of interleaved rounds.

    .venv/bin/python bench/delivery_cpu.py --append
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.func_runtimes import SECRET, delivery_body, prepare_delivery  # noqa: E402
from codex_pipeline.core import untrusted  # noqa: E402
from codex_pipeline.core.names import PLAN_MARKER, holds_plan_marker  # noqa: E402
from codex_pipeline.wire import events, tasks  # noqa: E402
from codex_pipeline.wire.events import Event, encode_binary  # noqa: E402
from codex_pipeline.wire.http import Headers, Request, parse_json  # noqa: E402


def cpu_us(work: Callable[[], Any], repeats: int) -> float:
    began = time.process_time()
    for _ in range(repeats):
        work()
    return (time.process_time() - began) / repeats * 1e6


def sdk_decode(request: Request) -> Any:
    from cloudevents.http import from_http

    return from_http(dict(request.headers.items()), request.body, data_unmarshaller=lambda raw: raw)


def clean_before(text: str) -> str:
    """untrusted.clean before its one-character tests (issue 14, second round)."""
    out = text.replace("\r\n", "\n").replace("\r", "\n")
    if "<!--" in out:
        out = untrusted._HTML_COMMENT.sub("", out)
    if out.isascii():
        raw = out.encode("ascii")
        kept = raw.translate(None, untrusted._ASCII_INVISIBLE)
        return out if len(kept) == len(raw) else kept.decode("ascii")
    return untrusted._INVISIBLE.sub("", out)


def regex_fence(text: str) -> str:
    longest = max((len(run) for run in untrusted._BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def message_to_dict(task: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    data: dict[str, Any] = json_format.MessageToDict(task, preserving_proto_field_name=False)
    data["stage"] = tasks.stage_name(task.stage)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    os.environ.update(
        {
            "CODEX_WEBHOOK_SECRET": SECRET,
            "K_SINK": "http://127.0.0.1:9",
            "CODEX_LOG_LEVEL": "WARNING",
            "CODEX_TASKS_SINK": "http://127.0.0.1:9",
            "CODEX_TASKS_JSON_SINK": "http://127.0.0.1:9/json",
            "CODEX_TRIGGER_LOGINS": "alice",
            "CODEX_TRIGGER_LABEL": "codex",
            "CODEX_PLANNER_LOGIN": "codex-planner",
        }
    )
    from codex_pipeline.handlers import ingest_webhook, route_task

    raw = delivery_body()
    signed = prepare_delivery(raw)
    issue = json.loads(raw)["issue"]
    body = issue["body"]
    ingest: Any = ingest_webhook.create_app().handler
    route: Any = route_task.create_app().handler

    def routed_request() -> Request:
        event = Event(
            id=str(uuid.uuid4()),
            source="https://github.com/acme/widgets",
            type=ingest_webhook.event_type("issues", "opened"),
            subject="issues/42",
            datacontenttype="application/json",
            data=raw,
            extensions={"githubevent": "issues", "partitionkey": "acme/widgets#issues/42"},
        )
        headers, data = encode_binary(event)
        return Request(method="POST", path="/", headers=Headers(headers.items()), body=data, query="")

    def ingest_request() -> Request:
        data, headers = signed(0)
        return Request(method="POST", path="/", headers=Headers(headers.items()), body=data, query="")

    request = routed_request()
    task = tasks.from_protobuf(route.decide(request).emits[0][1].data)

    def whole(handler: Any, make: Callable[[], Request]) -> Callable[[], None]:
        def run() -> None:
            outcome = handler.decide(make())
            for _, event in outcome.emits:
                encode_binary(event)
            if outcome.accepted:
                outcome.accepted()

        return run

    import logging
    import tempfile

    from codex_pipeline.shell import logs

    log_file = tempfile.TemporaryFile("w")  # noqa: SIM115 - open for the whole run
    logging.getLogger().handlers[0].setStream(log_file)  # type: ignore[attr-defined]
    logging.getLogger().setLevel(logging.INFO)
    decision_log = logging.getLogger("codex_pipeline.route_task")

    def log_line() -> None:
        logs.decision(
            decision_log,
            "task routed",
            stage="planning",
            type="codex.task.planning",
            id="d-planning",
            repository="acme/widgets",
            issue=42,
            delivery="d",
            reason="issues.opened by alice",
        )

    def log_line_defaults() -> None:
        saved = logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing
        logging._srcfile = os.path.normcase(logging.addLevelName.__code__.co_filename)  # the default
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = True
        try:
            log_line()
        finally:
            logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved

    pairs: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("read a binary-mode CloudEvent", lambda: sdk_decode(request), lambda: events.decode_request(request)),
        ("clean the issue body", lambda: untrusted._INVISIBLE.sub("", body), lambda: untrusted.clean(body)),
        ("fence length for the issue body", lambda: regex_fence(body), lambda: untrusted.fence_for(body)),
        ("the task's JSON mapping", lambda: message_to_dict(task), lambda: tasks.to_json_dict(task)),
        ("one decision log line at INFO", log_line_defaults, log_line),
        ("read the delivery's JSON", lambda: json.loads(raw), lambda: parse_json(raw, "bench")),
        (
            "write the task's JSON",
            lambda: json.dumps(tasks.to_json_dict(task), separators=(",", ":"), ensure_ascii=False).encode(),
            lambda: tasks.to_json(task),
        ),
        ("look for the plan marker in the issue body", lambda: PLAN_MARKER in body, lambda: holds_plan_marker(body)),
        ("clean's CR and comment tests on the issue body", lambda: clean_before(body), lambda: untrusted.clean(body)),
    ]
    wholes = {
        "ingest-webhook decode -> decide -> encode": whole(ingest, ingest_request),
        "route-task decode -> decide -> encode (2 task events)": whole(route, routed_request),
    }
    before: dict[str, list[float]] = {name: [] for name, _, _ in pairs}
    after: dict[str, list[float]] = {name: [] for name, _, _ in pairs}
    totals: dict[str, list[float]] = {name: [] for name in wholes}
    for _ in range(args.rounds):
        for name, old, new in pairs:
            before[name].append(cpu_us(old, args.repeats))
            after[name].append(cpu_us(new, args.repeats))
        logging.getLogger().setLevel(logging.WARNING)  # as the runtime table runs them
        for name, run in wholes.items():
            totals[name].append(cpu_us(run, args.repeats // 4))
        logging.getLogger().setLevel(logging.INFO)
    lines = [
        "## One delivery's own CPU in ingest-webhook and route-task, piece by piece (issue 14)",
        "",
        f"12 KB `issues.opened` (bench/func_runtimes.py's delivery), CPU microseconds, median of {args.rounds} "
        f"interleaved rounds of {args.repeats}. Machine: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end. Command: "
        f"`.venv/bin/python bench/delivery_cpu.py{' --append' if args.append else ''}`.",
        "",
        "| piece | before us | now us |",
        "|---|---|---|",
    ]
    for name, _, _ in pairs:
        lines.append(f"| {name} | {statistics.median(before[name]):.1f} | {statistics.median(after[name]):.1f} |")
    for name, samples in totals.items():
        lines.append(f"| {name} | | {statistics.median(samples):.1f} |")
    from bench import harness

    harness.publish("\n".join(lines) + "\n", append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
