"""The decision core: what to do with a delivery, decided without I/O.

Routing, trust policy, comment commands, the review decision, names and the fencing of
untrusted text are pure functions over values: no network, no store, no clock they do not
receive. That is what makes them testable by property and cheap to import. The import
contracts in ``pyproject.toml`` keep it so: nothing here imports ``effects``, ``handlers``,
``discord``, ``shell`` or an HTTP library.
"""
