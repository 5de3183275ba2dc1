"""docsum: the domain core shared by every function.

The folders follow the data path: `intake` (submission) → `extract` (a file's text) →
`summary` (the guarded model calls) run by the `worker` → `push` (events and webhooks), with
`recovery` (the sweeper) for what nobody will finish. Every use case works on `domain` values
and `ports`; `adapters` implement the ports (AWS, Ollama, HTTP) and only `wiring`, the
composition root, picks them. `platform` holds settings, observability, retries and lazy
clients.
"""
