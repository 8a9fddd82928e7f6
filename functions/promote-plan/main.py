"""functions-framework entry for promote-plan (``--target handle``)."""

from codex_pipeline.functions.promote_plan import create_app
from codex_pipeline.runtime.functions_framework import entry

handle = entry(create_app)
