"""The README's commands work as written (a newcomer copies them verbatim)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from codex_pipeline import events
from codex_pipeline.http import Headers, Request
from tests.conftest import ROOT, start_function, stop_function
from tests.fakes.httpserver import RecordingSink


def readme_block(heading: str, index: int) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks: list[str] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return blocks[index]


@pytest.mark.xdist_group("ingest")
def test_curl_replay_from_the_readme_gets_a_202(tmp_path: Path) -> None:
    with RecordingSink() as sink:
        secret = "local-secret"
        running = start_function("ingest-webhook", {"CODEX_WEBHOOK_SECRET": secret, "K_SINK": sink.url}, tmp_path)
        try:
            script = readme_block("### Replay a delivery with curl", 1)
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                                    env={"PATH": "/usr/bin:/bin", "INGEST_URL": running.url,
                                         "CODEX_WEBHOOK_SECRET": secret}, timeout=30)
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith("HTTP/1.1 202"), result.stdout
            (received,) = sink.wait_for(1)
            event = events.decode_request(Request("POST", "/", Headers(received.headers), received.body))
            assert event.type == "com.github.issues.opened" and event.subject == "1"
        finally:
            stop_function(running)
