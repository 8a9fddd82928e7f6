"""CPU per POST of the asynchronous HTTP clients an emitting function could use (issue 14).

Each client posts the same 13 KB binary-mode CloudEvent to the same sink process (a separate
process answering 202, bench/harness.py) over one kept-alive connection, one POST at a time,
from one event loop. CPU is this process's own (user + system, so the socket writes count),
divided by the POSTs; wall is the mean round trip. Rounds are interleaved so that machine load
falls on every client alike.

    .venv/bin/python bench/sink_clients.py --append      # needs the bench extra (aiohttp, httpx)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from codex_pipeline.effects.sink_connections import SinkConnections  # noqa: E402
from codex_pipeline.wire.events import Event, encode_binary  # noqa: E402

Post = Callable[[], Awaitable[int]]
Client = Callable[[str, dict[str, str], bytes], Awaitable[tuple[Post, Callable[[], Awaitable[None]]]]]


async def ours(url: str, headers: dict[str, str], body: bytes) -> tuple[Post, Callable[[], Awaitable[None]]]:
    connections = SinkConnections(url)
    return (lambda: connections.post(headers, body)), connections.aclose


async def aiohttp_client(url: str, headers: dict[str, str], body: bytes) -> tuple[Post, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        skip_auto_headers=("User-Agent",),
    )

    async def post() -> int:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
            await answer.read()
            return answer.status

    return post, session.close


async def httpx_client(url: str, headers: dict[str, str], body: bytes) -> tuple[Post, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(trust_env=False)

    async def post() -> int:
        answer = await client.post(url, content=body, headers=headers)
        return answer.status_code

    return post, client.aclose


async def h11_streams(url: str, headers: dict[str, str], body: bytes) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """h11 (the sans-IO HTTP/1.1 state machine httpx builds on) over asyncio streams."""
    from urllib.parse import urlsplit

    import h11

    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    connection = h11.Connection(h11.CLIENT)
    fields = [("host", parts.netloc), *headers.items(), ("content-length", str(len(body)))]

    async def post() -> int:
        writer.write(
            connection.send(h11.Request(method="POST", target=parts.path or "/", headers=fields))
            + connection.send(h11.Data(data=body))
            + connection.send(h11.EndOfMessage())
        )
        status = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
        connection.start_next_cycle()
        return status

    async def close() -> None:
        writer.close()

    return post, close


CLIENTS: dict[str, Client] = {
    "ours (sink_connections, asyncio protocol)": ours,
    "aiohttp": aiohttp_client,
    "h11 over asyncio streams": h11_streams,
    "httpx": httpx_client,
}


async def one_round(client: Client, url: str, headers: dict[str, str], body: bytes, posts: int) -> tuple[float, float]:
    post, close = await client(url, headers, body)
    try:
        for _ in range(50):  # connection set up, first-use imports
            assert await post() == 202
        cpu = time.process_time()
        wall = time.perf_counter()
        for _ in range(posts):
            await post()
        return (time.process_time() - cpu) / posts * 1000, (time.perf_counter() - wall) / posts * 1000
    finally:
        await close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--append", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    event = Event(
        id="bench",
        source="https://github.com/acme/widgets",
        type="com.github.issues.opened",
        datacontenttype="application/json",
        data=b'{"x":"' + b"y" * 13_000 + b'"}',
    )
    headers, body = encode_binary(event)
    cpu: dict[str, list[float]] = {name: [] for name in CLIENTS}
    wall: dict[str, list[float]] = {name: [] for name in CLIENTS}
    with harness.sink_process() as sink:
        for _ in range(args.rounds):
            for name, client in CLIENTS.items():
                spent, took = asyncio.run(one_round(client, sink, headers, body, args.posts))
                cpu[name].append(spent)
                wall[name].append(took)
    ours_cpu = statistics.median(cpu[next(iter(CLIENTS))])
    lines = [
        "## Async HTTP clients for the emit path: CPU per 13 KB POST (issue 14)",
        "",
        f"One kept-alive connection to a local sink process, {args.posts} POSTs per round, median (min) of "
        f"{args.rounds} interleaved rounds; CPU is the posting process's user + system time. Machine: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at "
        f"the end. Command: `.venv/bin/python bench/sink_clients.py{' --append' if args.append else ''}`.",
        "",
        "| client | CPU per POST ms | vs ours | round trip ms |",
        "|---|---|---|---|",
    ]
    for name in CLIENTS:
        lines.append(
            f"| {name} | {statistics.median(cpu[name]):.3f} ({min(cpu[name]):.3f}) | "
            f"{statistics.median(cpu[name]) / ours_cpu:.1f}x | {statistics.median(wall[name]):.3f} |"
        )
    harness.publish("\n".join(lines) + "\n", append=args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
