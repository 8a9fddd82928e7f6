"""``codex-pipeline lint``: validate eventing/, workflows/ and functions/*/func.yaml offline."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--no-kustomize", action="store_true", help="do not run `kubectl kustomize`")


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.lint import lint

    root: Path = args.root.resolve()
    findings = lint(root, kustomize=not args.no_kustomize)
    for finding in findings:
        print(finding)
    errors = [f for f in findings if not f.skip]
    print(f"codex-pipeline lint: {len(errors)} problem(s)" + (f", {len(findings) - len(errors)} check(s) skipped"
                                                             if len(findings) > len(errors) else ""))
    return 1 if errors else 0
