"""Adapters from each serving runtime to the neutral :class:`codex_pipeline.shell.app.FunctionApp`.

``functions_framework`` (Flask, cloudevents 1.x) serves ``functions/<name>/main.py``;
``asgi`` (func-python + hypercorn, cloudevents 2.x) serves ``functions/<name>/function``.
Both must stay a few lines: behaviour lives in the app, so both runtimes answer alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codex_pipeline.shell.app import FunctionApp


def build(create_app: Callable[[], FunctionApp]) -> FunctionApp:
    """``create_app()``, or one line on stderr and exit status 2 when a setting is wrong.

    A traceback of 40 lines whose last one names the setting helps nobody at start-up; the
    one line names the function, the setting, its value and the fix. Both runtimes build
    through here.
    """
    from codex_pipeline.errors import CONFIGURATION_EXIT, ConfigurationError

    try:
        return create_app()
    except ConfigurationError as error:
        name = create_app.__module__.rsplit(".", 1)[-1].replace("_", "-")
        print(f"{name}: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIGURATION_EXIT) from None
