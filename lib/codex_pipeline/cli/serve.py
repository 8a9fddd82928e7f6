"""``codex-pipeline serve NAME``: run one function exactly as functions-framework serves it."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from codex_pipeline.cli.values import port

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


def function_names() -> list[str]:
    return sorted(p.name for p in FUNCTIONS_DIR.iterdir() if (p / "main.py").is_file())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="function folder under functions/, e.g. ingest-webhook")
    parser.add_argument(
        "--port",
        type=port,
        default=int(os.environ.get("PORT", "8080")),
        help="port to listen on (default: $PORT, else 8080)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")


def run(args: argparse.Namespace) -> int:
    source = FUNCTIONS_DIR / args.name / "main.py"
    if not source.is_file():
        raise SystemExit(f"no function {args.name!r}; known: {', '.join(function_names())}")
    from codex_pipeline.dev.processes import functions_framework_command

    argv = functions_framework_command(source, args.port, args.host)
    if importlib.util.find_spec("functions_framework") is None:
        raise SystemExit(
            "serve: functions-framework is not installed in this environment; "
            "pip install 'codex-pipeline[ff]' (make run does)"
        )
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover
