"""One module per function: ``create_app(settings=None) -> FunctionApp``.

``functions/<name>/main.py`` and ``functions/<name>/function/__init__.py`` are thin
adapters over these; all behaviour (and all tests) live here.
"""
