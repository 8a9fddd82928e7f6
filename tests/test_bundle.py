"""codex-pipeline bundle: a self-contained func root with the library vendored."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from codex_pipeline.cli import main
from codex_pipeline.cli.bundle import NOT_DEPLOYED, function_names

ROOT = Path(__file__).resolve().parent.parent


def test_bundle_vendors_the_library(tmp_path: Path) -> None:
    assert main(["bundle", "ingest-webhook", "--root", str(ROOT), "--out", str(tmp_path)]) == 0
    out = tmp_path / "ingest-webhook"
    assert (out / "func.yaml").read_text() == (ROOT / "functions" / "ingest-webhook" / "func.yaml").read_text()
    assert (out / "function" / "__init__.py").is_file()
    assert (out / "codex_pipeline" / "handlers" / "ingest_webhook.py").is_file()
    # Only what a deployed function imports: no tooling, no workflow steps (the layers the
    # import contract deployed-without-tooling keeps out of the deployed packages).
    shipped = {p.name for p in (out / "codex_pipeline").iterdir() if p.is_dir()}
    assert shipped == {"core", "wire", "effects", "shell", "handlers", "discord"}, shipped
    assert NOT_DEPLOYED.isdisjoint(shipped)
    assert (out / "codex_pipeline" / "effects" / "store" / "migrations" / "sqlite").is_dir()
    assert not list(out.rglob("__pycache__"))
    project = tomllib.loads((out / "pyproject.toml").read_text())["project"]
    assert project["name"] == "function"
    assert not any(d.startswith("codex-pipeline") for d in project["dependencies"])
    assert any(d.startswith("cloudevents") for d in project["dependencies"])
    assert not any(d.startswith(("functions-framework", "func-python")) for d in project["dependencies"])
    # a requirement with an environment marker survives as written (its double quotes escaped in TOML)
    assert 'uvloop>=0.21; sys_platform != "win32"' in project["dependencies"]


def test_incomplete_folder_is_refused_and_not_listed(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "functions" / "ingest-webhook",
        tmp_path / "functions" / "ingest-webhook",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "functions" / "half").mkdir()
    (tmp_path / "functions" / "half" / "func.yaml").write_text("name: half\n")
    assert function_names(tmp_path) == ["ingest-webhook"]
    assert main(["bundle", "half", "--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
