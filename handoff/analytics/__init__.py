"""Conversation facts for the dashboard: contacts built from the hub's analytics events
(docs/analytics.md)."""
