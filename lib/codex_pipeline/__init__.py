"""codex-pipeline: GitHub issues to Codex runs on Argo Workflows, as Knative functions.

The package is deliberately import-light: function modules import only what their
handler needs, because Knative scales functions to zero and cold start is paid often.
"""

__version__ = "0.1.0"
