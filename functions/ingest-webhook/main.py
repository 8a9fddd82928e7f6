"""functions-framework entry for ingest-webhook (``--target handle``)."""

from codex_pipeline.functions.ingest_webhook import create_app
from codex_pipeline.runtime.functions_framework import entry

handle = entry(create_app)
