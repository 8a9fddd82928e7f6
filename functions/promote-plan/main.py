"""functions-framework entry for promote-plan (``--target handle``)."""

from codex_pipeline.handlers.promote_plan import create_app
from codex_pipeline.shell.functions_framework import entry

handle = entry(create_app)
