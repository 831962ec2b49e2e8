"""The operation table: one row per public operation and the call wrappers every face uses.

- ``operation.py``: what a row is (``Operation``) and the types rows and wrappers share
- ``rows.py``: the rows, ``TABLE`` and ``commands()`` (every Redis command they send)
- ``health.py``: the health check row's parts beyond the probe (deployment, writer, breaker)
- ``queueing.py``: the fire-and-forget rows' run hooks, which queue on the process's writer
- ``calls.py``: the call wrappers ``call`` / ``call_async``, ``bind_async``, ``awaitable_twin``
- ``roles.py``: who is calling; ``metrics.py``: what each call cost

A new operation gets a row here (its logic lives in ``roleredis.core``). May import core,
runtime, transport and foundation; never a face.
"""
