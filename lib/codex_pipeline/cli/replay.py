"""``codex-pipeline replay FILE``: post a webhook payload to ingest-webhook as GitHub does.

The body is sent byte for byte as the file holds it, signed with ``X-Hub-Signature-256`` under
the configured secret (``--secret``, else the setting ``CODEX_WEBHOOK_SECRET``: the variable, its
``_FILE`` or the YAML file; else the secret ``dev`` generated in its state folder). The event name
comes from ``--event`` or the file name up to its first dot (``issue_comment.execute-plan.json``
is an ``issue_comment``). The delivery id is fresh unless ``--delivery`` gives one: replaying with
the same id is GitHub's "Redeliver".
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import uuid
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="webhook payload (JSON), e.g. examples/issues.opened.json")
    parser.add_argument("--event", help="X-GitHub-Event (default: the file name up to its first dot)")
    parser.add_argument("--delivery", help="X-GitHub-Delivery (default: a fresh UUID)")
    parser.add_argument("--url", help="ingest-webhook URL (default: the running dev's, else http://127.0.0.1:8080/)")
    parser.add_argument(
        "--secret", help="webhook secret (default: CODEX_WEBHOOK_SECRET or its _FILE, else dev's generated one)"
    )
    parser.add_argument("--state", type=Path, default=Path(".codex-pipeline"), help="dev's state folder")
    parser.add_argument("--unsigned", action="store_true", help="send no signature")


def event_name(path: Path) -> str:
    return path.name.split(".", 1)[0]


def dev_info(state: Path) -> dict[str, object]:
    try:
        loaded = json.loads((state / "dev.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def resolve_secret(args: argparse.Namespace) -> str | None:
    if args.unsigned:
        return None
    if args.secret:
        return str(args.secret)
    from codex_pipeline.shell.config import load_settings

    configured = load_settings().webhook_secrets  # CODEX_WEBHOOK_SECRET, its _FILE, or the YAML file
    if configured:
        return configured[0]
    path: Path = args.state / "webhook-secret"
    if path.is_file():
        return path.read_text().strip()
    raise SystemExit(
        "replay: no webhook secret: pass --secret, set CODEX_WEBHOOK_SECRET (or its _FILE), or run "
        f"`codex-pipeline dev` once (it writes {path}); --unsigned sends none"
    )


def run(args: argparse.Namespace) -> int:
    import requests

    from codex_pipeline.wire import signatures
    from codex_pipeline.wire.events import EVENT_TYPE_HEADER

    try:
        body = args.file.read_bytes()
    except OSError as exc:
        raise SystemExit(f"replay: cannot read {args.file}: {exc.strerror}") from None
    try:
        json.loads(body)
    except ValueError as exc:
        raise SystemExit(f"replay: {args.file} is not JSON: {exc}") from None
    url = args.url or str(dev_info(args.state).get("webhook") or "http://127.0.0.1:8080/")
    delivery = args.delivery or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/codex-pipeline-replay",
        "X-GitHub-Event": args.event or event_name(args.file),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": "0",
    }
    info = dev_info(args.state)
    if not args.url and not args.unsigned and not args.secret and info.get("github_hook"):
        return _through_standin(
            str(info["github"]), int(str(info["github_hook"])), headers["X-GitHub-Event"], delivery, body, url
        )
    secret = resolve_secret(args)
    if secret is not None:
        headers["X-Hub-Signature-256"] = signatures.sign(secret, body)
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        print(
            f"replay: {url} is not reachable ({type(exc).__name__}); is `codex-pipeline dev` running?", file=sys.stderr
        )
        return 1
    became = answer.headers.get(EVENT_TYPE_HEADER)  # ingest-webhook's accepted answer names the event type
    print(
        f"{answer.status_code} {headers['X-GitHub-Event']} delivery={delivery} -> {url}"
        + (f" as {became}" if became else "")
    )
    if answer.content:
        print(answer.text.strip())
    return 0 if 200 <= answer.status_code < 300 else 1


def _through_standin(github: str, hook_id: int, event: str, delivery: str, body: bytes, url: str) -> int:
    """With dev's GitHub stand-in, GitHub sends the delivery (signed by the hook's secret) and logs
    what ingest answered, so a refused delivery shows as failed and ``reconcile`` redelivers it."""
    import requests

    try:
        answer = requests.post(
            f"{github}/_standin/deliveries",
            timeout=60,
            json={"hook_id": hook_id, "event": event, "guid": delivery, "body_base64": base64.b64encode(body).decode()},
        )
        sent = answer.json()
    except (requests.RequestException, ValueError) as exc:
        print(f"replay: dev's GitHub stand-in at {github} is not reachable ({type(exc).__name__})", file=sys.stderr)
        return 1
    status = int(sent["delivery"]["status_code"])
    print(
        f"{status or sent['delivery']['status']} {event} delivery={delivery} -> {url} "
        f"(sent by the GitHub stand-in's hook {hook_id}, delivery {sent['delivery']['id']})"
    )
    if sent.get("response"):
        print(str(sent["response"]).strip())
    return 0 if 200 <= status < 300 else 1
