"""Cold start of each function under func-python (func deploy's runtime) beside functions-framework.

Cold start = process start until ``/health/liveness`` first answers 200. func-python runs from
the venv func's build produces (tests/funcbuild.py: bundle -> f/ + service wrapper);
functions-framework runs ``functions/<name>/main.py`` from the dev venv. Prints a Markdown
table (median and min of N fresh processes each); ``--append`` adds it to bench/RESULTS.md.

    .venv/bin/python bench/func_cold_start.py --runs 7 --append
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.func_runtimes import bare_func_build  # noqa: E402
from bench.harness import BARE_FUNCTION  # noqa: E402
from codex_pipeline.dev.processes import functions_framework_command  # noqa: E402
from tests import funcbuild  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fakes.httpserver import RecordingSink  # noqa: E402


def env_for(tmp: Path, sink: str) -> dict[str, str]:
    (tmp / "wf").mkdir(parents=True, exist_ok=True)
    return {
        "CODEX_WEBHOOK_SECRET": "bench",
        "K_SINK": sink,
        "CODEX_TASKS_SINK": sink,
        "CODEX_TASKS_JSON_SINK": sink,
        "CODEX_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
        "CODEX_ARGO_SUBMITTER": "dry-run",
        "CODEX_DRY_RUN_DIR": str(tmp / "wf"),
        "CODEX_GITHUB_TOKEN": "bench",
        "CODEX_LOG_LEVEL": "WARNING",
    }


def wait_live(process: subprocess.Popen[bytes], url: str, started: float) -> float:
    while time.monotonic() - started < 60:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            # 200 from our functions (and func-python itself); the bare functions-framework handler answers 202
            if requests.get(url + "/health/liveness", timeout=0.5).status_code in (200, 202):
                return time.monotonic() - started
        except requests.ConnectionError:
            time.sleep(0.005)
    raise RuntimeError("no answer in 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


def cold_ff(name: str, env: dict[str, str]) -> float:
    return cold_ff_source(ROOT / "functions" / name / "main.py", env)


def cold_func(python: Path, build: Path, env: dict[str, str]) -> float:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    started = time.monotonic()
    process = subprocess.Popen(
        [str(python), "-m", "service.main"],
        cwd=build,
        env={**clean, **env, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wait_live(process, f"http://127.0.0.1:{port}", started)
    finally:
        stop(process)


def cold_ff_source(source: Path, env: dict[str, str]) -> float:
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        functions_framework_command(source, port),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wait_live(process, f"http://127.0.0.1:{port}", started)
    finally:
        stop(process)


def bare_builds(build: Path, scratch: Path) -> tuple[Path, Path]:
    """A func-python build whose function is the bare ASGI one, and a bare functions-framework source."""
    bare = scratch / "bare-func"
    if not bare.exists():
        bare_func_build(build, bare)
    source = scratch / "bare_ff.py"
    source.write_text(BARE_FUNCTION)
    return bare, source


def paired_ratio(samples: list[float], bare: list[float]) -> float:
    """The median of each run's ratio to the bare start right before it.

    The machine's speed drifts between runs (a bare start read 113 to 140 ms as a median within one
    run); a ratio of two starts a moment apart cancels that drift, a ratio of two medians does not."""
    return statistics.median(mine / floor for mine, floor in zip(samples, bare, strict=True))


def mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def cell(samples: list[float]) -> str:
    return f"{statistics.median(samples):.0f} ({min(samples):.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    rows: list[tuple[str, list[float], list[float], list[float], list[float]]] = []
    # functions-framework imports the library from lib/: compile it as an image build would, since
    # with PYTHONDONTWRITEBYTECODE set (as on these machines) no start writes a .pyc, and each
    # would compile every changed module again (func's venvs are compiled by pip when installed)
    compileall.compile_dir(ROOT / "lib", quiet=1)
    with tempfile.TemporaryDirectory() as scratch, RecordingSink() as sink:
        for name in funcbuild.function_names():
            work = Path(scratch) / name
            build = funcbuild.build_root(name, work)
            env = env_for(work / "state", sink.url)
            with funcbuild.func_venv(name, build) as python:
                bare_func_build, bare_ff_source = bare_builds(build, work)
                cold_func(python, build, env)  # warm the page cache once
                cold_ff(name, env)
                cold_func(python, bare_func_build, {})
                cold_ff_source(bare_ff_source, {})
                func_times: list[float] = []
                ff_times: list[float] = []
                bare_func_times: list[float] = []
                bare_ff_times: list[float] = []
                for _ in range(args.runs):  # interleaved so machine noise hits all alike
                    bare_func_times.append(cold_func(python, bare_func_build, {}) * 1000)
                    func_times.append(cold_func(python, build, env) * 1000)
                    bare_ff_times.append(cold_ff_source(bare_ff_source, {}) * 1000)
                    ff_times.append(cold_ff(name, env) * 1000)
            rows.append((name, func_times, bare_func_times, ff_times, bare_ff_times))
    lines = [
        "## Cold start: each function beside a bare one, under func-python (func deploy) and functions-framework",
        "",
        f"Process start -> first 200 on /health/liveness; median (min) of {args.runs} fresh processes, "
        "interleaved with a bare function of the same runtime started from the same venv (func-python: an "
        'ASGI function answering 202; functions-framework: a handler answering 202); "vs bare" is the median of '
        "each run's ratio to the bare start just before it. Issue 14's target: "
        f"func-python <= 1.5x bare. Machine: {os.cpu_count()} cores, Python {platform.python_version()}, load "
        f"average {os.getloadavg()[0]:.1f} at the end. Command: `.venv/bin/python bench/func_cold_start.py --runs "
        f"{args.runs} --append`.",
        "",
        "| function | func-python ms | bare func-python ms | vs bare (<= 1.5x) | functions-framework ms "
        "| bare functions-framework ms | vs bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, func, bare_func, ff, bare_ff in rows:
        func_ratio = paired_ratio(func, bare_func)
        ff_ratio = paired_ratio(ff, bare_ff)
        lines.append(
            f"| {name} | {cell(func)} | {cell(bare_func)} | {func_ratio:.2f} ({mark(func_ratio <= 1.5)}) "
            f"| {cell(ff)} | {cell(bare_ff)} | {ff_ratio:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        results = ROOT / "bench" / "RESULTS.md"
        existing = results.read_text() if results.exists() else "# Benchmark results\n"
        results.write_text(existing.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
