"""Retriever Studio desktop app (Qt). Holds no retrieval or SQL logic: it calls core."""
