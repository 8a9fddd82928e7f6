"""``codex-pipeline migrate``: apply pending ``codex_kb`` migrations to CODEX_DATABASE_URL.

Safe to run while functions are serving and from several places at once: each migration is
applied once, in order (PostgreSQL under an advisory lock, SQLite in an immediate transaction).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="database to migrate (default: CODEX_DATABASE_URL, then the embedded SQLite default)"
    )
    parser.add_argument("--status", action="store_true", help="print the applied versions and change nothing")


def run(args: argparse.Namespace) -> int:
    from codex_pipeline.effects.store import migrations, open_store
    from codex_pipeline.errors import Unavailable
    from codex_pipeline.shell.config import load_settings

    url = args.database_url or load_settings().database_url
    try:
        store = open_store(url)
    except ValueError as exc:
        print(f"codex-pipeline migrate: {exc}", file=sys.stderr)
        return 2
    try:
        if args.status:
            applied = store.applied_migrations()
            known = [m.version for m in migrations(store.backend)]
            pending = [v for v in known if v not in applied]
            print(f"codex-pipeline migrate: applied {applied or 'none'}; pending {pending or 'none'}")
            return 0
        done = store.migrate()
        current = store.applied_migrations()
    except Unavailable as exc:
        print(f"codex-pipeline migrate: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"codex-pipeline migrate: applied {done or 'nothing'}; now at version {max(current, default=0)}")
    return 0
