"""Round-trip CloudEvents through codex_pipeline.wire.events and print the result as JSON.

Run by tests/test_func_build.py under both cloudevents majors (1.12 in the dev venv,
2.x in the func venv): the printed results must be identical.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from codex_pipeline.wire import events
from codex_pipeline.wire.http import Headers, Request


def _event_dict(event: events.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
        "data": base64.b64encode(event.data).decode(),
        "extensions": dict(sorted(event.extensions.items())),
    }


def main() -> int:
    import cloudevents

    out: dict[str, Any] = {}
    original = events.Event(
        id="d-1",
        source="https://github.com/o/r",
        type="com.github.issues.opened",
        subject="3",
        datacontenttype="application/json",
        data=b'{"a": 1}',
        extensions={"partitionkey": "o/r#3", "githubevent": "issues"},
    )
    headers, body = events.encode_binary(original)
    out["has_time"] = bool(headers.pop("ce-time", None))  # a fresh timestamp: present, value varies
    out["binary_headers"] = dict(sorted(headers.items()))
    decoded = events.decode_request(Request("POST", "/", Headers(headers), body))
    out["binary"] = _event_dict(decoded)
    structured = {
        "specversion": "1.0",
        "id": "s-1",
        "source": "urn:x",
        "type": "codex.task.planning",
        "datacontenttype": "application/json",
        "data": {"k": [1, 2]},
    }
    request = Request(
        "POST", "/", Headers({"content-type": "application/cloudevents+json"}), json.dumps(structured).encode()
    )
    out["structured"] = _event_dict(events.decode_request(request))
    try:
        events.decode_request(Request("POST", "/", Headers({"content-type": "application/json"}), b"{}"))
        out["not_an_event"] = "accepted"
    except Exception as error:  # the error class and message are the contract
        out["not_an_event"] = f"{type(error).__name__}: {error}"
    json.dump({"cloudevents": getattr(cloudevents, "__version__", "?"), "result": out}, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
