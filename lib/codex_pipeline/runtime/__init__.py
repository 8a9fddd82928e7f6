"""Adapters from each serving runtime to the neutral :class:`codex_pipeline.app.FunctionApp`.

``functions_framework`` (Flask, cloudevents 1.x) serves ``functions/<name>/main.py``;
``asgi`` (func-python + hypercorn, cloudevents 2.x) serves ``functions/<name>/function``.
Both must stay a few lines: behaviour lives in the app, so both runtimes answer alike.
"""
