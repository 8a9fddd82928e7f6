"""``codex-pipeline lint``: validate eventing/, workflows/ and functions/*/func.yaml offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The folders lint reads; a root with none of them is refused.
CHECKED = ("eventing", "workflows", "functions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--no-kustomize", action="store_true", help="do not run `kubectl kustomize`")


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.lint import lint

    root: Path = args.root.resolve()
    if not root.is_dir():
        print(f"codex-pipeline lint: --root {args.root}: no such folder", file=sys.stderr)
        return 2
    if not any((root / part).is_dir() for part in CHECKED):
        # "0 problem(s)" for a folder holding none of the manifests would pass a CI job that lints nothing.
        print(
            f"codex-pipeline lint: nothing to check in {root}: none of {', '.join(p + '/' for p in CHECKED)}; "
            "run it at the repository root or pass --root",
            file=sys.stderr,
        )
        return 2
    from codex_pipeline.cli import COMMANDS

    findings = lint(root, verbs=set(COMMANDS), kustomize=not args.no_kustomize)
    for finding in findings:
        print(finding)
    errors = [f for f in findings if not f.skip]
    print(
        f"codex-pipeline lint: {len(errors)} problem(s)"
        + (f", {len(findings) - len(errors)} check(s) skipped" if len(findings) > len(errors) else "")
    )
    return 1 if errors else 0
