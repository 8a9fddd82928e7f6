"""Drive a func-python entry (``function.new()``) the way an ASGI server does, in process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codex_pipeline.shell.asgi import AsgiFunction


@dataclass
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def call_asgi(
    function: AsgiFunction,
    headers: Mapping[str, str],
    body: bytes,
    *,
    path: str = "/",
    method: str = "POST",
    chunk_size: int | None = None,
) -> AsgiAnswer:
    """One request; the body arrives in ``chunk_size`` pieces when given (as a server streams it)."""
    size = chunk_size or max(1, len(body))
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        piece = chunks.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    }
    asyncio.run(function.handle(scope, receive, send))
    return AsgiAnswer(
        sent[0]["status"],
        {k.decode("latin-1"): v.decode("latin-1") for k, v in sent[0]["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )
