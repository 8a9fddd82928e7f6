"""``codex-pipeline transcripts WORKFLOW``: fetch a run's ``.codex-*`` artifacts from S3-compatible storage.

Argo stores output artifacts under ``<workflow>/<pod>/`` in the artifact repository's bucket
(its default key format), tar+gzip-archived unless the template says ``archive: none``. Both
forms are read: archives are opened in memory and only their ``.codex-*`` members are taken.
MinIO and any S3-compatible store work (``--endpoint``); credentials come from the usual
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (or a profile) and are never printed.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path, PurePosixPath

from codex_pipeline.shell.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", help="the Argo workflow name, e.g. github-codex-implementation-abc12")
    # Defaults are the settings (CODEX_ARTIFACT_*, also from _FILE or the YAML file), read when the verb runs.
    parser.add_argument(
        "--bucket", help=f"artifact bucket (default: $CODEX_ARTIFACT_BUCKET or {Settings.artifact_bucket})"
    )
    parser.add_argument(
        "--endpoint", help="S3 endpoint URL, e.g. http://minio.argo:9000 (default: $CODEX_ARTIFACT_ENDPOINT, AWS)"
    )
    parser.add_argument("--region", help=f"S3 region (default: $CODEX_ARTIFACT_REGION or {Settings.artifact_region})")
    parser.add_argument(
        "--prefix",
        help="key prefix of the run's artifacts ({workflow} is replaced; default: "
        f"$CODEX_ARTIFACT_KEY_PREFIX or {Settings.artifact_key_prefix})",
    )
    parser.add_argument("--output", type=Path, help="save the files into this folder instead of printing them")


def _codex_files(key: str, data: bytes) -> list[tuple[str, bytes]]:
    name = PurePosixPath(key).name
    if name.endswith((".tgz", ".tar.gz", ".tar")):
        found = []
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                for member in archive.getmembers():
                    member_name = PurePosixPath(member.name).name
                    if member.isfile() and member_name.startswith(".codex-"):
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            found.append((member_name, extracted.read()))
        except tarfile.TarError:
            return []
        return found
    return [(name, data)] if name.startswith(".codex-") else []


def run(args: argparse.Namespace) -> int:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        print("transcripts: needs boto3 (pip install boto3)", file=sys.stderr)
        return 2
    from codex_pipeline.shell.config import load_settings

    settings = load_settings()
    args.bucket = args.bucket or settings.artifact_bucket
    args.endpoint = args.endpoint or settings.artifact_endpoint
    args.region = args.region or settings.artifact_region
    prefix = (args.prefix or settings.artifact_key_prefix).replace("{workflow}", args.workflow)
    s3 = boto3.client("s3", endpoint_url=args.endpoint or None, region_name=args.region)
    files: list[tuple[str, str, bytes]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if not PurePosixPath(key).name.startswith(".codex-") and not key.endswith((".tgz", ".tar.gz")):
                    continue
                body = s3.get_object(Bucket=args.bucket, Key=key)["Body"].read()
                files += [(key, name, data) for name, data in _codex_files(key, body)]
    except (BotoCoreError, ClientError) as exc:
        print(f"transcripts: cannot read s3://{args.bucket}/{prefix}: {exc}", file=sys.stderr)
        return 1
    if not files:
        print(f"transcripts: no .codex-* artifacts under s3://{args.bucket}/{prefix}", file=sys.stderr)
        return 1
    for key, name, data in sorted(files):
        if args.output:
            pod = PurePosixPath(key).parent.name
            target = args.output / pod / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            print(f"saved {target} ({len(data)} bytes from s3://{args.bucket}/{key})")
        else:
            print(f"===== {name} (s3://{args.bucket}/{key}) =====")
            sys.stdout.write(data.decode("utf-8", errors="replace"))
            if data and not data.endswith(b"\n"):
                sys.stdout.write("\n")
    return 0
