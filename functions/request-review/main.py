"""functions-framework entry for request-review (``--target handle``)."""

from codex_pipeline.functions.request_review import create_app
from codex_pipeline.runtime.functions_framework import entry

handle = entry(create_app)
