"""``codex-pipeline dev``: the whole pipeline on one machine, routed by the manifests in eventing/."""
