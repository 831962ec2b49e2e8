"""The demo behind ``roleredis demo``: two roles, one Redis, no collisions.

``roles/weather/lifecycle.py`` and ``roles/timer/lifecycle.py`` are laid out as the guide
describes (the same files as in ``examples/agents/roles/``); :mod:`roleredis.demo.runner` runs
them, on the configured Redis or on one of its own. ``python -m roleredis.demo`` runs it too.
"""

from .runner import Backend, DemoFailed, backend, main, run

__all__ = ["Backend", "DemoFailed", "backend", "main", "run"]
