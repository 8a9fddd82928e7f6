"""Regenerate the committed Python code for proto/ (``make proto``).

The generated modules are committed so the functions need no protoc at build time;
``tests/test_proto_drift.py`` runs :func:`generate` into a temporary folder and fails
when the committed files differ, so the .proto and the code cannot drift apart.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILE = "proompteng/froussard/v1/codex_task.proto"
TARGET = PROTO_ROOT.parent / "lib" / "codex_pipeline" / "wire" / "pb"
GENERATED = ("codex_task_pb2.py", "codex_task_pb2.pyi")


def generate(out_dir: Path) -> dict[str, bytes]:
    """Run protoc (from grpcio-tools) and return the generated files by name."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as raw:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            PROTO_FILE,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed for {PROTO_FILE}")
        produced = Path(raw) / Path(PROTO_FILE).parent
        files = {name: (produced / name).read_bytes() for name in GENERATED}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out_dir / name).write_bytes(content)
    return files


if __name__ == "__main__":
    generate(TARGET)
    sys.stdout.write(f"generated {', '.join(GENERATED)} in {TARGET}\n")
