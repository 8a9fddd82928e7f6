"""functions-framework entry for route-task (``--target handle``)."""

from codex_pipeline.functions.route_task import create_app
from codex_pipeline.runtime.functions_framework import entry

handle = entry(create_app)
