"""A loopback proxy that adds the model API key to Codex's requests, so Codex holds no credential.

Codex runs as another user beside the step (see :mod:`codex_pipeline.steps.agent`). Handing it the
model key (even through the one variable ``codex exec`` reads) would let a prompt-injected run read
and exfiltrate it. Instead the step serves this proxy on ``127.0.0.1`` and configures Codex with a
model provider whose ``base_url`` is the proxy and that has no ``env_key`` (openai/codex
``codex-rs/core/src/model_provider_info.rs``: such a provider sends no ``Authorization`` header and
needs no login). The proxy forwards every request under its base path to the configured upstream
(``CODEX_MODEL_API_URL``), replaces any ``Authorization`` header with the key, and streams the
answer back as it arrives (the Responses API answers with server-sent events).

The agent can still *use* the model through the proxy (it is its job), but it never sees the key;
the proxy forwards only to the one upstream, so it is no open relay.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from codex_pipeline.shell.config import Settings

DEFAULT_UPSTREAM = Settings.model_api_url  # CODEX_MODEL_API_URL's default, declared in the table
PROVIDER_ID = "codex-pipeline"
# Hop-by-hop headers (RFC 9110 section 7.6.1) and the ones the proxy sets itself.
_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "content-length",
    }
)


class ModelProxy:
    """``with ModelProxy(key, upstream) as proxy:`` serves ``proxy.base_url`` until the block ends."""

    def __init__(self, api_key: str, upstream: str = DEFAULT_UPSTREAM, *, timeout: float = 600.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"model API URL must be http(s)://host[/path], got {upstream!r}")
        self.api_key = api_key
        self.upstream = parts
        self.timeout = timeout
        self.prefix = parts.path.rstrip("/")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="model-proxy", daemon=True
        )

    @property
    def base_url(self) -> str:
        """What Codex is given as its provider's ``base_url`` (same path as the upstream's)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def codex_config(self) -> list[str]:
        """``-c`` overrides that point ``codex exec`` at this proxy through a provider without a key."""
        provider = f'{{ name = "codex-pipeline model proxy", base_url = "{self.base_url}", wire_api = "responses" }}'
        return ["-c", f"model_providers.{PROVIDER_ID}={provider}", "-c", f'model_provider="{PROVIDER_ID}"']

    def __enter__(self) -> ModelProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def connect(self) -> http.client.HTTPConnection:
        host, port = self.upstream.hostname or "", self.upstream.port
        if self.upstream.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)


def _handler_for(proxy: ModelProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # request lines would only repeat what the transcript shows

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def _forward(self) -> None:
            if not (
                self.path == proxy.prefix
                or self.path.startswith(proxy.prefix + "/")
                or self.path.startswith(proxy.prefix + "?")
            ):
                self._answer(404, b'{"error":"the model proxy forwards only the model API"}')
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _DROPPED}
            headers["Authorization"] = f"Bearer {proxy.api_key}"
            upstream = proxy.connect()
            sent = False
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _DROPPED:
                        self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = True
                while chunk := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError as exc:
                if not sent:
                    self._answer(502, b'{"error":"model API unreachable: %s"}' % type(exc).__name__.encode())
                self.close_connection = True
            finally:
                upstream.close()

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
