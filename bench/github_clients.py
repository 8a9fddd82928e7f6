"""Our GitHub client beside the kept ones made for GitHub (githubkit, PyGithub, gidgethub).

Three measures decide which one the effect functions use (issue 23):

1. Import cost: fresh interpreter importing the client (and, for githubkit, the generated
   models a pull request is parsed into), median (min) of N processes, interleaved.
2. Cold start of an effect function (request-review under functions-framework) with the client
   imported at module level, against the bare functions-framework function: the budget is 1.5x.
3. One delivery's GitHub calls against the stand-in (get the PR, its check runs, its combined
   status, its comments, post a comment): the first delivery in a fresh process (lazy imports,
   connection, model loading included) and the steady-state median of 30.
4. Rate limits as GitHub documents them: what each client does, with its retries off, on a
   secondary limit without retry-after (403 and 429), a secondary limit with retry-after: 120
   and a primary limit (x-ratelimit-remaining: 0, reset in 120 s).

    .venv/bin/pip install -e '.[bench]'   # PyGithub, gidgethub (githubkit is in [test])
    .venv/bin/python bench/github_clients.py --runs 7 --append
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

REPO = "acme/widgets"
SHA = "c" * 40
PULL = 7

CLIENTS = ("ours", "githubkit", "pygithub", "gidgethub")
IMPORTS = {
    "bare interpreter": "pass",
    "ours": "import codex_pipeline.effects.github",
    "githubkit": "from githubkit import GitHub\nfrom githubkit_schemas.v2022_11_28.models import PullRequest",
    "pygithub": "import github",
    "gidgethub": "import httpx\nimport gidgethub.httpx",
}
VERSIONS = {"githubkit": "githubkit", "pygithub": "PyGithub", "gidgethub": "gidgethub"}


# ---------------------------------------------------------------- one delivery, per client (worker side)


def delivery_ours(url: str) -> Any:
    from codex_pipeline.effects.github import GitHubClient, TokenAuth

    client = GitHubClient(TokenAuth("test-token"), url, max_wait=0)

    def once() -> None:
        pull = client.get_pull(REPO, PULL)
        client.failing_checks(REPO, pull.head_sha)
        client.list_issue_comments(REPO, PULL)
        client.create_issue_comment(REPO, PULL, "bench")

    return once


def delivery_githubkit(url: str) -> Any:
    from githubkit import GitHub

    gh = GitHub("test-token", base_url=url + "/", auto_retry=False)
    gh.__enter__()  # one HTTP client for every call (without it githubkit opens a new one per request)
    owner, name = REPO.split("/")

    def once() -> None:
        pull = gh.rest.pulls.get(owner, name, PULL).parsed_data  # each answer parsed into its model
        parsed = [
            gh.rest.checks.list_for_ref(owner, name, pull.head.sha).parsed_data,
            gh.rest.repos.get_combined_status_for_ref(owner, name, pull.head.sha).parsed_data,
            gh.rest.issues.list_comments(owner, name, PULL).parsed_data,
            gh.rest.issues.create_comment(owner, name, PULL, body="bench").parsed_data,
        ]
        assert all(item is not None for item in parsed)

    return once


def delivery_pygithub(url: str) -> Any:
    from github import Auth, Github

    gh = Github(auth=Auth.Token("test-token"), base_url=url, retry=None, lazy=True)

    def once() -> None:
        repo = gh.get_repo(REPO)
        pull = repo.get_pull(PULL)
        commit = repo.get_commit(pull.head.sha)
        list(commit.get_check_runs())
        commit.get_combined_status().statuses  # noqa: B018
        issue = repo.get_issue(PULL)
        list(issue.get_comments())
        issue.create_comment("bench")

    return once


def delivery_gidgethub(url: str) -> Any:
    import asyncio

    import gidgethub.httpx
    import httpx

    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient()
    gh = gidgethub.httpx.GitHubAPI(client, "bench", oauth_token="test-token", base_url=url)

    async def run() -> None:
        pull = await gh.getitem(f"/repos/{REPO}/pulls/{PULL}")
        sha = pull["head"]["sha"]
        [run async for run in gh.getiter(f"/repos/{REPO}/commits/{sha}/check-runs", iterable_key="check_runs")]
        await gh.getitem(f"/repos/{REPO}/commits/{sha}/status")
        [c async for c in gh.getiter(f"/repos/{REPO}/issues/{PULL}/comments")]
        await gh.post(f"/repos/{REPO}/issues/{PULL}/comments", data={"body": "bench"})

    def once() -> None:
        loop.run_until_complete(run())

    return once


DELIVERIES = {
    "ours": delivery_ours,
    "githubkit": delivery_githubkit,
    "pygithub": delivery_pygithub,
    "gidgethub": delivery_gidgethub,
}


def worker_delivery(name: str, url: str, repeats: int) -> dict[str, float]:
    began = time.perf_counter()
    once = DELIVERIES[name](url)
    once()
    first = time.perf_counter() - began
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return {"first_ms": first * 1000, "median_ms": statistics.median(times) * 1000}


def worker_limit(name: str, url: str) -> str:
    """What the client does with one limited answer, its own retries off: the error it raises."""
    try:
        DELIVERIES[name](url)()
    except Exception as exc:  # the point is to see what each library raises
        retry_after = getattr(exc, "headers", {}) or {}
        if name == "ours":
            return f"{type(exc).__name__} ({getattr(exc, 'status', '?')}, Retry-After {retry_after.get('Retry-After')})"
        if name == "githubkit":
            wait = getattr(exc, "retry_after", None)
            return f"{type(exc).__name__}" + (f" (retry_after {wait.total_seconds():.0f} s)" if wait else "")
        return type(exc).__name__
    return "no error (answered)"


# ---------------------------------------------------------------- measures (parent side)


def import_ms(program: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], check=True)
    return (time.perf_counter() - began) * 1000


def measure_imports(runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for program in IMPORTS.values():  # warm .pyc files
        import_ms(program)
    for _ in range(runs):
        for name, program in IMPORTS.items():
            samples[name].append(import_ms(program))
    return samples


def effect_source(folder: Path, client: str) -> Path:
    """request-review's entry module, with the client imported at module level (as a kept client would be)."""
    header = "" if client == "ours" else IMPORTS[client] + "\n"
    if client == "ours":
        header = "import codex_pipeline.effects.github\n"
    program = header + (ROOT / "functions" / "request-review" / "main.py").read_text()
    return harness.bare_source(folder, program, name=f"review_{client}.py")


def measure_cold_starts(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    folder = harness.scratch()
    sources = {"bare functions-framework": harness.bare_source(folder)}
    sources.update({client: effect_source(folder, client) for client in CLIENTS})
    # request-review as it ships: the client loads on the first delivery, not at start-up
    sources["as shipped"] = harness.bare_source(
        folder, (ROOT / "functions" / "request-review" / "main.py").read_text(), name="review_as_shipped.py"
    )

    def first(port: int) -> int:
        harness.request_once(port, "GET", "/", b"", {})
        return 0  # any answer: the process is serving

    def starter(source: Path) -> Any:
        return lambda port: harness.functions_framework(source, port, env)

    for source in sources.values():  # warm .pyc files and the page cache
        harness.cold_start(starter(source), first, expect=0)
    samples: dict[str, list[float]] = {name: [] for name in sources}
    for _ in range(runs):
        for name, source in sources.items():
            seconds = harness.cold_start(starter(source), first, expect=0)
            samples[name].append(seconds * 1000)
    return samples


def run_worker(args: list[str]) -> str:
    done = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def seeded_standin() -> Any:
    from codex_pipeline.dev.github_standin import FakeGitHub

    server = FakeGitHub()
    server.__enter__()
    server.add_repo(REPO)
    server.add_pull(REPO, PULL, head_sha=SHA)
    for i in range(5):
        server.add_check_run(REPO, SHA, f"ci / job {i}")
    server.add_status(REPO, SHA, "legacy", "success")
    for i in range(10):
        server.add_comment(REPO, PULL, f"comment {i}")
    return server


LIMITS = [
    ("secondary, 403, no retry-after", 403, {}, "You have exceeded a secondary rate limit."),
    ("secondary, 429, no retry-after", 429, {}, "You have exceeded a secondary rate limit."),
    ("secondary, 403, retry-after: 120", 403, {"Retry-After": "120"}, "You have exceeded a secondary rate limit."),
    ("primary, 403, remaining 0, reset +120 s", 403, {"X-RateLimit-Remaining": "0"}, "API rate limit exceeded"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, name, url = args.worker[:3]
        if mode == "delivery":
            print(json.dumps(worker_delivery(name, url, args.repeats)))
        else:
            print(worker_limit(name, url))
        return 0

    from importlib.metadata import version

    versions = {name: version(dist) for name, dist in VERSIONS.items()}
    imports = measure_imports(args.runs)
    with harness.sink_process() as sink:
        env = {
            "K_SINK": sink,
            "CODEX_GITHUB_TOKEN": "bench",
            "CODEX_LOG_LEVEL": "WARNING",
            "CODEX_DATABASE_URL": f"sqlite:///{harness.scratch() / 'state.db'}",
        }
        colds = measure_cold_starts(args.runs, env)
    server = seeded_standin()
    try:
        deliveries = {
            name: json.loads(run_worker(["delivery", name, server.url, "--repeats", str(args.repeats)]))
            for name in CLIENTS
        }
        limits: dict[str, dict[str, str]] = {}
        for label, status, headers, message in LIMITS:
            for name in CLIENTS:
                fault_headers = dict(headers)
                if "X-RateLimit-Remaining" in fault_headers:
                    fault_headers["X-RateLimit-Reset"] = str(int(time.time()) + 120)
                server.fail_next(status, headers=fault_headers, message=message)
                limits.setdefault(label, {})[name] = run_worker(["limit", name, server.url])
    finally:
        server.__exit__(None, None, None)

    def cell(samples: list[float]) -> str:
        return f"{statistics.median(samples):.0f} ({min(samples):.0f})"

    bare = statistics.median(colds["bare functions-framework"])
    names = {
        "ours": "ours (requests)",
        "githubkit": f"githubkit {versions['githubkit']}",
        "pygithub": f"PyGithub {versions['pygithub']}",
        "gidgethub": f"gidgethub {versions['gidgethub']} + httpx",
    }
    lines = [
        "## GitHub client: ours vs githubkit, PyGithub, gidgethub (issue 23)",
        "",
        f"Machine: {harness.machine()}. Command: `.venv/bin/python bench/github_clients.py --runs {args.runs}"
        f"{' --append' if args.append else ''}` (after `pip install -e '.[bench]'`). Import and cold start: "
        f"median (min) of {args.runs} fresh processes, interleaved. Cold start: request-review under "
        "functions-framework with the client imported at module level, process start -> first answer. "
        "Delivery: get PR, check runs, combined status, comments, post a comment against the GitHub stand-in "
        f"(loopback); first = fresh process incl. lazy imports; steady = median of {args.repeats}.",
        "",
        "| client | import ms | effect cold start ms | vs bare (<= 1.5x) | first delivery ms | steady delivery ms |",
        "|---|---|---|---|---|---|",
        f"| bare interpreter / bare functions-framework | {cell(imports['bare interpreter'])} | "
        f"{cell(colds['bare functions-framework'])} | 1.00 | | |",
        f"| request-review as shipped (ours, loaded on the first delivery) | | {cell(colds['as shipped'])} | "
        f"{statistics.median(colds['as shipped']) / bare:.2f} | | |",
    ]
    for name in CLIENTS:
        ratio = statistics.median(colds[name]) / bare
        lines.append(
            f"| {names[name]} | {cell(imports[name])} | {cell(colds[name])} | {ratio:.2f} | "
            f"{deliveries[name]['first_ms']:.0f} | {deliveries[name]['median_ms']:.1f} |"
        )
    lines += [
        "",
        "Rate limits (each client's own retry off; what it raises on one limited answer):",
        "",
        "| answer | " + " | ".join(names[n] for n in CLIENTS) + " |",
        "|---|" + "---|" * len(CLIENTS),
    ]
    for limit_label, outcome in limits.items():
        lines.append(f"| {limit_label} | " + " | ".join(outcome[n] for n in CLIENTS) + " |")
    harness.publish("\n".join(lines) + "\n", append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
