"""``repo_agent``: ask CodeAgent a question about a git repository (DESIGN §17).

CodeAgent reads the repository through mcp-server-git's tools (``git/git_log``,
``git/git_status``, ...) called through the governed tool plane (``ctx.tools``), and answers.

Run it in this process (the model of ``ORCH_LLM__*``; the servers of this folder's mcp.yaml)::

    orchestrator agent "What changed recently in this repository?" --repo . --stream
    orchestrator agent "What changed recently in this repository?" --repo . --model fake

or on the stack, as a task under the user's tags, audited and durable (the worker needs the git
server in ``ORCH_MCP__SERVERS``)::

    orchestrator agent "What changed recently in this repository?" --repo . --url $ORCH_GATEWAY__URL --stream

``--model fake`` replays the recorded model of ``fakellm.yaml`` from a local fakellm server
(no API key, no network): the tool calls are real, the model's words are a recording.
"""
