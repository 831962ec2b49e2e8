"""Faces: what users call. The guide's sync tools (``tools.py``), their awaitable twins
(``aio.py``) and the agent tools with the MCP server (``agents/``).

Each face binds rows of the operation table (:mod:`roleredis.table.rows`); none holds operation
logic. A new face goes here. Faces may import everything below them (table, core, runtime,
transport, foundation), never ``roleredis.cli``, ``roleredis.bench`` or ``roleredis.demo``.
``roleredis.tools`` and ``roleredis.aio`` are the public paths of ``tools.py`` and ``aio.py``
(aliases in ``sys.modules``, set by ``roleredis/__init__.py``).
"""
