"""Knowledge-base index: articles from data/kb, embedded and indexed with FAISS, versioned, searched.

Build with `python -m kb_index build`; search from the action server with `kb_index.service.KnowledgeBase`.
Importing this package loads no model and no index.
"""
