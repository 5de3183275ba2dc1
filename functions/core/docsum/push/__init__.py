"""Completion push: EventBridge events, webhook messages, their signed delivery and the
callback URL policy."""
