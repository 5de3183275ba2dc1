"""The summary: prompts, token budgets, chunking, the guarded model call, map-reduce, the
guard's checks and the shaping of the stored text."""
