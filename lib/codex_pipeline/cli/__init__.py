"""``codex-pipeline`` console script.

Each verb lives in its own module, imported only when run, so ``codex-pipeline step plan``
inside a workflow does not pay for the dev server's imports. A verb module exposes
``add_arguments(parser)`` and ``run(args) -> int``; register it in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from codex_pipeline import __version__

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("codex_pipeline.cli.serve", "serve one function with functions-framework"),
    "bundle": ("codex_pipeline.cli.bundle", "write self-contained func build roots (library vendored)"),
    "lint": ("codex_pipeline.cli.lint", "validate eventing/, workflows/ and func.yaml offline"),
    "migrate": ("codex_pipeline.cli.migrate", "apply pending codex_kb store migrations (CODEX_DATABASE_URL)"),
    "step": ("codex_pipeline.cli.step", "run a workflow step: plan, implement or review (in the Codex container)"),
    "progress-comment": ("codex_pipeline.cli.progress_comment", "create or edit the <!-- codex:progress --> comment"),
    "discord-channel": ("codex_pipeline.cli.discord_channel", "tee stdin into a per-run Discord channel"),
    "dev": ("codex_pipeline.cli.dev", "run the whole pipeline locally, routed by eventing/ (make run)"),
    "replay": ("codex_pipeline.cli.replay", "sign a webhook payload and post it to ingest-webhook"),
    "transcripts": ("codex_pipeline.cli.transcripts", "fetch a run's .codex-* logs from the S3 artifact store"),
    "listen": ("codex_pipeline.cli.listen", "stream a task topic as JSON (Kafka consumer group, or dev's topics)"),
    "reconcile": ("codex_pipeline.cli.reconcile", "redeliver webhook deliveries that ingest-webhook did not accept"),
    "dead-letters": ("codex_pipeline.cli.dead_letters", "list, show and replay codex.dead-letter to its Broker"),
}


DESCRIPTION = (
    "Turn GitHub issues into planned, implemented and reviewed pull requests by Codex. "
    "Run the pipeline on this machine (dev), send it deliveries (replay), watch its tasks (listen), "
    "check and package its manifests (lint, bundle), and run the programs its Workflows call (step, "
    "progress-comment, discord-channel)."
)
EPILOG = "Run `codex-pipeline VERB --help` for a verb's options. A configuration error exits with status 2."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codex-pipeline", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"codex-pipeline {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    from codex_pipeline.errors import StartupError, StepError

    try:
        result: int = args._run(args)
    except KeyboardInterrupt:
        return 130  # Ctrl-C before a verb's own handling: stop quietly, with the shell's status for SIGINT
    except StartupError as error:
        print(f"codex-pipeline {args.verb}: configuration error: {error}", file=sys.stderr)
        return error.exit_status
    except StepError as error:  # the step branch: one line, the error's own exit status
        print(f"codex-pipeline {args.verb}: {error}", file=sys.stderr)
        return error.exit_status
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
