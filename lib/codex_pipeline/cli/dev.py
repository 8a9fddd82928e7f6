"""``codex-pipeline dev``: every function, the local router and the embedded defaults (``make run``).

``codex-pipeline dev comment NUMBER TEXT`` types a comment on an issue or pull request of the
running dev's GitHub stand-in, as a person would on github.com: it comes back as an
``issue_comment.created`` delivery (``dev comment 57 "@tuslagch review"`` asks for a review).
``codex-pipeline dev metrics`` prints the OpenTelemetry metrics every function and run of the
running dev recorded so far (what its summary ends with).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codex_pipeline.cli.values import port

# GitHub's author_association values (webhook payloads, REST "author_association").
ASSOCIATIONS = (
    "OWNER",
    "MEMBER",
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIME_CONTRIBUTOR",
    "FIRST_TIMER",
    "MANNEQUIN",
    "NONE",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(".codex-pipeline"),
        help="folder for topics, store, dry-run workflows, logs (default: .codex-pipeline)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=8080,
        help="port of ingest-webhook, where GitHub and `replay` post (0 = any free port)",
    )
    parser.add_argument("--router-port", type=port, default=0, help="port of the local router (default: any free)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="FUNCTION",
        help="serve only these functions (repeatable); deliveries to the others are held",
    )
    parser.add_argument(
        "--reconcile-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="run `reconcile` against the GitHub stand-in this often (default 30; 0 = off)",
    )
    parser.add_argument(
        "--execute",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each Workflow the dry-run submitter writes on this machine (default: on when "
        "no cluster and no GitHub are configured; --no-execute only writes them)",
    )
    helpers = parser.add_subparsers(dest="dev_helper", metavar="HELPER", required=False)
    comment = helpers.add_parser(
        "comment",
        help="type a comment on the stand-in GitHub of a running dev",
        description="Type a comment on an issue or pull request of the running dev's "
        "GitHub stand-in; it comes back as an issue_comment webhook.",
    )
    comment.add_argument("number", type=int, help="issue or pull request number, e.g. 57")
    comment.add_argument("body", help='the comment text, e.g. "@tuslagch review"')
    comment.add_argument("--repo", dest="repository", default="acme/widgets", help="owner/name (default: acme/widgets)")
    comment.add_argument("--as", dest="login", default="octocat", help="who writes it (default: octocat)")
    comment.add_argument(
        "--association", default="OWNER", choices=ASSOCIATIONS, help="their author_association (default: OWNER)"
    )
    comment.add_argument(
        "--state",
        type=Path,
        default=argparse.SUPPRESS,
        help="the running dev's state folder (default: .codex-pipeline)",
    )
    shown = helpers.add_parser(
        "metrics",
        help="print what the running dev's functions and runs recorded so far",
        description="Print the OpenTelemetry metrics (deliveries by function and outcome, "
        "emits, submissions, rate-limit waits, runs, Codex runs) every function "
        "and run of the running dev recorded so far.",
    )
    shown.add_argument(
        "--state",
        type=Path,
        default=argparse.SUPPRESS,
        help="the running dev's state folder (default: .codex-pipeline)",
    )


def comment(args: argparse.Namespace) -> int:
    import json
    import sys

    import requests

    from codex_pipeline.dev.github_loop import COMMENT_PATH

    try:
        info = json.loads((args.state / "dev.json").read_text())
    except (OSError, ValueError):
        info = {}
    github = info.get("github") if isinstance(info, dict) else None
    if not github:
        print(
            f"dev comment: no running dev with a GitHub stand-in in {args.state} (start `codex-pipeline dev`; "
            "a configured GitHub takes comments on github.com)",
            file=sys.stderr,
        )
        return 1
    payload = {
        "repository": args.repository,
        "number": args.number,
        "body": args.body,
        "login": args.login,
        "association": args.association,
    }
    try:
        answer = requests.post(github + COMMENT_PATH, json=payload, timeout=10)
    except requests.RequestException as exc:
        print(f"dev comment: the stand-in at {github} is not reachable ({type(exc).__name__})", file=sys.stderr)
        return 1
    if answer.status_code != 201:
        print(f"dev comment: {answer.status_code} {answer.json().get('message', answer.text)}", file=sys.stderr)
        return 1
    print(f"commented on {args.repository}#{args.number} as {args.login}: {answer.json()['html_url']}")
    return 0


def metrics(args: argparse.Namespace) -> int:
    from codex_pipeline.dev.metricsview import metric_lines

    lines = metric_lines((args.state / "metrics").resolve())
    print(
        "\n".join(lines)
        if lines
        else f"dev metrics: nothing recorded yet in {args.state / 'metrics'} "
        "(start `codex-pipeline dev` and send a delivery)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "dev_helper", None) == "comment":
        return comment(args)
    if getattr(args, "dev_helper", None) == "metrics":
        return metrics(args)
    from codex_pipeline.dev.run import DevOptions
    from codex_pipeline.dev.run import run as run_dev
    from codex_pipeline.dev.topology import TopologyError

    try:
        return run_dev(
            DevOptions(
                state=args.state,
                port=args.port,
                router_port=args.router_port,
                only=tuple(args.only),
                execute=args.execute,
                reconcile_every=args.reconcile_every,
            )
        )
    except TopologyError as error:
        raise SystemExit(f"codex-pipeline dev: eventing/ cannot be routed locally: {error}") from None
