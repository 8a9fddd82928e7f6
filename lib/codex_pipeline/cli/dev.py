"""``codex-pipeline dev``: every function, the local router and the embedded defaults (``make run``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", type=Path, default=Path(".codex-pipeline"),
                        help="folder for topics, store, dry-run workflows, logs (default: .codex-pipeline)")
    parser.add_argument("--port", type=int, default=8080,
                        help="port of ingest-webhook, where GitHub and `replay` post (0 = any free port)")
    parser.add_argument("--router-port", type=int, default=0, help="port of the local router (default: any free)")
    parser.add_argument("--only", action="append", default=[], metavar="FUNCTION",
                        help="serve only these functions (repeatable); deliveries to the others are held")
    parser.add_argument("--reconcile-every", type=float, default=30.0, metavar="SECONDS",
                        help="run `reconcile` against the GitHub stand-in this often (default 30; 0 = off)")
    parser.add_argument("--execute", action=argparse.BooleanOptionalAction, default=None,
                        help="run each Workflow the dry-run submitter writes on this machine (default: on when "
                             "no cluster and no GitHub are configured; --no-execute only writes them)")


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.dev.run import DevOptions
    from codex_pipeline.dev.run import run as run_dev
    from codex_pipeline.dev.topology import TopologyError

    try:
        return run_dev(DevOptions(state=args.state, port=args.port, router_port=args.router_port,
                                  only=tuple(args.only), execute=args.execute,
                                  reconcile_every=args.reconcile_every))
    except TopologyError as error:
        raise SystemExit(f"codex-pipeline dev: eventing/ cannot be routed locally: {error}") from None
