"""The HTTP shell: what turns a handler into a running function.

``app`` (FunctionApp: routes, error answers, readiness), the two runtime adapters
(``functions_framework``, ``asgi``, with ``body`` and ``runtime``), settings (``config``),
logs, telemetry and the outcome a handler hands back for emitting. Kept light: the function
modules import it at start, so nothing heavy loads here until first use.
"""
