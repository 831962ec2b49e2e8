"""Foundation: what every layer may use. Errors (``errors.py``), key rules (``keys.py``), the
TTL policy (``ttl.py``), the batch types every runner reads (``batch.py``), redis-py's private
attributes behind one function each (``internals.py``), settings (``settings.py``,
``checks.py``, ``urls.py``, ``sharing.py``) and loading them (``config.py``), the reset and
fork hooks (``lifecycle.py``).

Imports nothing else of roleredis. ``roleredis.settings`` is the public path of
``settings.py`` (an alias in ``sys.modules``).
"""
