"""Reading a request body with a cap, as it arrives, in both runtimes.

A hostile client can declare a huge ``Content-Length`` and send nothing (it is answered 413 at
once, from the declared length, without waiting for a byte), or stream an endless chunked body
(it is read in pieces and refused as soon as the cap is passed, so memory never grows past the
cap). The cap is the app's ``max_body``: ``CODEX_WEBHOOK_MAX_BYTES`` for ingest-webhook,
:data:`codex_pipeline.shell.app.DEFAULT_MAX_BODY` for the functions a broker calls.
"""

from __future__ import annotations

from collections.abc import Callable

from codex_pipeline.errors import PayloadTooLarge

PIECE = 64 * 1024


def refuse_declared(declared: str | None, limit: int) -> None:
    """413 when the declared length alone is over ``limit``."""
    value = (declared or "").strip()
    if value.isdigit() and int(value) > limit:
        raise PayloadTooLarge(f"request body of {int(value)} bytes is larger than {limit} bytes")


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {limit} bytes")


def read_capped(read: Callable[[int], bytes], limit: int) -> bytes:
    """Everything ``read`` yields until it returns b'', or 413 once more than ``limit`` arrived."""
    pieces: list[bytes] = []
    size = 0
    while True:
        piece = read(PIECE)
        if not piece:
            return b"".join(pieces)
        size += len(piece)
        if size > limit:
            raise too_large(limit)
        pieces.append(piece)
