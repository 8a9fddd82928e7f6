"""``codex-pipeline reconcile``: redeliver the webhook deliveries ingest-webhook did not accept.

Reads the hook's recent deliveries from GitHub (REST API 2022-11-28), asks GitHub to redeliver
each event whose newest attempt was not a 2xx, records what it asked for in the store
(``CODEX_DATABASE_URL``) and prints a summary. Run it every few minutes (the CronJob in
``deploy/reconcile/``; ``codex-pipeline dev`` runs it against its GitHub stand-in). Exit status:
0 when the run went through (failures found or not), 1 when GitHub or the store could not be
read, 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hook",
        help="owner/name:HOOK_ID (repository webhook) or app (the GitHub App's webhook); default CODEX_RECONCILE_HOOK",
    )
    parser.add_argument(
        "--since",
        help="look at deliveries since this time (ISO 8601, e.g. 2026-11-29T18:00Z) "
        "or this long ago (30m, 6h, 2d); default: the stored cursor, else 3 days",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be redelivered; change nothing")
    parser.add_argument(
        "--max", type=int, metavar="N", help="most redeliveries this run (default CODEX_RECONCILE_MAX_REDELIVERIES)"
    )


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``/``6h``/``2d`` ago, or an ISO 8601 time (UTC when it names no zone)."""
    value = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1:] in units and value[:-1].isdigit():
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes an ISO 8601 time or 30m/6h/2d, not {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.effects.github import client_from_settings
    from codex_pipeline.effects.github.deliveries import Hook
    from codex_pipeline.effects.reconcile import reconcile
    from codex_pipeline.effects.store import open_store
    from codex_pipeline.errors import ConfigurationError, PipelineError
    from codex_pipeline.shell.config import load_settings

    try:
        settings = load_settings()
        named = args.hook or settings.reconcile_hook
        if not named:
            raise ValueError("which webhook? pass --hook owner/name:HOOK_ID (or app), or set CODEX_RECONCILE_HOOK")
        hook = Hook.parse(named)
        since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    except (ConfigurationError, ValueError) as error:
        print(f"codex-pipeline reconcile: {error}", file=sys.stderr)
        return 2
    client = client_from_settings(settings)
    try:
        store = open_store(settings.database_url, connect_timeout=settings.database_timeout)
    except ValueError as error:
        print(f"codex-pipeline reconcile: {error}", file=sys.stderr)
        return 2
    try:
        store.migrate()
        summary = reconcile(
            client,
            store,
            hook,
            since=since,
            dry_run=args.dry_run,
            max_redeliveries=settings.reconcile_max_redeliveries if args.max is None else args.max,
            max_per_event=settings.reconcile_max_per_event,
        )
    except PipelineError as error:  # the store is down, or GitHub refused the credentials or the hook
        print(f"codex-pipeline reconcile: {error.message}", file=sys.stderr)
        return 1 if error.transient else 2
    finally:
        store.close()
        client.close()
    print(summary.text(), flush=True)
    return 1 if summary.stopped else 0
