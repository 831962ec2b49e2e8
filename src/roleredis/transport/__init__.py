"""Transport: how a batch reaches Redis. The runners (``executor.py`` sync, ``aexecutor.py``
async, ``writer/`` the fire-and-forget writer) over one retry policy (``retry.py``) and
one breaker (``breaker.py``); connections (``connection.py``, the only place clients are
built), cluster routing (``cluster.py``), the stand-in path (``standin.py``), the fair pool
queue (``fairqueue.py``).

A new transport goes here. May import only foundation: never core, ``roleredis.runtime`` or
anything above them.
"""
