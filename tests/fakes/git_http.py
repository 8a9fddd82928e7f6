"""A git remote over smart HTTP that wants a token, as github.com does for a push.

Serves bare repositories under ``root`` through ``git http-backend`` (git's own CGI, the one
GitHub's protocol follows: git-scm.com/docs/http-backend), and only to a request whose
``Authorization`` is Basic ``x-access-token:<token>`` (what GitHub accepts for an installation or
personal token); anything else gets 401 with a ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.fakes.httpserver import Answer, FakeServer, Recorded


class GitHTTPRemote(FakeServer):
    def __init__(self, root: Path, token: str) -> None:
        super().__init__()
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.refused = 0

    def repo_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def answer(self, recorded: Recorded) -> Answer:
        if recorded.headers.get("authorization") != self.expected:
            self.refused += 1
            return 401, {"www-authenticate": 'Basic realm="GitHub"'}, b"Invalid username or token.\n"
        parts = urlsplit(recorded.path)
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "REQUEST_METHOD": recorded.method,
            "CONTENT_TYPE": recorded.headers.get("content-type", ""),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(recorded.body)),
            "HTTP_CONTENT_ENCODING": recorded.headers.get("content-encoding", ""),
            "GIT_PROTOCOL": recorded.headers.get("git-protocol", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=recorded.body, env=env, capture_output=True, check=False)
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        return status, headers, body
