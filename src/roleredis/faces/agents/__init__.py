"""The agent tools: one definition of the tools a model may call and the MCP server that serves
them. ``schemas.py``: the ``AGENT_TOOLS`` rows and the definitions for function calling
(``tool_schemas``); ``validation.py``: the small JSON Schema subset a model's arguments are
checked with; ``calls.py``: ``call_tool`` / ``acall_tool``, which check and run a call;
``mcp_server.py``: the same tools over MCP.

May import the table and everything below it; never ``roleredis.faces.aio`` (aio imports these).
"""
