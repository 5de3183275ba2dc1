"""The embedded local stack and the harness that the bench and the tests share.

``python -m infra.local`` (``make up``) runs the stack; the modules, by concern:
processes (start, wait, stop children), environment (a function's local environment),
lambda_context (what Lambda passes as ``context``), metrics (EMF lines -> Prometheus),
supervisor (the parts, restarted when they crash), llm (the LLM host step), poller (the SQS
event source mapping), scheduler (an EventBridge schedule), state (documents kept across
restarts), stack (the whole run) and harness (single parts for the bench and the tests).
"""
