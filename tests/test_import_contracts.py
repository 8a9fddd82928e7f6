"""The layer rules (pyproject ``[tool.importlinter]``) hold, and each one can fail.

``lint-imports`` runs in ``make test``; these tests run it on a copy of the library with one
forbidden import planted, so a contract that could never break (a typo in a module name, a
contract over nothing) shows up here as a test that stays green when it should not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(lib: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(lib)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=lib.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = tmp_path_factory.mktemp("contracts") / "lib"
    shutil.copytree(
        ROOT / "lib" / "codex_pipeline", lib / "codex_pipeline", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return lib


def test_the_library_keeps_every_contract(library: Path) -> None:
    done = run_lint_imports(library)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("core/routing.py", "from codex_pipeline.effects import emit", "the decision core imports no effect"),
        ("core/policy.py", "import requests", "the decision core imports no effect"),
        ("core/names.py", "from codex_pipeline.discord import interactions", "the decision core imports no effect"),
        ("wire/events.py", "from codex_pipeline.effects.store import once", "the wire formats import no effect"),
        ("effects/emit.py", "from codex_pipeline.handlers import route_task", "effects import no handler"),
        ("shell/app.py", "import main", "nothing in the library imports a function folder"),
        ("handlers/route_task.py", "from codex_pipeline.cli import dev", "deployed code"),
        ("shell/config.py", "from codex_pipeline.steps import git", "deployed code"),
    ],
)
def test_a_planted_forbidden_import_breaks_its_contract(
    library: Path, tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    target = lib / "codex_pipeline" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    done = run_lint_imports(lib)
    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[-1]  # a planted import may break a second rule too
    assert contract in broken, done.stdout


def test_the_code_map_names_every_package_and_each_says_its_job() -> None:
    readme = (ROOT / "README.md").read_text()
    code_map = readme.split("### Code map", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.name for p in (ROOT / "lib" / "codex_pipeline").iterdir() if (p / "__init__.py").is_file())
    assert packages, "no packages found"
    missing = [name for name in packages if f"`{name}/`" not in code_map]
    assert not missing, f"README Code map does not name {missing}"
    for name in packages:
        init = (ROOT / "lib" / "codex_pipeline" / name / "__init__.py").read_text().lstrip()
        assert init.startswith('"""'), f"{name}/__init__.py has no docstring saying its job"


def test_the_library_root_holds_only_the_error_hierarchy() -> None:
    """A new module goes into the package of its layer, where the contracts see it (README "Code map")."""
    root = ROOT / "lib" / "codex_pipeline"
    modules = sorted(p.name for p in root.glob("*.py"))
    assert modules == ["__init__.py", "errors.py"], f"place {modules} in a layer package (README Code map)"
