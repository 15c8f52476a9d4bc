"""Moved to :mod:`core.retrieval.highlight` (plain Python belongs in the core).

Only re-exports what ``gui/review_panel.py`` still imports from here; delete
this module once it imports ``core.retrieval.highlight``.
"""

from core.retrieval.highlight import highlight_html, query_terms

__all__ = ["highlight_html", "query_terms"]
