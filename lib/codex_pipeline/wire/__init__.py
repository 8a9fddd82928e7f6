"""The wire: the formats the pipeline reads and writes, and nothing that sends them.

CloudEvents (``events``), the neutral HTTP request/response (``http``), the ``CodexTask``
codec (``tasks``, ``pb``), webhook signatures, GitHub's JSON shapes (``github``) and
dead-letter records. Every module here encodes or decodes; the import contracts forbid
``effects``, ``handlers`` and ``shell`` so a format never grows a side effect.
"""
