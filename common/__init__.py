"""The ground floor every runtime shares: language detection, entity patterns, the tokenizer's vocabulary,
formatting of money, dates and labels, and start-up checks.

Imported by the Rasa server (Python 3.10), the action server, the handoff service and the knowledge base
(Python 3.11), so it imports nothing of theirs and needs nothing beyond the standard library and redis-py
(docs/architecture.md, "Packages"; tests/unit/test_import_layers.py).
"""
