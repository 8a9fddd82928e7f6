"""``codex-pipeline reconcile`` inside ``codex-pipeline dev``, against the GitHub stand-in.

When dev serves its GitHub stand-in, the stand-in gets a webhook pointing at the local
ingest-webhook (signed with dev's webhook secret), ``replay`` sends through it, and this thread
runs the same :func:`codex_pipeline.effects.reconcile.reconcile` the CronJob runs, every ``every``
seconds, on dev's store: a delivery ingest refused while a sink was down (503) is redelivered,
as in the cluster. Each run that finds something prints its summary in dev's view.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from codex_pipeline.dev.view import View

if TYPE_CHECKING:
    from codex_pipeline.dev.github_standin import FakeGitHub
    from codex_pipeline.dev.hook_deliveries import FakeHook

HOOK_ID = 470_000_001  # the stand-in's webhook id (any number: GitHub's are ~9 digits)


class Reconciler:
    def __init__(
        self, github: FakeGitHub, hook: FakeHook, token: str, database_url: str, view: View, every: float
    ) -> None:
        self.github = github
        self.hook = hook
        self.token = token
        self.database_url = database_url
        self.view = view
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dev-reconcile", daemon=True)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> str:
        """One reconcile pass; its summary."""
        from codex_pipeline.effects.github import GitHubClient, TokenAuth
        from codex_pipeline.effects.github.deliveries import Hook
        from codex_pipeline.effects.reconcile import reconcile
        from codex_pipeline.effects.store import open_store

        store = open_store(self.database_url)
        client = GitHubClient(TokenAuth(self.token), self.github.url)
        try:
            store.migrate()
            summary = reconcile(client, store, Hook(self.hook.repository, self.hook.id))
        finally:
            client.close()
            store.close()
        return summary.text() if summary.failed or summary.stopped else ""

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                text = self.run_once()
            except Exception as error:  # a dev helper must not take dev down; say why and go on
                text = f"reconcile failed: {type(error).__name__}: {error}"
            if text:
                self.view.note(text)


def start(
    github: FakeGitHub,
    repository: str,
    webhook_url: str,
    secret: str,
    token: str,
    database_url: str,
    view: View,
    every: float,
) -> Reconciler:
    """Add the webhook to the stand-in and start reconciling it every ``every`` seconds (0: never)."""
    hook = github.add_hook(repository, webhook_url, secret, hook_id=HOOK_ID)
    reconciler = Reconciler(github, hook, token, database_url, view, every)
    return reconciler.start() if every > 0 else reconciler
