"""Core: typed operations that do no I/O of their own. The stores (``store.py``), the I/O-free
operation generators per family (``ops/`` keys and values, ``mail/``, ``events.py``,
``index.py``), the results the tools return (``results.py``), values to bytes (``codec.py``,
``crypto.py``).

A new operation is a generator here. May import ``roleredis.runtime``, transport and
foundation; never the table or a face.
"""
