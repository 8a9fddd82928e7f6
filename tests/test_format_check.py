"""``ruff format --check .`` (make lint, make test) fails on a file that is not formatted.

The check is strict over every Python file; a new module is checked from its first commit, which
is what this shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")
UNFORMATTED = 'def f(a,b):\n    return {"a":a,\n            "b":b}\n'


def ruff_format_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUFF), "format", "--check", "--no-cache", "."], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_a_new_unformatted_module_fails_the_format_check(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    module = tmp_path / "lib" / "codex_pipeline" / "core" / "fresh.py"
    module.parent.mkdir(parents=True)
    module.write_text(UNFORMATTED)
    failed = ruff_format_check(tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "fresh.py" in failed.stdout + failed.stderr

    subprocess.run([str(RUFF), "format", "--no-cache", str(module)], cwd=tmp_path, check=True, capture_output=True)
    passed = ruff_format_check(tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_the_repository_passes_the_format_check() -> None:
    done = ruff_format_check(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
