"""Discord ``/plan``, as one package: the interactions endpoint, the plan request it accepts,
the planning effect it triggers and the REST calls it makes.

``plan_requests`` (the request shape, no I/O) is what the endpoint (``interactions``) and the
effect (``plan``) share; ``rest`` is the Discord REST client the effect and the workflow
steps call. Nothing else in the library reaches into Discord.
"""
