"""A fake OpenAI Responses API (``POST /v1/responses`` with ``stream: true``): the model Codex calls.

Answers as the real API streams (server-sent events ``response.created``,
``response.output_text.delta``, ``response.completed``; shapes as in the OpenAI API reference of the
Responses streaming events, 2025-2026), and only to the one key it was started with: anything else
gets the API's 401 ``invalid_api_key`` error body.
"""

from __future__ import annotations

import json

from tests.fakes.httpserver import Answer, FakeServer, Recorded


def _sse(kind: str, data: dict[str, object]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


class FakeModelAPI(FakeServer):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def answer(self, recorded: Recorded) -> Answer:
        if recorded.headers.get("authorization") != f"Bearer {self.api_key}":
            error = {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
            return 401, {"content-type": "application/json"}, json.dumps(error).encode()
        if recorded.method != "POST" or not recorded.path.endswith("/responses"):
            return 404, {"content-type": "application/json"}, b'{"error": {"message": "not found"}}'
        response = {"id": "resp_fake", "object": "response", "status": "in_progress", "model": "gpt-5.1-codex-max"}
        body = (
            _sse("response.created", {"response": response})
            + _sse(
                "response.output_text.delta",
                {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "hello from the model"},
            )
            + _sse("response.completed", {"response": {**response, "status": "completed"}})
        )
        return 200, {"content-type": "text/event-stream"}, body
