"""`make run` with the GitHub stand-in: `replay` goes through the stand-in's webhook, the stand-in
logs what ingest-webhook answered, and dev's periodic `reconcile` redelivers what was refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from codex_pipeline.dev import standin
from codex_pipeline.dev.reconciler import HOOK_ID
from tests.devrun import ROOT, DevProcess

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dev")]
NO_GITHUB = {
    name: ""
    for name in ("CODEX_GITHUB_TOKEN", "CODEX_GITHUB_TOKEN_FILE", "CODEX_GITHUB_APP_ID", "CODEX_GITHUB_API_URL")
}


def deliveries(dev: DevProcess) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{dev.info['github']}/repos/acme/widgets/hooks/{HOOK_ID}/deliveries",
        timeout=5,
        headers={"Authorization": f"Bearer {standin.TOKEN}"},
    )
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()
    return items


def test_replay_goes_through_the_stand_ins_webhook_and_refused_deliveries_are_redelivered(tmp_path: Path):
    dev = DevProcess(
        tmp_path / "state",
        env=NO_GITHUB,
        args=["--only", "ingest-webhook", "--only", "route-task", "--reconcile-every", "1"],
    )
    try:
        assert dev.info["github_hook"] == HOOK_ID and "`reconcile` redelivers what ingest refused" in dev.text()
        example = ROOT / "examples" / "issues.opened.json"
        good = dev.replay(example, "--delivery", "11111111-aaaa-4bbb-8ccc-000000000019")
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stdout.startswith("202 issues delivery=11111111-aaaa-4bbb-8ccc-000000000019")
        assert f"sent by the GitHub stand-in's hook {HOOK_ID}" in good.stdout
        (item,) = deliveries(dev)
        assert (item["guid"], item["status_code"], item["redelivery"]) == (
            "11111111-aaaa-4bbb-8ccc-000000000019",
            202,
            False,
        )

        # A body ingest refuses (400: never succeeds): redelivered up to the per-event limit, then let go.
        refused = tmp_path / "issues.refused.json"
        refused.write_text(json.dumps(["not", "an", "object"]))
        bad = dev.replay(refused, "--delivery", "22222222-aaaa-4bbb-8ccc-000000000019")
        assert bad.returncode == 1 and bad.stdout.startswith("400 issues")
        dev.wait_for(lambda: "gave up after 3 redeliveries" in dev.text(), timeout=60, what="reconcile giving up")
        attempts = [d for d in deliveries(dev) if d["guid"] == "22222222-aaaa-4bbb-8ccc-000000000019"]
        assert [d["redelivery"] for d in attempts] == [True, True, True, False]
        assert {d["status_code"] for d in attempts} == {400}
        assert "redelivered  1" in dev.text()
        assert len([d for d in deliveries(dev) if d["guid"].startswith("1111")]) == 1  # a 202 is never redelivered
    finally:
        assert dev.interrupt() == 0
