"""``codex-pipeline bundle NAME``: a self-contained root that ``func deploy --path`` can build.

func builds only the function's folder, so the shared library cannot be reached by a path
into the repository. The bundle copies ``functions/NAME/`` (func.yaml, ``function/``) and
vendors the ``codex_pipeline`` package beside ``function/``, without the packages no function
imports (:data:`NOT_DEPLOYED`: the CLI, ``dev``, ``lint``, ``schemas`` and the workflow
steps); the bundle's ``pyproject.toml`` is the function's own with the ``codex-pipeline``
requirement replaced by the library's runtime requirements and the vendored package added.
The result installs with plain pip from anywhere, which is what func's ``function @ file://.../f`` requirement needs.

The requirements are what the function can load at run time, read from its func.yaml: every
function may have tracing turned on (``OTEL_EXPORTER_OTLP_ENDPOINT``), so every bundle carries
the OTLP exporter (the library's ``otlp`` extra); a function whose func.yaml sets
``CODEX_ARGO_SUBMITTER`` submits Workflows and carries the Kubernetes client (the ``kubernetes``
extra). The functions that emit CloudEvents need nothing more: under func-python they post from
the event loop over asyncio streams (``sink_connections.py``). All of them load lazily, so they
cost nothing at start when unused.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import codex_pipeline

LIBRARY = "codex-pipeline"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info", "build", "dist")
# Packages of the library that no deployed function imports: local tooling and the workflow steps
# (they run in the Codex container, from the image's own install). The import contract
# ``deployed-without-tooling`` (pyproject.toml) keeps the rest from importing them.
NOT_DEPLOYED = frozenset({"cli", "dev", "lint", "schemas", "steps"})


def _deployed_only(folder: str, names: list[str]) -> set[str]:
    """``copytree`` ignore: the usual clutter, and at the package's top level the packages in :data:`NOT_DEPLOYED`."""
    ignored = set(_IGNORE(folder, names))
    if Path(folder) == Path(codex_pipeline.__file__).parent:
        ignored |= NOT_DEPLOYED & set(names)
    return ignored


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="function folder names (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/build/func)")


def library_requirements(extras: tuple[str, ...] = ()) -> list[str]:
    """The library's runtime requirements plus those of ``extras``, as installed metadata declares them."""
    found = metadata.requires(LIBRARY) or []
    chosen = []
    for requirement in found:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extra is None:
            chosen.append(requirement.strip())
        elif extra.group(1) in extras:
            chosen.append(spec.strip())
    return chosen


def runtime_extras(func_yaml: str) -> tuple[str, ...]:
    """The library extras a function needs at run time, from its func.yaml (see the module doc)."""
    import yaml

    document = yaml.safe_load(func_yaml) or {}
    envs = {str(e.get("name")) for e in (document.get("run") or {}).get("envs") or [] if isinstance(e, dict)}
    extras = ["otlp"]
    if "CODEX_ARGO_SUBMITTER" in envs:
        extras.append("kubernetes")
    return tuple(extras)


def _toml_list(items: list[str]) -> str:
    """A TOML array of strings; a JSON string is a valid TOML basic string (a requirement's marker
    holds double quotes: ``uvloop>=0.21; sys_platform != "win32"``)."""
    return "[\n" + "".join(f"  {json.dumps(item)},\n" for item in items) + "]"


def bundle_pyproject(source: str, extras: tuple[str, ...] = ()) -> str:
    """The function's pyproject with the library (and the requirements of ``extras``) vendored instead of required."""
    data = tomllib.loads(source)
    project = data.get("project", {})
    deps = [d for d in project.get("dependencies", []) if not re.match(rf"^{LIBRARY}\b", d.strip())]
    deps.extend(r for r in library_requirements(extras) if r not in deps)
    name = project.get("name", "function")
    version = project.get("version", "0.1.0")
    description = project.get("description", "")
    python = project.get("requires-python", ">=3.11")
    return (
        "# Written by `codex-pipeline bundle`: the function package with the codex_pipeline\n"
        "# library vendored beside it (func builds only this folder).\n"
        "[build-system]\n"
        'requires = ["setuptools>=69", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        f'description = "{description}"\n'
        f'requires-python = "{python}"\n'
        f"dependencies = {_toml_list(deps)}\n\n"
        "[tool.setuptools.packages.find]\n"
        'include = ["function", "function.*", "codex_pipeline", "codex_pipeline.*"]\n\n'
        "[tool.setuptools.package-data]\n"
        'codex_pipeline = ["py.typed", "pb/*.pyi", "**/*.sql", "**/*.json", "**/*.yaml"]\n'
    )


def bundle(root: Path, name: str, out: Path) -> Path:
    """Write ``out/NAME`` from ``root/functions/NAME``; returns the bundle folder."""
    source = root / "functions" / name
    for required in ("func.yaml", "pyproject.toml", "function/__init__.py"):
        if not (source / required).is_file():
            raise FileNotFoundError(f"{source / required} is missing; a func function needs it")
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / "func.yaml", target / "func.yaml")
    shutil.copytree(source / "function", target / "function", ignore=_IGNORE)
    shutil.copytree(Path(codex_pipeline.__file__).parent, target / "codex_pipeline", ignore=_deployed_only)
    extras = runtime_extras((source / "func.yaml").read_text())
    (target / "pyproject.toml").write_text(bundle_pyproject((source / "pyproject.toml").read_text(), extras))
    (target / ".funcignore").write_text("__pycache__/\n*.pyc\n")
    return target


def function_names(root: Path) -> list[str]:
    """Folders that are complete func functions (func.yaml and the ``function`` package)."""
    return sorted(
        p.parent.name
        for p in (root / "functions").glob("*/func.yaml")
        if (p.parent / "function" / "__init__.py").is_file()
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    out: Path = (args.out or root / "build" / "func").resolve()
    names = args.names or function_names(root)
    if not names:
        print(f"no functions/*/func.yaml under {root}", file=sys.stderr)
        return 2
    for name in names:
        try:
            target = bundle(root, name, out)
        except FileNotFoundError as exc:
            print(f"bundle {name}: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {target}  (deploy: func deploy --path {target})")
    return 0
