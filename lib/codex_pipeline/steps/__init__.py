"""The programs that run inside the Argo workflows: ``codex-pipeline step plan|implement|review``.

Each step is small glue over four edges: the Codex CLI (:mod:`.codex`), git (:mod:`.git`), the
GitHub client (:mod:`codex_pipeline.effects.github`) and, optionally, Discord (:mod:`.discord`). The
steps run in the Codex container, so nothing here imports kubernetes or a web framework.
"""
