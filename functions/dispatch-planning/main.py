"""functions-framework entry for dispatch-planning (``--target handle``)."""

from codex_pipeline.functions.dispatch_planning import create_app
from codex_pipeline.runtime.functions_framework import entry

handle = entry(create_app)
