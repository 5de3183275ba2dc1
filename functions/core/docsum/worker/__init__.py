"""The summarize worker: one SQS delivery of a summarize request, start to stored summary."""
