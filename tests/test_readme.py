"""The README's commands work as written (a newcomer copies them verbatim)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.devrun import DevProcess


def readme_block(heading: str, index: int) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks: list[str] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return blocks[index]


@pytest.mark.slow
@pytest.mark.xdist_group("dev")
def test_curl_replay_from_the_readme_reaches_the_running_dev(tmp_path: Path) -> None:
    # As the README says: `make run` is running (its state folder in the working directory) and the
    # block is pasted into another terminal there, with nothing else set.
    dev = DevProcess(tmp_path / ".codex-pipeline", args=["--only", "ingest-webhook"])
    try:
        script = readme_block("### Replay a delivery with curl", 0)
        # The only change: dev listens on a free port here, not 8080.
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "INGEST_URL": dev.info["webhook"].rstrip("/")},
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("HTTP/1.1 202"), result.stdout
        dev.wait_for(lambda: len(dev.records("github.webhook.events")) == 1, what="the accepted delivery")
        (record,) = dev.records("github.webhook.events")
        assert record["attributes"]["type"] == "com.github.issues.opened"
        assert record["attributes"]["subject"] == "1"
    finally:
        assert dev.interrupt() == 0


def console_examples(heading: str) -> list[tuple[str, list[str]]]:
    """(command, output lines) of each ```console block in a README section."""
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    examples = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        lines = block.splitlines()
        examples.append((lines[0].removeprefix("$ "), lines[1:]))
    return examples


def test_the_migrate_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    import os
    import sys

    ((command, expected),) = console_examples("### Store migrations")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
