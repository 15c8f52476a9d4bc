"""Retriever Studio core: plain Python, SQLite and numpy. Never imports Qt."""

__version__ = "0.1.0"
