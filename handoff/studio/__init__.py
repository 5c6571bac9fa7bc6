"""The studio: content editors improve the assistant from real conversations (docs/studio.md)."""
