"""Cold start of each function under func-python (func deploy's runtime) beside functions-framework.

Cold start = process start until ``/health/liveness`` first answers 200. func-python runs from
the venv func's build produces (tests/funcbuild.py: bundle -> f/ + service wrapper);
functions-framework runs ``functions/<name>/main.py`` from the dev venv. Prints a Markdown
table (median and min of N fresh processes each); ``--append`` adds it to bench/RESULTS.md.

    .venv/bin/python bench/func_cold_start.py --runs 7 --append
"""

from __future__ import annotations

import argparse
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
            if requests.get(url + "/health/liveness", timeout=0.5).status_code == 200:
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
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(ROOT / "functions" / name / "main.py"),
            "--target",
            "handle",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wait_live(process, f"http://127.0.0.1:{port}", started)
    finally:
        stop(process)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch, RecordingSink() as sink:
        for name in funcbuild.function_names():
            work = Path(scratch) / name
            build = funcbuild.build_root(name, work)
            env = env_for(work / "state", sink.url)
            with funcbuild.func_venv(name, build) as python:
                cold_func(python, build, env)  # warm the page cache and .pyc files once
                cold_ff(name, env)
                func_times, ff_times = [], []
                for _ in range(args.runs):  # interleaved so machine noise hits both alike
                    func_times.append(cold_func(python, build, env) * 1000)
                    ff_times.append(cold_ff(name, env) * 1000)
            rows.append(
                (name, statistics.median(func_times), min(func_times), statistics.median(ff_times), min(ff_times))
            )
    lines = [
        "## Cold start: func-python (func deploy) vs functions-framework",
        "",
        f"Process start -> first 200 on /health/liveness; median (min) of {args.runs} fresh processes, "
        f"interleaved. Machine: {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Command: `.venv/bin/python bench/func_cold_start.py --runs "
        f"{args.runs} --append`.",
        "",
        "| function | func-python 0.8.1 (hypercorn) ms | functions-framework 3.10.2 ms | ratio |",
        "|---|---|---|---|",
    ]
    for name, fmed, fmin, gmed, gmin in rows:
        lines.append(f"| {name} | {fmed:.0f} ({fmin:.0f}) | {gmed:.0f} ({gmin:.0f}) | {fmed / gmed:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        results = ROOT / "bench" / "RESULTS.md"
        existing = results.read_text() if results.exists() else "# Benchmark results\n"
        results.write_text(existing.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
