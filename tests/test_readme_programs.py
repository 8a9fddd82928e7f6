"""The README's dry-run examples of the workflow programs are real: run them and compare the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Workflow programs"


def _examples() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    examples = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        lines = block.splitlines()
        command: list[str] = []
        while lines:
            line = lines.pop(0)
            command.append(line.removeprefix("$ ").strip())
            if not line.endswith("\\"):
                break
        joined = " ".join(part.removesuffix("\\").strip() for part in command)
        if "--dry-run" in joined:
            examples.append((joined, lines))
    return examples


EXAMPLES = _examples()


def test_the_readme_shows_a_dry_run_per_program() -> None:
    shown = {
        re.search(r"codex-pipeline ([a-z-]+(?: [a-z]+)?)", command).group(1)  # type: ignore[union-attr]
        for command, _ in EXAMPLES
    }
    assert shown == {"step plan", "progress-comment", "discord-channel"}


@pytest.mark.parametrize(
    ("command", "expected"), EXAMPLES, ids=[c.split("codex-pipeline ")[1][:30] for c, _ in EXAMPLES]
)
def test_readme_dry_run_output_is_what_the_program_prints(command: str, expected: list[str], tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_TOKEN", "GH_TOKEN", "CODEX_GITHUB_TOKEN", "DISCORD_BOT_TOKEN", "CODEX_GITHUB_APP_ID")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    actual = (done.stdout + done.stderr).splitlines()
    if "…" in expected:
        expected = expected[: expected.index("…")]
        actual = actual[: len(expected)]

    def normal(lines: list[str]) -> list[str]:
        return [re.sub(r"Started: \S+", "Started: <time>", line) for line in lines]

    assert normal(actual) == normal(expected)
