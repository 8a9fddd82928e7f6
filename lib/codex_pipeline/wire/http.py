"""Framework-neutral requests and responses.

Every function's logic is a plain ``handle(Request) -> Response`` so that the same code
runs under functions-framework (Flask) and func-python (ASGI); see ``runtime/``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, ItemsView, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar, overload

from codex_pipeline.errors import BadRequest

_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (first value wins for repeated names)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        store: dict[str, str] = {}
        for key, value in pairs:
            store.setdefault(key.lower(), value)
        self._items = store

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from an ASGI scope's byte pairs (latin-1, as HTTP/1.1 carries them)."""
        headers = cls.__new__(cls)
        store: dict[str, str] = {}
        for key, value in raw:
            store.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        headers._items = store
        return headers

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: object = None) -> object:  # Mapping.get goes through a KeyError
        return self._items.get(key.lower(), default)

    def items(self) -> ItemsView[str, str]:  # Mapping.items looks every key up again
        return self._items.items()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Headers
    body: bytes
    query: str = ""

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # What a 2xx meant, for the delivery metric (codex_pipeline.shell.metrics): None is "accepted",
    # else "ignored" (with a one-word ``reason``) or "duplicate". Never sent on the wire.
    outcome: str | None = None
    reason: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def noted(self, outcome: str, reason: str | None = None) -> Response:
        """This response, noted as ``outcome`` (and ``reason``) for the delivery metric."""
        self.outcome = outcome
        self.reason = reason
        return self


class Handler(Protocol):
    def __call__(self, request: Request) -> Response: ...


# What json.loads raises for input that can never parse: malformed text and bad UTF-8
# (ValueError), nesting deeper than the interpreter's recursion limit (RecursionError), and
# integers longer than Python's int/str conversion limit of 4300 digits (ValueError). All of
# them are the sender's fault, so every caller answers 400, never a retried 5xx.
UNPARSABLE_JSON = (ValueError, RecursionError)


class _Msgspec(NamedTuple):
    read: Callable[[bytes | str], Any]
    write: Callable[[Any], bytes]
    refused: tuple[type[Exception], ...]


@functools.cache
def _msgspec() -> _Msgspec:
    """msgspec's JSON reader and writer, imported on first use: the import is about 4 ms, which a
    function's cold start (time to its first health answer) need not pay."""
    import msgspec

    return _Msgspec(msgspec.json.Decoder().decode, msgspec.json.Encoder().encode, (msgspec.DecodeError, RecursionError))


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON: the bytes ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False).encode()`` gives, written by msgspec at a sixth of the cost (route-task
    writes every task this way; tests/test_tasks_codec.py holds the two equal)."""
    return _msgspec().write(value)


def parse_json(raw: bytes | str, what: str) -> Any:
    """``raw`` parsed as JSON; 400 naming ``what`` for anything that can never parse.

    msgspec reads what it can (every delivery GitHub sends) at less than half of json's cost;
    the few texts it refuses and json reads (lone surrogate escapes, NaN and infinities, a BOM,
    UTF-16) go to json, whose verdict then stands: what is accepted and what is refused, and the
    values read, are json's as before (tests/test_json_reading.py).
    """
    fast = _msgspec()
    try:
        return fast.read(raw)
    except fast.refused:
        pass
    try:
        return json.loads(raw)
    except UNPARSABLE_JSON as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadRequest(f"{what} is not valid JSON: {reason}") from None


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; 400 naming ``what`` otherwise (input that can never succeed)."""
    parsed = parse_json(raw, what)
    if not isinstance(parsed, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return parsed


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return Response(status, body, {"content-type": "application/json", **(headers or {})})


def empty_response(status: int = 204) -> Response:
    """An empty answer: what a broker expects for a handled event that needs no reply."""
    return Response(status, b"", {})
