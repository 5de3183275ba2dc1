"""The domain's data and rules that every use case shares: documents, summary options,
queue messages, ids, errors and paging."""
