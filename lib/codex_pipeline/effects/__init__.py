"""Effects: everything that changes or asks the world outside the process.

Emitting CloudEvents (``emit``, ``async_emit``), submitting Argo Workflows (``argo``,
``submission``), the idempotency store (``store``), the GitHub client (``github``), OIDC
token checks and webhook reconciliation. Effects may use ``core`` and ``wire``; the import
contracts forbid them ``handlers`` (a handler composes effects, never the other way round).
"""
