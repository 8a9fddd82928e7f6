"""``codex-pipeline discord-channel``: tee stdin into a new per-run Discord channel.

Every line read is echoed to stdout (so the Argo log keeps it) and mirrored to Discord when
``DISCORD_BOT_TOKEN`` and ``DISCORD_GUILD_ID`` are set. ``--dry-run`` prints the channel name,
the banner and the lines to stderr and calls nothing. A Discord failure never changes the exit
status: the mirror is best effort, the run is not.
"""

from __future__ import annotations

import argparse
import os
import sys

from codex_pipeline.cli.values import seconds

# The stages a run belongs to, as the channel name and banner spell them.
STAGES = ("planning", "implementation", "review")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", required=True, choices=STAGES, help="the run's stage: " + ", ".join(STAGES))
    parser.add_argument("--repo", default=os.environ.get("ISSUE_REPO", ""), help="owner/name (default: $ISSUE_REPO)")
    parser.add_argument(
        "--issue", default=os.environ.get("ISSUE_NUMBER", ""), help="issue number (default: $ISSUE_NUMBER)"
    )
    parser.add_argument(
        "--workflow-name",
        default=os.environ.get("ARGO_WORKFLOW_NAME", "local"),
        help="the Argo workflow name, {{workflow.name}} (default: $ARGO_WORKFLOW_NAME, else local)",
    )
    parser.add_argument("--interval", type=seconds, default=1.0, help="seconds between batched messages (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="print to stderr instead of calling Discord")


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.steps.discord import DiscordConfig, banner, channel_name, start_stream

    name = channel_name(args.stage, args.repo, args.issue, args.workflow_name)
    head = banner(args.stage, args.repo, args.issue, args.workflow_name)
    if args.dry_run:
        print(f"[discord dry-run] channel: #{name}", file=sys.stderr)
        for line in head.splitlines():
            print(f"[discord dry-run] banner: {line}", file=sys.stderr)
        for line in sys.stdin:
            sys.stdout.write(line)
            print(f"[discord dry-run] {line.rstrip(chr(10))}", file=sys.stderr)
        return 0
    from codex_pipeline.steps.secretfiles import secret

    stream = None
    if secret(os.environ, "DISCORD_BOT_TOKEN") and secret(os.environ, "DISCORD_GUILD_ID"):  # or their _FILE
        from codex_pipeline.shell.config import load_settings
        from codex_pipeline.shell.logs import configure

        configure(load_settings().log_level)
        stream = start_stream(
            DiscordConfig.from_env(os.environ),
            stage=args.stage,
            repository=args.repo,
            issue=args.issue,
            run_id=args.workflow_name,
            interval=args.interval,
        )
    else:
        print("discord-channel: DISCORD_BOT_TOKEN or DISCORD_GUILD_ID unset; echoing only", file=sys.stderr)
    try:
        for line in sys.stdin:
            sys.stdout.write(line)
            sys.stdout.flush()
            if stream:
                stream.write(line.rstrip("\n"))
    finally:
        if stream:
            stream.close()
    return 0
