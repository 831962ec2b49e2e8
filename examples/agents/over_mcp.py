"""Two roles, each served over MCP, exchanging a message and a request: the agents' side.

    python examples/agents/over_mcp.py        (or: roleredis demo --mcp)

roles/planner/agent.py and roles/worker/agent.py are scripted stand-ins for two models: each
turn is the tool calls a model would make, sent with the MCP SDK's client to the role's own
server (`python -m roleredis mcp --role planner`, as an MCP client's configuration starts
it). The planner mails a task to the worker, which receives it, records the result, mails
it back and acknowledges the task; the planner receives the answer and acknowledges it.
Then the planner asks the worker a question (redis_request, which waits for the answer) while
the worker's model receives it and answers it (redis_reply): the planner's result holds the
answer and "from": "worker", as the server vouches.
Runs on a throwaway redis-server; needs `pip install "roleredis[mcp]"`.
"""

from __future__ import annotations

import sys

from roles.planner import agent as planner
from roles.worker import agent as worker

from roleredis.demo.over_mcp import main

if __name__ == "__main__":
    sys.exit(main(planner, worker))
