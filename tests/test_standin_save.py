"""The stand-in's snapshot is saved from the webhook thread and dev's main loop at once.

With one shared temporary name, one save renamed the other's file away, the other's rename then
failed with FileNotFoundError, and the exception ended the stand-in's webhook thread: every later
webhook (a PR turning ready) was never sent (seen as a timed-out dev-loop test).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from codex_pipeline.dev import standin
from tests.devrun import ROOT


def test_saves_from_many_threads_at_once_all_land_and_leave_no_temporary_files(tmp_path: Path) -> None:
    server = standin.start(ROOT / "examples" / "github-standin.yaml")
    path = tmp_path / "github-standin.json"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def save_often() -> None:
        start.wait()
        for _ in range(25):
            try:
                standin.save(server, path)
            except BaseException as error:
                errors.append(error)

    try:
        threads = [threading.Thread(target=save_often) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.__exit__(None, None, None)
    assert errors == []
    assert "issues" in json.loads(path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({path.name, standin.state_file(path).name})
