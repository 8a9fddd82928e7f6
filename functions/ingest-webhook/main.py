"""functions-framework entry for ingest-webhook (``--target handle``)."""

from codex_pipeline.handlers.ingest_webhook import create_app
from codex_pipeline.shell.functions_framework import entry

handle = entry(create_app)
