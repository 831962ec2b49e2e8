"""The agent tools: one definition of the tools a model may call (``tools.py``: schemas for
function calling, ``call_tool``) and the MCP server that serves them (``mcp_server.py``).

May import the table and everything below it; never ``roleredis.faces.aio`` (aio imports these).
"""
